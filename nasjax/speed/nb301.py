"""Speed records of NAS-Bench-301 in nasjax, for ``launch/benchmark.py`` (Cassimon et al. §4.2.2:
16.3 s per evaluation episode with the official surrogate, §6.1: "a significant barrier").

Each function returns one record dict ``{name, value, unit, baseline, baseline_value, ratio,
device, settings}``; every side is timed as the best of ``REPEATS`` runs after a warm-up run
(compilation). The ensemble timed is the embedded ``nb301-surrogate`` (a SURROGATE fitted on 725
architectures; its size is in ``settings``), much smaller than the official v1.0 ensemble of 10
members, so the settings also name the size class.
"""

from __future__ import annotations

import os

import jax
import ml_collections
import numpy as np

from nasjax.benchmarks import base, nb301_ensemble, nb301_features, nb301_surrogate
from nasjax.speed import trees as speed_trees
from nasjax.speed.timing import random_walk_rollout, record, timed

BATCH = 4096  # genotypes of the batched query
OFFICIAL_PATH_QUERIES = 256  # architectures timed one at a time through the official path
PAPER_SECONDS_PER_EPISODE = 16.3  # Cassimon et al. §4.2.2, with the official surrogate
PROTOCOL_EPISODES = 250_000  # per agent: 5 agent seeds x 5 sets x 10^4 initial states (§4.1.1)


def _genotypes(key: int, count: int):
    from nasjax import spaces

    return spaces.get("nb301").sample(jax.random.key(key), (count,))


def _python_genotype(genotype) -> list:
    """One genotype as plain lists: ``[cell][node] -> [(input, op), (input, op)]``."""
    pairs = np.stack([np.asarray(genotype.inputs), np.asarray(genotype.ops)], -1).tolist()
    return [[[tuple(pair) for pair in node] for node in cell] for cell in pairs]


