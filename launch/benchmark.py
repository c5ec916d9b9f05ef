"""Speed figures of nasjax's hot paths, each beside a plain reference timed in the same run.

  python -m launch.benchmark [--only=nb101_hash,nb101_neighbours] [--workdir=DIR]

Prints a JSON list of records ``{name, value, unit, baseline, baseline_value, ratio,
device, settings}`` and writes it to ``DIR/benchmark.json``; ``ratio`` is how many
times faster nasjax is than the baseline on the same work.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
from absl import app, flags

_ONLY = flags.DEFINE_list("only", None, "Comma-separated benchmark names (default: all).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (default runs/benchmark-<time>).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Data directory (default $NASJAX_DATA).")
_QUICK = flags.DEFINE_bool("quick", False, "Smaller workloads (a smoke test, not a measurement).")


def device_name() -> str:
    """The JAX device the figures were measured on."""
    device = jax.devices()[0]
    return f"{device.platform}:{getattr(device, 'device_kind', device.platform)} x{jax.device_count()}"


def timed(fn: Callable[[], object], repeats: int = 3) -> float:
    """Best wall time of ``fn`` over ``repeats`` runs after one warm-up (compilation) run."""
    jax.block_until_ready(fn())
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return best


def record(name, value, unit, baseline, baseline_value, settings) -> dict:
    """One benchmark record as DESIGN.md specifies (rates: higher is better)."""
    ratio = None if not baseline_value else value / baseline_value
    return {"name": name, "value": value, "unit": unit, "baseline": baseline,
            "baseline_value": baseline_value, "ratio": ratio, "device": device_name(),
            "settings": settings}


def bench_nb101_hash(quick: bool, data_dir) -> dict:
    """Batched 64-bit WL hashing vs the official md5 module hash in plain Python."""
    from nasjax.spaces import nb101

    batch = 4096 if quick else 65536
    cells = nb101.sample(jax.random.key(0), (batch,))
    hash_fn = jax.jit(nb101.hash_cells)
    rate = batch / timed(lambda: hash_fn(cells))
    count = 200 if quick else 2000
    specs = [nb101.to_official(cells[i]) for i in range(count)]
    start = time.perf_counter()
    for matrix, ops in specs:
        nb101.official_hash(matrix, ops)
    baseline = count / (time.perf_counter() - start)
    return record("nb101_hash", rate, "cells/s", "official md5 module hash (Python, per cell)",
                  baseline, {"batch": batch, "baseline_cells": count})


def bench_nb101_neighbours(quick: bool, data_dir) -> dict:
    """Full neighbour sets, batched, vs the plain-Python reference edits."""
    from nasjax.spaces import nb101, nb101_reference

    batch = 512 if quick else 4096
    cells = nb101.sample(jax.random.key(1), (batch,))
    rate = batch / timed(lambda: nb101.all_neighbours(cells))
    count = 20 if quick else 100
    specs = [nb101.to_official(cells[i]) for i in range(count)]
    labels = {"input": nb101.INPUT, "output": nb101.OUTPUT,
              **{name: code for code, name in enumerate(nb101.OP_NAMES)}}
    start = time.perf_counter()
    for matrix, ops in specs:
        nb101_reference.neighbours(matrix, [labels[o] for o in ops])
    baseline = count / (time.perf_counter() - start)
    return record("nb101_neighbours", rate, "cells/s",
                  "plain-Python edits + official md5 dedup (per cell)", baseline,
                  {"batch": batch, "max_neighbours": nb101.MAX_NEIGHBOURS, "baseline_cells": count})


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


def _python_step_reference(specs, rng, table: dict) -> int:
    """Plain-Python environment steps (the seed's per-environment loop); returns steps taken."""
    from nasjax.spaces import nb101, nb101_reference

    steps = 0
    for matrix, labels in specs:
        found = nb101_reference.neighbours(matrix, labels)
        shown = rng.permutation(len(found))[:50]
        action = int(rng.integers(0, len(shown) + 1))
        if action:
            matrix, labels = found[shown[action - 1]]
        table.get(nb101._md5_module_hash(matrix, labels), 0.9)  # reward lookup, as the API does
        steps += 1
    return steps


def _specs(cells, count):
    from nasjax.spaces import nb101

    out = []
    for i in range(count):
        n = int(nb101.num_vertices(cells[i]))
        out.append((np.asarray(cells.adj[i])[:n, :n].astype(int),
                    [int(o) for o in np.asarray(cells.ops[i])[:n]]))
    return out


def bench_nb101_query(quick: bool, data_dir) -> dict:
    """Jitted batched query vs a Python dict keyed by the official hash (per query)."""
    from nasjax.benchmarks import base, synthetic
    from nasjax.spaces import nb101

    bench = synthetic.make(data_dir)  # a 423,624-row table, the size of nb101 and the surrogate
    batch = 4096
    cells = nb101.sample(jax.random.key(2), (batch,))
    query = jax.jit(base.query, static_argnames="mode")
    rate = batch / timed(lambda: query(bench, cells))
    specs = [nb101.to_official(cells[i]) for i in range(500 if quick else 4096)]
    rng = np.random.default_rng(0)
    table = {nb101.official_hash(m, o): {"validation_accuracy": [0.9, 0.91, 0.92],
                                         "test_accuracy": [0.9, 0.9, 0.9]} for m, o in specs}
    queries = 0
    start = time.perf_counter()
    for matrix, ops in specs:  # as the official API: check and prune the spec, md5-hash it,
        entry = table[nb101.official_hash(matrix, ops)]  # look it up, draw one repeat, count
        repeat = int(rng.integers(3))
        {key: values[repeat] for key, values in entry.items()}
        queries += 1
    baseline = queries / (time.perf_counter() - start)
    return record("nb101_query", rate, "queries/s",
                  "Python dict keyed by the official hash (checked, pruned spec; one repeat drawn)",
                  baseline, {"batch": batch, "table_rows": bench.size, "baseline_queries": queries})


def _random_walk_rollout(params, num_envs: int, steps: int, full_observation: bool):
    """A jitted ``key -> float`` rollout of random-walk actions through ``step_auto_reset``.

    The scan carries the states only. With ``full_observation`` the neighbour cells
    are materialised and encoded each step (what a network policy reads); otherwise
    the policy reads only the action mask, as the random walk does.
    """
    from nasjax import env
    from nasjax.agents import random_walk

    observe = jax.vmap(env.observe, in_axes=(0, None))
    act = jax.vmap(random_walk.act, in_axes=(None, 0, 0))
    step = jax.vmap(env.step_auto_reset, in_axes=(0, 0, 0, None))

    @jax.jit
    def rollout(key, params):
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)

        def body(state, key):
            act_keys, step_keys = jax.random.split(key, (2, num_envs))
            obs = observe(state, params)
            total = env.encode(obs.neighbours).sum() if full_observation else 0.0
            _, state, reward, _, _ = step(step_keys, state, act(None, obs, act_keys), params)
            return state, reward.sum() + total

        _, rewards = jax.lax.scan(body, state, jax.random.split(key, steps))
        return rewards.sum()

    return lambda: rollout(jax.random.key(0), params)


