"""Speed figures of nasjax's hot paths, each beside a plain reference timed in the same run.

  python -m launch.benchmark [--only=nb101_hash,nb101_neighbours] [--workdir=DIR] [--overwrite]
  nasjax benchmark [--only=...] [--workdir=DIR] [--overwrite]  # installed

Prints a JSON list of records ``{name, value, unit, baseline, baseline_value, ratio, device,
settings}`` and writes it to ``DIR/benchmark.json``; ``ratio`` is how many times faster nasjax
is than the baseline on the same work. ``DIR`` must be empty or absent unless ``--overwrite``;
like every launch's run directory it is locked while running and appears only when complete.
Every reference does what the tool a researcher would otherwise run does (the official
NAS-Bench-101 API's md5 ``hash_module`` and dict look-up, a per-step Python loop), no more, and
both sides are timed the same way: the best of 3 runs after a warm-up (compilation) run, unless
a record says otherwise.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
from absl import flags

from nasjax.launch import common
from nasjax.speed import nb301 as nb301_speed
from nasjax.speed.timing import REPEATS, device_name, random_walk_rollout, record, timed

_ONLY = flags.DEFINE_list("only", None, "Comma-separated benchmark names (default: all).")
_RUN = common.define_run_dir("benchmark")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Data directory (default $NASJAX_DATA).")
_QUICK = flags.DEFINE_bool("quick", False, "Smaller workloads (a smoke test, not a measurement).")



def _pruned_specs(cells, count: int) -> list[tuple[np.ndarray, list[int]]]:
    """(int matrix, labels) of the first ``count`` cells: pruned specs, as ``ModelSpec`` holds
    them after construction (the sampler's cells need no pruning)."""
    from nasjax.spaces import nb101

    adj, ops = np.asarray(cells.adj), np.asarray(cells.ops)
    sizes = np.asarray(nb101.num_vertices(cells))
    return [(adj[i, :n, :n].astype(np.int64), ops[i, :n].astype(int).tolist())
            for i, n in enumerate(sizes[:count].tolist())]


def bench_nb101_hash(quick: bool, data_dir) -> dict:
    """Batched 64-bit WL hashing vs the official ``graph_util.hash_module`` (md5, per cell)."""
    from nasjax.spaces import nb101

    batch = 4096 if quick else 65536
    cells = nb101.sample(jax.random.key(0), (batch,))
    hash_fn = jax.jit(nb101.hash_cells)
    rate = batch / timed(lambda: hash_fn(cells))
    count = 200 if quick else 2000
    specs = _pruned_specs(cells, count)
    seconds = timed(lambda: [nb101._md5_module_hash(m, labels) for m, labels in specs])
    return record("nb101_hash", rate, "cells/s",
                  "official hash_module (md5 Weisfeiler-Lehman) of pruned specs, Python",
                  count / seconds, {"batch": batch, "baseline_cells": count})


def bench_nb101_neighbours(quick: bool, data_dir) -> dict:
    """Full neighbour sets, batched, vs the plain-Python reference edits."""
    from nasjax.spaces import nb101, nb101_neighbours, nb101_reference

    batch = 512 if quick else 4096
    cells = nb101.sample(jax.random.key(1), (batch,))
    rate = batch / timed(lambda: nb101_neighbours.all_neighbours(cells))
    count = 20 if quick else 100
    specs = _pruned_specs(cells, count)
    seconds = timed(lambda: [nb101_reference.neighbours(m, labels) for m, labels in specs])
    return record("nb101_neighbours", rate, "cells/s",
                  "plain-Python edits + official md5 dedup (per cell)", count / seconds,
                  {"batch": batch, "max_neighbours": nb101_neighbours.MAX_NEIGHBOURS,
                   "baseline_cells": count})


def bench_nb101_enumerate(quick: bool, data_dir) -> dict:
    """Wall time of enumerating all 423,624 cells from scratch (no baseline)."""
    from nasjax.spaces import nb101

    start = time.perf_counter()
    if not quick:
        nb101.build_enumeration(progress=False)
    seconds = time.perf_counter() - start
    return {"name": "nb101_enumerate", "value": seconds, "unit": "s", "baseline": None,
            "baseline_value": None, "ratio": None, "device": device_name(),
            "settings": {"cells": nb101.NUM_CELLS, "skipped": quick}}


class _OfficialTable:
    """The official NAS-Bench-101 API's query, reduced to its work: ``hash_module`` of the
    (already pruned) spec, the dict look-up, one repeat drawn, the result dict copied."""

    def __init__(self, values: dict[str, tuple[list[float], list[float]]], seed: int = 0):
        self.values = values
        self.rng = np.random.default_rng(seed)

    def query(self, matrix: np.ndarray, labels: list[int]) -> dict | None:
        from nasjax.spaces import nb101

        entry = self.values.get(nb101._md5_module_hash(matrix, labels))
        if entry is None:
            return None
        repeat = int(self.rng.integers(len(entry[0])))
        return {"validation_accuracy": entry[0][repeat], "test_accuracy": entry[1][repeat]}


def _official_values(bench, cells) -> dict[str, tuple[list[float], list[float]]]:
    """The official-hash table entries of ``cells`` (their repeats), built untimed."""
    from nasjax.spaces import nb101

    rows = np.asarray(jax.jit(lambda b, c: b.rows(c))(bench, cells))
    val, test = np.asarray(bench.val_acc), np.asarray(bench.test_acc)
    return {nb101._md5_module_hash(m, labels): (val[r].tolist(), test[r].tolist())
            for (m, labels), r in zip(_pruned_specs(cells, len(rows)), rows.tolist(),
                                      strict=True) if r >= 0}


def bench_nb101_query(quick: bool, data_dir) -> dict:
    """Jitted batched query (mean mode) vs the official API's query, one spec at a time."""
    from nasjax.benchmarks import base, synthetic
    from nasjax.spaces import nb101

    bench = synthetic.make(data_dir, progress=False)  # 423,624 rows x 3 repeats, like nb101
    batch = 4096
    cells = nb101.sample(jax.random.key(2), (batch,))
    query = jax.jit(base.query, static_argnames="mode")
    rate = batch / timed(lambda: query(bench, cells))
    count = 500 if quick else batch
    specs = _pruned_specs(cells, count)
    official = _OfficialTable(_official_values(bench, cells))
    seconds = timed(lambda: [official.query(m, labels) for m, labels in specs])
    return record("nb101_query", rate, "queries/s",
                  "official API query: hash_module of the pruned spec, dict look-up, one repeat",
                  count / seconds, {"batch": batch, "table_rows": bench.size,
                                    "baseline_queries": count, "mode": "mean"})


def _env_params(space, bench, episode_length: int):
    from nasjax import env
    from nasjax.configs import environment

    settings = environment.get(space.name)
    return env.make_params(space, bench, max_neighbours=settings.max_neighbours,
                           alpha=settings.alpha, episode_length=episode_length,
                           query_mode=settings.query_mode)


def _python_walk_step(spec, rng, official: _OfficialTable, max_neighbours: int):
    """One plain-Python random-walk step: the neighbours (reference edits), a random choice
    among the presented ones and "stay", the reward's query. Returns the next spec or None."""
    from nasjax.spaces import nb101_reference

    found = nb101_reference.neighbours(*spec)
    shown = rng.permutation(len(found))[:max_neighbours]
    action = int(rng.integers(0, len(shown) + 1))
    if not action:
        return None
    spec = found[shown[action - 1]]
    official.query(*spec)
    return spec


def _python_search_step(spec, rng, official: _OfficialTable, max_neighbours: int):
    """One plain-Python local-search step: query every presented neighbour, move to the best
    one that beats the current spec, else stop (None)."""
    from nasjax.spaces import nb101_reference

    found = nb101_reference.neighbours(*spec)
    shown = [found[i] for i in rng.permutation(len(found))[:max_neighbours]]
    current = (official.query(*spec) or {}).get("validation_accuracy", -1.0)
    scored = [((official.query(*s) or {}).get("validation_accuracy", -1.0), i)
              for i, s in enumerate(shown)]
    best, index = max(scored, default=(-1.0, -1))
    return shown[index] if best > current else None


def _python_episodes(specs, step, official, max_neighbours: int, length: int) -> int:
    """Plain-Python episodes from each spec; returns the steps taken."""
    rng = np.random.default_rng(0)
    steps = 0
    for spec in specs:
        for _ in range(length):
            steps += 1
            spec = step(spec, rng, official, max_neighbours)
            if spec is None:
                break
    return steps


class _FillingTable(_OfficialTable):
    """An official-style table that adds every spec it is asked about (untimed warm-up run),
    scoring it with the nasjax benchmark, so the timed run finds every key."""

    def __init__(self, bench):
        super().__init__({})
        self.bench = bench
        self.rows = jax.jit(lambda b, c: b.rows(c))

    def query(self, matrix, labels):
        from nasjax.spaces import nb101

        key = nb101._md5_module_hash(matrix, labels)
        if key not in self.values:
            n = len(labels)
            adj = np.zeros((nb101.NUM_VERTICES,) * 2, bool)
            adj[:n, :n] = matrix
            ops = np.full(nb101.NUM_VERTICES, nb101.PAD, np.int8)
            ops[:n] = labels
            row = int(self.rows(self.bench, nb101.Cell(adj=adj, ops=ops)))
            self.values[key] = (np.asarray(self.bench.val_acc[row]).tolist(),
                                np.asarray(self.bench.test_acc[row]).tolist())
        return super().query(matrix, labels)


def bench_env_steps(quick: bool, data_dir) -> list[dict]:
    """Random-walk environment steps/s (auto-reset, 16-step training episodes) for 1 ... 4,096
    environments, with the neighbour table and on the fly, beside a plain-Python step loop
    (Cassimon et al. Fig. 16). The record's value is table mode at the largest size."""
    from nasjax.benchmarks import synthetic
    from nasjax.configs import environment
    from nasjax.spaces import nb101, nb101_space, neighbour_table

    bench = synthetic.make(data_dir, progress=False)
    length = environment.get("nb101").train_episode_length
    table = nb101_space.make_space(neighbour_table.load(data_dir, progress=False))
    steps = 8 if quick else 32
    plans = [  # (mode, space, full observation, numbers of environments)
        ("table", table, False, (1, 16, 256) if quick else (1, 16, 256, 4096)),
        ("table, tokens observed", table, True, (16, 256) if quick else (16, 256, 4096)),
        ("on the fly", nb101_space.make_space(), False, (1, 16) if quick else (1, 16, 256)),
    ]
    sweep = []
    for mode, space, full, sizes in plans:
        params = _env_params(space, bench, length)
        for num_envs in sizes:
            rollout = random_walk_rollout(params, num_envs, steps, full)
            rate = num_envs * steps / timed(rollout, repeats=2)
            sweep.append({"mode": mode, "num_envs": num_envs, "steps_per_second": rate})
    max_neighbours = environment.get("nb101").max_neighbours
    specs = _pruned_specs(nb101.sample(jax.random.key(3), (40,)), 10 if quick else 40)
    filling = _FillingTable(bench)
    _python_episodes(specs, _python_walk_step, filling, max_neighbours, 1)  # fill, untimed
    official = _OfficialTable(filling.values)
    seconds = timed(lambda: _python_episodes(specs, _python_walk_step, official,
                                             max_neighbours, 1))
    baseline = len(specs) / seconds
    largest = [r for r in sweep if r["mode"] == "table"][-1]
    return [record("env_steps", largest["steps_per_second"], "steps/s",
                   "plain-Python step (reference neighbours, official-API query), one "
                   "environment", baseline,
                   {"num_envs": largest["num_envs"], "steps_per_rollout": steps,
                    "policy": "random walk", "auto_reset": True, "episode_length": length,
                    "max_neighbours": max_neighbours, "sweep": sweep,
                    "benchmark": bench.label})]


def bench_eval_250k(quick: bool, data_dir) -> dict:
    """Wall time of the 250,000-episode evaluation (5 seeds x 5 sets x 10^4 initial states,
    32 steps, table mode) of random walk and local search, compilation included, vs plain-
    Python episodes of the same agents and real lengths (timed on a few, extrapolated)."""
    from nasjax.agents import local_search, random_walk
    from nasjax.benchmarks import synthetic
    from nasjax.configs import environment
    from nasjax.evaluation import episodes
    from nasjax.spaces import nb101, nb101_space, neighbour_table

    settings = environment.get("nb101")
    bench = synthetic.make(data_dir, progress=False)
    space = nb101_space.make_space(neighbour_table.load(data_dir, progress=False))
    params = _env_params(space, bench, settings.eval_episode_length)
    agents = {"random_walk": (random_walk.make_policy(), _python_walk_step),
              "local_search": (local_search.make_policy(params), _python_search_step)}
    seeds, sets, per_set = (1, 1, 2000) if quick else (5, 5, 10_000)
    initial = [nb101.sample(jax.random.key(1000 + s), (per_set,)) for s in range(sets)]
    start = time.perf_counter()
    total, agent_seconds, mean_steps, baseline_seconds = 0, {}, {}, 0.0
    count = 5 if quick else 20
    for name, (policy, python_step) in agents.items():
        begin = time.perf_counter()
        steps = []
        for seed in range(seeds):
            for s in range(sets):
                out = episodes.run_episodes(policy, params, initial[s],
                                            jax.random.fold_in(jax.random.key(seed), s))
                steps.append(np.asarray(out.steps))
                total += len(out.final)
        agent_seconds[name] = time.perf_counter() - begin
        mean_steps[name] = float(np.concatenate(steps).mean())
        # The reference: Python episodes of this agent from a few initial states.
        specs = _pruned_specs(initial[0], count)
        filling = _FillingTable(bench)
        _python_episodes(specs, python_step, filling, settings.max_neighbours,
                         settings.eval_episode_length)  # fill, untimed
        official = _OfficialTable(filling.values)
        best = float("inf")
        for _ in range(REPEATS):
            begin = time.perf_counter()
            taken = _python_episodes(specs, python_step, official, settings.max_neighbours,
                                     settings.eval_episode_length)
            best = min(best, time.perf_counter() - begin)
        per_step = best / taken
        baseline_seconds += per_step * mean_steps[name] * seeds * sets * per_set
    seconds = time.perf_counter() - start
    return {"name": "eval_250k", "value": seconds, "unit": "s",
            "baseline": "plain-Python episodes of the same agents (reference neighbours, "
                        "official-API queries), per-step time x the real mean episode length",
            "baseline_value": baseline_seconds, "ratio": baseline_seconds / seconds,
            "device": device_name(),
            "settings": {"episodes": total, "agents": list(agents), "seconds": agent_seconds,
                         "mean_steps": mean_steps,
                         "episode_length": settings.eval_episode_length, "neighbours": "table",
                         "compilation": "included", "benchmark": bench.label,
                         "paper_seconds_per_episode": 0.50}}


def bench_remaade_trials(quick: bool, data_dir) -> list[dict]:
    """ReMAADE trials/s: 500 trials as one jitted vmap of scans, beside the same searcher
    stepped by a Python loop over trials and steps (a jitted per-step update, the usual
    PyTorch shape), timed on a few trials and extrapolated per trial. Short run: 500 x 150
    queries of ``remaade_short``; medium: ``remaade_medium`` (500 x 3,200) timed on a
    fraction of the budget and extrapolated per batch (every step does the same work)."""
    from nasjax import registry, spaces
    from nasjax.agents import base
    from nasjax.benchmarks import base as bench_lib
    from nasjax.benchmarks import synthetic
    from nasjax.configs import search

    bench = synthetic.make(data_dir, progress=False)  # same table size as nb101
    space = spaces.get("nb101")
    agent = registry.make("agent", "remaade")
    trials = 50 if quick else 500
    records = []
    for preset, budget, timed_budget in (("remaade_short", 150, 150),
                                         ("remaade_medium", 3200, 128 if quick else 320)):
        config = search.get_config(preset)
        searcher = agent.make_searcher(space, agent.block(config))
        keys = jax.random.split(jax.random.key(0), trials)
        start = time.perf_counter()
        jax.block_until_ready(base.run_trials(searcher, bench, keys, timed_budget))
        first = time.perf_counter() - start  # compilation + one run
        seconds = timed(lambda: base.run_trials(searcher, bench, keys, timed_budget), 1)
        steps, timed_steps = -(-budget // searcher.batch), -(-timed_budget // searcher.batch)
        full_seconds = seconds * steps / timed_steps
        # Plain reference: Python loops over trials and steps around jitted per-step functions.
        init, propose, update = (jax.jit(searcher.init), jax.jit(searcher.propose),
                                 jax.jit(searcher.update))
        query = jax.jit(bench_lib.query)
        loop_trials, loop_steps = 2, min(steps, 5)

        def python_loop():
            for trial in range(loop_trials):
                state = init(jax.random.key(trial))
                for step in range(loop_steps):
                    archs = propose(state, jax.random.key(step))
                    state = update(state, archs, query(bench, archs))
            return state

        loop_seconds = timed(python_loop, 1) / loop_trials * steps / loop_steps
        name = "remaade_trials" if preset == "remaade_short" else "remaade_trials_medium"
        records.append(record(
            name, trials / full_seconds, "trials/s",
            "Python loop over trials and steps, jitted per-step propose/query/update "
            "(extrapolated per trial)", 1.0 / loop_seconds,
            {"preset": preset, "trials": trials, "budget": budget, "batch": searcher.batch,
             "timed_budget": timed_budget, "wall_seconds": full_seconds,
             "wall_seconds_extrapolated": timed_budget < budget,
             "first_call_seconds": first, "baseline_trials": loop_trials,
             "baseline_steps": loop_steps, "baseline_seconds_per_trial": loop_seconds,
             "benchmark": bench.name, "config": config.remaade.to_dict()}))
    return records


def _apex_env(data_dir, length_field: str):
    """The default benchmark with the neighbour table, as the Ape-X presets train on it."""
    from nasjax import benchmarks
    from nasjax.configs import environment
    from nasjax.spaces import nb101_space, neighbour_table

    bench = benchmarks.load(benchmarks.DEFAULT, data_dir, progress=False)
    space = nb101_space.make_space(neighbour_table.load(data_dir, progress=False))
    return _env_params(space, bench, environment.get("nb101")[length_field])


def bench_apex_train_steps(quick: bool, data_dir) -> dict:
    """Ape-X environment steps/s with learning at the ``paper`` preset's size (``cpu`` when
    quick), against the paper's rig (§4.1.2; not timed here)."""
    from nasjax.configs import apex as apex_config
    from nasjax.speed import apex as apex_speed

    found = apex_speed.train_steps(_apex_env(data_dir, "train_episode_length"),
                                    apex_config.get_config("cpu" if quick else "paper"))
    return {**found, "device": device_name()}


def bench_apex_eval_episodes(quick: bool, data_dir) -> dict:
    """Greedy Ape-X evaluation episodes/s at the ``paper`` preset's network size, against the
    paper's 0.50 s per episode on CPU (§4.1.2; not timed here)."""
    from nasjax.speed import apex as apex_speed

    found = apex_speed.eval_episodes(_apex_env(data_dir, "eval_episode_length"),
                                      episodes=1_000 if quick else 10_000)
    return {**found, "device": device_name()}


def bench_sweep_seeds(quick: bool, data_dir) -> dict:
    """5 seeds of the Ape-X ``smoke`` preset trained together (``--sweep=seeds``: vmapped, or
    in turn through one compiled chunk on one CPU device) against the same 5 runs one after
    another, compilation included."""
    from nasjax.agents.apex import train
    from nasjax.configs import apex as apex_config
    from nasjax.speed import sweeps as sweep_speed

    config = apex_config.get_config("smoke")
    params, _ = train.make_env_params(config, data_dir, progress=False)
    found = sweep_speed.sweep_seeds(params, config, seeds=2 if quick else 5)
    return {**found, "device": device_name()}


def bench_sweep_search(quick: bool, data_dir) -> dict:
    """ReMAADE ``learning_rate`` x 3 points x 100 trials (``remaade_short``: budget 150) as
    ``launch.search --sweep`` runs them (one program) against the points one after another
    (and vmapped over the rates), compilation included."""
    from nasjax.benchmarks import synthetic
    from nasjax.configs import search
    from nasjax.speed import sweeps as sweep_speed

    config = search.get_config("remaade_short")
    config.num_trials = 10 if quick else 100
    bench = synthetic.make(data_dir, progress=False)  # same table size as nb101
    return {**sweep_speed.sweep_search(bench, config), "device": device_name()}


def bench_evaluate_launch(quick: bool, data_dir) -> dict:
    """Wall time of the whole ``launch.evaluate`` process on its default preset (750,000
    episodes of 3 agents, the t goodness-of-fit test with 1,000 Monte-Carlo samples, figures,
    report; start-up and compilation included) beside the time its episodes take (the agents'
    ``seconds`` in its summary.json). ``ratio`` = episodes / whole process: the share of the
    evaluation that is its episodes (1 = nothing else costs time). The run starts with an empty
    compilation cache (:mod:`nasjax.launch.compile_cache`); ``warm_value`` is the same
    evaluation run again, reading its programs back from that cache, as a user's next run of
    the preset does. ``--quick``: the ``quick`` preset with the t test kept on."""
    import subprocess
    import sys
    import tempfile

    from nasjax.launch import compile_cache

    preset = "quick" if quick else "full"
    seconds, summaries = [], []
    with tempfile.TemporaryDirectory() as scratch:
        env = {key: value for key, value in os.environ.items()
               if key != "JAX_COMPILATION_CACHE_DIR"}
        env[compile_cache.ENV] = str(Path(scratch) / "compiled")
        for run in ("cold", "warm"):
            workdir = Path(scratch) / run
            command = [sys.executable, "-m", "nasjax.launch.evaluate", f"--config=:{preset}",
                       f"--workdir={workdir}", "--config.gof_mc_samples=1000"]
            if data_dir is not None:
                command.append(f"--config.data_dir={data_dir}")
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env=env,
                           cwd=Path(__file__).resolve().parents[2])  # where nasjax is imported
            seconds.append(time.perf_counter() - start)
            summaries.append(json.loads((workdir / "summary.json").read_text()))
    agents = summaries[0]["agents"]
    episode_seconds = sum(info["seconds"] for info in agents.values())
    return {"name": "evaluate_launch", "value": seconds[0], "unit": "s",
            "baseline": "the episodes of the same run (sum of its agents' seconds)",
            "baseline_value": episode_seconds, "ratio": episode_seconds / seconds[0],
            "warm_value": seconds[1],
            "warm_baseline_value": sum(info["seconds"]
                                       for info in summaries[1]["agents"].values()),
            "device": device_name(),
            "settings": {"preset": preset, "benchmark": summaries[0]["benchmark"],
                         "episodes": sum(info["episodes"] for info in agents.values()),
                         "gof_mc_samples": 1000,
                         "compilation": "included (value: an empty compilation cache; "
                                        "warm_value: the cache the first run filled)"}}


def bench_t_draws(quick: bool, data_dir) -> dict:
    """The Student t draws of the goodness-of-fit test's Monte-Carlo samples (3 agents x 1,000
    samples x 1,000 values, float64) vs ``jax.random.t`` vmapped over the agents' df, the same
    bits (:mod:`nasjax.evaluation.t_draws`)."""
    import jax.numpy as jnp

    from nasjax.evaluation import t_draws

    shape = (100, 1000) if quick else (1000, 1000)
    with jax.enable_x64(True):
        key, df = jax.random.key(0), jnp.array([2.5, 4.0, 30.0])
        ours = jax.jit(lambda k, d: t_draws.t(k, d, shape))
        plain = jax.jit(lambda k, d: jax.vmap(lambda a: jax.random.t(k, a, shape, d.dtype))(d))
        seconds = timed(lambda: ours(key, df))
        baseline = timed(lambda: plain(key, df))
    draws = df.size * shape[0] * shape[1]
    return record("t_draws", draws / seconds, "draws/s", "jax.random.t vmapped over the df",
                  draws / baseline, {"agents": int(df.size), "shape": list(shape)})


def bench_multiprocess_eval(quick: bool, data_dir) -> dict:
    """The 250,000-episode evaluation (``launch.evaluate``, random walk: 5 seeds x 5 sets x
    10^4 initial states) in 2 processes of 1 device and 1 core each (jax.distributed, gloo)
    vs 1 process of 2 devices on the same 2 cores: the time of its episodes (the summary's
    ``seconds``, compilation included) in each. ``ratio`` = one process / two processes (1 =
    the runtime costs nothing); ``settings.identical`` says whether the summaries agree (timings
    aside). NumPy's BLAS runs one thread in both (a process pinned to one core would, and the
    summary's Pearson r then differs from a 2-thread one in its last bit: not the runtime's
    doing). ``--quick``: the ``quick`` preset (2,000 episodes)."""
    import socket
    import subprocess
    import sys
    import tempfile

    sizes = [] if quick else ["--config.agent_seeds=5", "--config.num_sets=5",
                              "--config.episodes_per_set=10000"]
    args = [sys.executable, "-m", "launch.evaluate", f"--config={Path('configs') / 'evaluate.py'}"
            ":quick", "--config.agents=random_walk", *sizes,
            *([f"--config.data_dir={data_dir}"] if data_dir is not None else [])]
    root = Path(__file__).resolve().parent.parent
    cores = sorted(os.sched_getaffinity(0))[:2]

    def start(workdir: Path, devices: int, extra=(), core=None) -> subprocess.Popen:
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
               "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # the same in both
        pin = None if core is None else (lambda: os.sched_setaffinity(0, {core}))
        return subprocess.Popen([*args, f"--workdir={workdir}", *extra], cwd=root, env=env,
                                preexec_fn=pin, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)

    def wait(procs: list[subprocess.Popen]) -> None:
        for proc in procs:
            _, err = proc.communicate()
            if proc.returncode:
                raise RuntimeError(f"launch.evaluate failed: {err.strip()[-500:]}")

    with tempfile.TemporaryDirectory() as tmp:
        wait([start(Path(tmp) / "one", len(cores))])
        with socket.socket() as sock:
            sock.bind(("localhost", 0))
            port = sock.getsockname()[1]
        wait([start(Path(tmp) / "two", 1, (f"--coordinator_address=localhost:{port}",
                                            "--num_processes=2", f"--process_id={index}"), core)
              for index, core in enumerate(cores)])
        one, two = (json.loads((Path(tmp) / name / "summary.json").read_text())
                    for name in ("one", "two"))
    seconds = {name: sum(info["seconds"] for info in summary["agents"].values())
               for name, summary in (("one", one), ("two", two))}
    return {"name": "multiprocess_eval", "value": seconds["two"], "unit": "s",
            "baseline": f"the same evaluation in 1 process of {len(cores)} devices on the same "
                        "cores", "baseline_value": seconds["one"],
            "ratio": seconds["one"] / seconds["two"], "device": device_name(),
            "settings": {"episodes": sum(info["episodes"] for info in two["agents"].values()),
                         "agents": list(two["agents"]), "processes": 2, "cores": cores,
                         "collectives": "gloo", "compilation": "included", "blas_threads": 1,
                         "identical": _without_timings(one) == _without_timings(two)}}


def _without_timings(tree):
    """A summary without its fields that measure time (``seconds``)."""
    if isinstance(tree, dict):
        return {key: _without_timings(value) for key, value in tree.items()
                if "seconds" not in key}
    if isinstance(tree, list):
        return [_without_timings(value) for value in tree]
    return tree


def bench_nb301_env_steps(quick: bool, data_dir) -> dict:
    """Random-walk environment steps/s on ``nb301-surrogate`` with the NAS-Bench-301
    environment settings (:func:`nasjax.speed.nb301.bench_nb301_env_steps`)."""
    from nasjax.configs import environment

    return nb301_speed.bench_nb301_env_steps(quick, data_dir, environment.get("nb301"))


def bench_nb301_eval(quick: bool, data_dir) -> dict:
    """The 250,000-episode protocol's time on ``nb301-surrogate`` at the ``nb301`` evaluation
    preset's chunk size (:func:`nasjax.speed.nb301.bench_nb301_eval`)."""
    from nasjax.configs import environment
    from nasjax.configs import evaluate as evaluate_config

    return nb301_speed.bench_nb301_eval(quick, data_dir, environment.get("nb301"),
                                         evaluate_config.get_config("nb301").episodes_per_chunk)


BENCHMARKS: dict[str, Callable[[bool, object], dict | list[dict]]] = {
    "nb101_hash": bench_nb101_hash,
    "nb101_neighbours": bench_nb101_neighbours,
    "nb101_enumerate": bench_nb101_enumerate,
    "nb101_query": bench_nb101_query,
    "env_steps": bench_env_steps,
    "eval_250k": bench_eval_250k,
    "evaluate_launch": bench_evaluate_launch,
    "t_draws": bench_t_draws,
    "multiprocess_eval": bench_multiprocess_eval,
    "remaade_trials": bench_remaade_trials,
    "apex_train_steps": bench_apex_train_steps,
    "apex_eval_episodes": bench_apex_eval_episodes,
    "nb301_query": nb301_speed.bench_nb301_query,
    "nb301_env_steps": bench_nb301_env_steps,
    "nb301_eval": bench_nb301_eval,
    "sweep_seeds": bench_sweep_seeds,
    "sweep_search": bench_sweep_search,
}


def run(names: list[str] | None, workdir: Path, quick: bool = False, data_dir=None) -> list[dict]:
    """Run the named benchmarks (all by default), write ``workdir/benchmark.json``."""
    from absl import app

    names = list(BENCHMARKS) if not names else names
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise app.UsageError(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}")
    records = []
    for name in names:
        result = BENCHMARKS[name](quick, data_dir)
        records.extend(result if isinstance(result, list) else [result])
    workdir.mkdir(parents=True, exist_ok=True)
    sweep = [r for rec in records if rec["name"] == "env_steps" for r in rec["settings"]["sweep"]]
    if sweep:
        from nasjax.evaluation import plots

        plots.throughput(sweep, workdir / "env_steps.png")
    (workdir / "benchmark.json").write_text(json.dumps(records, indent=2))
    return records


def main(argv):
    del argv
    from absl import app

    from nasjax import paths

    unknown = sorted(set(_ONLY.value or ()) - set(BENCHMARKS))
    if unknown:
        raise app.UsageError(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}")
    data_dir = paths.usable_dir(paths.data_dir(_DATA_DIR.value))
    with _RUN.open() as run_dir:  # checked, locked and staged before the benchmarks run
        records = run(_ONLY.value, run_dir.staging, _QUICK.value, data_dir)
    print(json.dumps(records, indent=2))
    print(f"run directory: {run_dir.path}")


if __name__ == "__main__":
    from nasjax.launch import compile_cache

    # Records time compilation, this process's and its launches' (evaluate_launch sets its own
    # cache): no compilation cache unless JAX_COMPILATION_CACHE_DIR names one.
    os.environ[compile_cache.ENV] = "off"
    common.run_main(main)