def bench_nb301_query(quick: bool, data_dir) -> dict:
    """Batched jitted ensemble mean (genotypes -> features -> trees, one call for 4,096) vs

    (a) the official path as its API queries: one architecture at a time, each member's
        prediction on a 1-row input, then the member mean. The baseline is the faster of two
        calls of the installed XGBoost, one thread (a 1-row query): ``inplace_predict`` of the
        row; the official code's ``predict(DMatrix(row))`` is timed too (``settings``). The
        features are computed beforehand and not timed, which favours the reference (the
        official API also converts the genotype to a ConfigSpace configuration per query).
        Timed on ``OFFICIAL_PATH_QUERIES`` architectures, reported per query;
    (b) XGBoost's own batched ``inplace_predict`` per member on the same 4,096 feature rows
        (computed beforehand), all cores, then the member mean.

    The value is queries/s of nasjax; ``ratio`` is against (a), ``settings`` hold (b).
    """
    import xgboost

    bench = nb301_surrogate.load(data_dir, progress=False)
    batch = 256 if quick else BATCH
    genotypes = _genotypes(7, batch)
    query = jax.jit(lambda b, g: base.query(b, g).val_acc)
    ours = batch / timed(lambda: query(bench, genotypes))
    x = np.asarray(jax.jit(nb301_features.features)(genotypes))
    count = 32 if quick else OFFICIAL_PATH_QUERIES
    single = speed_trees.to_boosters(bench.ensemble, 1)

    def one_at_a_time(rows, with_dmatrix: bool):
        for row in rows:
            if with_dmatrix:
                np.mean([b.predict(xgboost.DMatrix(row[None], nthread=1)) for b in single])
            else:
                np.mean([b.inplace_predict(row[None]) for b in single])

    official = count / timed(lambda: one_at_a_time(x[:count], False))
    dmatrix_count = max(8, count // 8)  # 1-row DMatrix predictions are slower still
    dmatrix = dmatrix_count / timed(lambda: one_at_a_time(x[:dmatrix_count], True))
    threads = len(os.sched_getaffinity(0))
    boosters = speed_trees.to_boosters(bench.ensemble, threads)

    def batched():
        return np.mean([b.inplace_predict(x) for b in boosters], axis=0)

    inplace = batch / timed(batched)
    theirs = batched() / np.float32(nb301_ensemble.PERCENT)
    gap = np.abs(np.asarray(query(bench, genotypes)) - theirs).max()
    return record(
        "nb301_query", ours, "queries/s",
        "official path: one architecture at a time, each member's 1-row inplace_predict (one "
        "thread), then the mean (features precomputed, untimed: favours the reference)",
        official,
        {"batch": batch, "official_path_queries_timed": count,
         "official_path_dmatrix_predict_queries_per_s": dmatrix,
         "xgboost_threads": threads,
         "xgboost_inplace_predict_queries_per_s": inplace,
         "ratio_vs_inplace_predict": ours / inplace,
         "max_abs_difference_vs_xgboost": float(gap),
         "benchmark": bench.label, **nb301_ensemble.describe(bench.ensemble),
         "size_class": "official v1.0: 10 members; this surrogate is smaller (see members, "
                       "trees_per_member, max_depth)",
         "xgboost": xgboost.__version__})


def _env_params(bench, settings: ml_collections.ConfigDict, episode_length: int):
    from nasjax import env, spaces

    return env.make_params(spaces.get("nb301"), bench, max_neighbours=settings.max_neighbours,
                           alpha=settings.alpha, episode_length=episode_length,
                           query_mode=settings.query_mode)


def _python_cell_neighbours(cell: list) -> list:
    """The 60 one-edit neighbours of a cell ``[[(input, op), (input, op)] per node]`` in plain
    Python (the edits of :mod:`nasjax.spaces.nb301_neighbours`)."""
    from nasjax.spaces import nb301

    found = []
    for k, pairs in enumerate(cell):
        for p, (inp, op) in enumerate(pairs):
            other = pairs[1 - p][0]
            edits = [(inp, o) for o in range(nb301.NUM_OPS) if o != op]
            edits += [(i, op) for i in range(k + nb301.NUM_CELL_INPUTS) if i not in (inp, other)]
            for edit in edits:
                node = list(pairs)
                node[p] = edit
                found.append(cell[:k] + [node] + cell[k + 1:])
    return found


def _python_walk(start, steps: int, max_neighbours: int, features, boosters, rng) -> int:
    """``steps`` random-walk steps in plain Python: per step the two cells' neighbours, ``N``
    of the ~3,600 tuples drawn, one chosen and queried the official way (features, then each
    member's 1-row prediction, then the mean). Returns the steps taken."""
    from nasjax.spaces import nb301

    genotype = start
    for _ in range(steps):
        cells = [_python_cell_neighbours(cell) for cell in genotype]
        tuples = rng.choice(len(cells[0]) * len(cells[1]), max_neighbours, replace=False)
        index = tuples[rng.integers(len(tuples))]
        genotype = [cells[0][index // len(cells[1])], cells[1][index % len(cells[1])]]
        arrays = [np.asarray(cell) for cell in genotype]  # int[4, 2, 2] each
        x = features(nb301.Genotype(inputs=np.stack([a[..., 0] for a in arrays]).astype(np.int8),
                                    ops=np.stack([a[..., 1] for a in arrays]).astype(np.int8)))
        np.mean([b.inplace_predict(np.asarray(x)[None]) for b in boosters])
    return steps


def bench_nb301_env_steps(quick: bool, data_dir, settings: ml_collections.ConfigDict) -> dict:
    """Random-walk environment steps/s on ``nb301-surrogate`` (auto-reset, 16-step training
    episodes, N = 50 on-the-fly neighbours, every step one ensemble query per environment) for
    1 ... 4,096 environments, beside a plain-Python step (neighbours in Python, the official
    one-architecture query: nasjax's jitted features of one genotype, each member's 1-row
    ``inplace_predict``, the mean). ``settings``: the NAS-Bench-301 environment block
    (``nasjax.env.config``)."""
    bench = nb301_surrogate.load(data_dir, progress=False)
    params = _env_params(bench, settings, settings.train_episode_length)
    steps = 4 if quick else 16
    sizes = (1, 256) if quick else (1, 256, BATCH)
    sweep = {n: n * steps / timed(random_walk_rollout(params, n, steps), repeats=2)
             for n in sizes}
    features = jax.jit(nb301_features.features)
    boosters = speed_trees.to_boosters(bench.ensemble, 1)
    start = _python_genotype(_genotypes(3, 1)[0])
    python_steps = 16 if quick else 64
    rng = np.random.default_rng(0)
    baseline = python_steps / timed(lambda: _python_walk(
        start, python_steps, params.max_neighbours, features, boosters, rng))
    largest = sizes[-1]
    return record("nb301_env_steps", sweep[largest], "steps/s",
                   "plain-Python random-walk step (Python neighbours, official one-architecture "
                   "query), one environment", baseline,
                   {"num_envs": largest, "steps_per_rollout": steps, "policy": "random walk",
                    "auto_reset": True, "max_neighbours": params.max_neighbours,
                    "sweep": {str(n): rate for n, rate in sweep.items()},
                    "python_steps_timed": python_steps, "benchmark": bench.label})


def bench_nb301_eval(quick: bool, data_dir, settings: ml_collections.ConfigDict,
                     episodes_per_chunk: int) -> dict:
    """Time of the 250,000-episode protocol per agent (random search, random walk, local
    search; 32-step episodes, N = 50) on ``nb301-surrogate``, EXTRAPOLATED from one measured
    chunk of episodes per agent (after a warm-up chunk that compiles), against the paper's
    16.3 s per episode.

    Args:
      quick: a chunk of 64 episodes instead of ``episodes_per_chunk``.
      data_dir: the data directory (None: the default).
      settings: the NAS-Bench-301 environment block (``nasjax.env.config``).
      episodes_per_chunk: the protocol's chunk size (``configs/evaluate.py:nb301``): evaluation
        episodes refill their slots, so a chunk's cost per episode depends on its size.
    """
    from nasjax import registry
    from nasjax.evaluation import episodes

    bench = nb301_surrogate.load(data_dir, progress=False)
    params = _env_params(bench, settings, settings.eval_episode_length)
    chunk = 64 if quick else episodes_per_chunk
    initial = _genotypes(1000, chunk)
    seconds, steps, queries, slots = {}, {}, {}, {}
    for name in ("random_search", "random_walk", "local_search"):
        policy = registry.make("agent", name).make_policy(params, None, 0)
        run = lambda p=policy: episodes.run_episodes(p, params, initial, jax.random.key(0))  # noqa: E731
        measured = timed(run, repeats=1)
        out = run()
        seconds[name] = measured / chunk * PROTOCOL_EPISODES
        steps[name] = float(np.asarray(out.steps).mean())
        queries[name] = float(np.asarray(out.queries).mean())
        slots[name] = policy.slots
    total = sum(seconds.values())
    paper = PAPER_SECONDS_PER_EPISODE * PROTOCOL_EPISODES * len(seconds)
    found = record(
        "nb301_eval", total, "s (extrapolated)",
        "Cassimon et al. §4.2.2: 16.3 s per evaluation episode x the same episodes", paper,
        {"extrapolated_from_episodes_per_agent": chunk, "episodes_per_agent": PROTOCOL_EPISODES,
         "seconds_per_agent": seconds, "mean_steps": steps, "mean_queries": queries,
         "slots": slots,
         "compilation": "excluded (warm-up chunk)", "benchmark": bench.label})
    return {**found, "ratio": paper / total}  # seconds: how many times less time