def bench_env_steps(quick: bool, data_dir) -> list[dict]:
    """Random-walk environment steps/s (auto-reset, 16-step training episodes) for 1 ... 4,096
    environments, with the neighbour table and on the fly, beside a plain-Python step loop
    (seed Fig. 16). The record's value is table mode at the largest size."""
    from nasjax import env
    from nasjax.benchmarks import synthetic
    from nasjax.spaces import nb101, neighbour_table

    bench = synthetic.make(data_dir)
    table = neighbour_table.load(data_dir)
    steps = 8 if quick else 32
    plans = [  # (mode, neighbour table, full observation, numbers of environments)
        ("table", table, False, (1, 16, 256) if quick else (1, 16, 256, 4096)),
        ("table, neighbour cells encoded", table, True, (16, 256) if quick else (16, 256, 4096)),
        ("on the fly", None, False, (1, 16) if quick else (1, 16, 256)),
    ]
    sweep = []
    for mode, neighbours, full, sizes in plans:
        params = env.make_params(bench, neighbours, episode_length=env.TRAIN_EPISODE_LENGTH)
        for num_envs in sizes:
            rollout = _random_walk_rollout(params, num_envs, steps, full)
            rate = num_envs * steps / timed(rollout, repeats=2)
            sweep.append({"mode": mode, "num_envs": num_envs, "steps_per_second": rate})
    rng = np.random.default_rng(0)
    specs = _specs(nb101.sample(jax.random.key(3), (40,)), 10 if quick else 40)
    start = time.perf_counter()
    done = _python_step_reference(specs, rng, {})
    baseline = done / (time.perf_counter() - start)
    largest = [r for r in sweep if r["mode"] == "table"][-1]
    return [record("env_steps", largest["steps_per_second"], "steps/s",
                   "plain-Python step (reference neighbours + md5 lookup), one environment",
                   baseline, {"num_envs": largest["num_envs"], "steps_per_rollout": steps,
                              "policy": "random walk", "auto_reset": True,
                              "episode_length": env.TRAIN_EPISODE_LENGTH,
                              "max_neighbours": env.MAX_NEIGHBOURS, "sweep": sweep,
                              "benchmark": bench.label})]


def bench_eval_250k(quick: bool, data_dir) -> dict:
    """Wall time of the 250,000-episode evaluation (5 seeds x 5 sets x 10^4 initial states,
    32 steps, table mode) of random walk and local search, compilation included."""
    from nasjax import env
    from nasjax.benchmarks import synthetic
    from nasjax.evaluation import episodes
    from nasjax.spaces import nb101, neighbour_table

    bench = synthetic.make(data_dir)
    params = env.make_params(bench, neighbour_table.load(data_dir))
    agents = ("random_walk", "local_search")
    seeds, sets, per_set, chunk = (1, 1, 2000, 2000) if quick else (5, 5, 10_000, 10_000)
    initial = [nb101.sample(jax.random.key(1000 + s), (per_set,)) for s in range(sets)]
    start = time.perf_counter()
    total, agent_seconds = 0, {}
    for agent in agents:
        begin = time.perf_counter()
        for seed in range(seeds):
            for s in range(sets):
                key = jax.random.fold_in(jax.random.key(seed), s)
                for lo in range(0, per_set, chunk):
                    out = episodes.run_episodes(agent, params, initial[s][lo:lo + chunk],
                                                jax.random.fold_in(key, lo))
                    jax.block_until_ready(out)
                    total += len(out.final)
        agent_seconds[agent] = time.perf_counter() - begin
    seconds = time.perf_counter() - start
    # Plain reference: Python random-walk episodes of up to 32 steps, timed on a few episodes.
    rng = np.random.default_rng(0)
    specs = _specs(nb101.sample(jax.random.key(4), (20,)), 5 if quick else 20)
    begin = time.perf_counter()
    steps = 0
    for spec in specs:
        for _ in range(32):
            steps += _python_step_reference([spec], rng, {})
    per_step = (time.perf_counter() - begin) / steps
    baseline_seconds = per_step * 32 * total  # upper bound: every episode runs 32 steps
    return {"name": "eval_250k", "value": seconds, "unit": "s",
            "baseline": "plain-Python episodes (32 reference steps each), extrapolated",
            "baseline_value": baseline_seconds, "ratio": baseline_seconds / seconds,
            "device": device_name(),
            "settings": {"episodes": total, "agents": list(agents), "seconds": agent_seconds,
                         "episode_length": env.EVAL_EPISODE_LENGTH, "neighbours": "table",
                         "episodes_per_call": chunk, "compilation": "included",
                         "benchmark": bench.label,
                         "seed_reported_seconds_per_episode": 0.50}}


def _remaade_config(preset: str):
    """The ``config.remaade`` block of a seed-004 search preset (configs/search.py)."""
    from configs import search

    return search.get_config(preset).remaade


def bench_remaade_trials(quick: bool, data_dir) -> list[dict]:
    """ReMAADE trials/s: 500 trials as one jitted vmap of scans, beside the same searcher
    stepped by a Python loop over trials and steps (a jitted per-step update, the usual
    PyTorch shape), timed on a few trials and extrapolated per trial. Short run: 500 x 150
    queries of ``remaade_short``; medium: ``remaade_medium`` (500 x 3,200) timed on a
    fraction of the budget and extrapolated per batch (every step does the same work)."""
    from nasjax.agents import base, remaade
    from nasjax.benchmarks import base as bench_lib
    from nasjax.benchmarks import synthetic
    from nasjax.spaces import nb101

    bench = synthetic.make(data_dir)  # needs only the enumeration; same table size as nb101
    trials = 50 if quick else 500
    records = []
    for preset, budget, timed_budget in (("remaade_short", 150, 150),
                                         ("remaade_medium", 3200, 320 if not quick else 128)):
        config = _remaade_config(preset)
        searcher = remaade.make_searcher("remaade", config)
        key = jax.random.key(0)
        start = time.perf_counter()
        jax.block_until_ready(base.run_trials(searcher, bench, key, trials, timed_budget))
        first = time.perf_counter() - start  # compilation + one run
        seconds = timed(lambda: base.run_trials(searcher, bench, key, trials, timed_budget), 1)
        steps, timed_steps = -(-budget // searcher.batch), -(-timed_budget // searcher.batch)
        full_seconds = seconds * steps / timed_steps
        # Plain reference: Python loops over trials and steps around jitted per-step functions.
        init, propose, update = (jax.jit(searcher.init), jax.jit(searcher.propose),
                                 jax.jit(searcher.update))
        query = jax.jit(lambda bench, cells: bench_lib.query_index(
            bench, bench.lookup(nb101.hash_cells(cells)), None, "mean"))
        loop_trials, loop_steps = 2, min(steps, 5)

        def python_loop():
            for trial in range(loop_trials):
                state = init(jax.random.key(trial))
                for step in range(loop_steps):
                    cells = propose(state, jax.random.key(step))
                    state = update(state, cells, query(bench, cells))
            return state

        jax.block_until_ready(python_loop())  # compile outside the timing
        start = time.perf_counter()
        jax.block_until_ready(python_loop())
        loop_seconds = (time.perf_counter() - start) / loop_trials * steps / loop_steps
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
             "benchmark": bench.name, "config": config.to_dict()}))
    return records


BENCHMARKS: dict[str, Callable[[bool, object], dict]] = {
    "nb101_hash": bench_nb101_hash,
    "nb101_neighbours": bench_nb101_neighbours,
    "nb101_enumerate": bench_nb101_enumerate,
    "nb101_query": bench_nb101_query,
    "env_steps": bench_env_steps,
    "eval_250k": bench_eval_250k,
    "remaade_trials": bench_remaade_trials,
}


def run(names: list[str] | None, workdir: Path, quick: bool = False, data_dir=None) -> list[dict]:
    """Run the named benchmarks (all by default), write ``workdir/benchmark.json``."""
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
    workdir = Path(_WORKDIR.value or f"runs/benchmark-{time.strftime('%Y%m%d-%H%M%S')}")
    records = run(_ONLY.value, workdir, _QUICK.value, _DATA_DIR.value)
    print(json.dumps(records, indent=2))


if __name__ == "__main__":
    app.run(main)
