"""Speed figures of nasjax's hot paths, each beside a plain reference timed in the same run.

  python -m launch.benchmark [--only=nb101_hash,nb101_neighbours] [--workdir=DIR]

Prints a JSON list of records ``{name, value, unit, baseline, baseline_value, ratio,
device, settings}`` and writes it to ``DIR/benchmark.json``; ``ratio`` is how many
times faster nasjax is than the baseline on the same work.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

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


def bench_env_steps(quick: bool, data_dir) -> list[dict]:
    """Random-action environment steps/s for 1 ... 4,096 environments, on the fly and with
    the neighbour table, beside a plain-Python step loop (seed Fig. 16)."""
    from nasjax import env
    from nasjax.agents import random_walk
    from nasjax.benchmarks import synthetic
    from nasjax.spaces import nb101, neighbour_table

    bench = synthetic.make(data_dir)
    table = neighbour_table.load(data_dir)
    sizes = (1, 16, 256) if quick else (1, 16, 256, 4096)
    steps = 8 if quick else 32
    records = []
    for mode, tbl in (("on_the_fly", None), ("table", table)):
        params = env.make_params(bench, tbl)

        def rollout(key, params, num_envs):
            keys = jax.random.split(key, num_envs)
            obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)

            def body(carry, key):
                obs, state = carry
                act_keys, step_keys = jax.random.split(key, (2, num_envs))
                action = jax.vmap(random_walk.act, in_axes=(None, 0, 0))(None, obs, act_keys)
                obs, state, reward, done, _ = jax.vmap(
                    env.step_auto_reset, in_axes=(0, 0, 0, None))(step_keys, state, action, params)
                return (obs, state), reward.sum()

            _, rewards = jax.lax.scan(body, (obs, state), jax.random.split(key, steps))
            return rewards.sum()

        for num_envs in sizes:
            if mode == "on_the_fly" and num_envs > 256 and quick:
                continue
            fn = jax.jit(lambda k, p, n=num_envs: rollout(k, p, n))
            rate = num_envs * steps / timed(lambda: fn(jax.random.key(0), params), repeats=2)
            records.append({"mode": mode, "num_envs": num_envs, "steps_per_second": rate})
    rng = np.random.default_rng(0)
    specs = _specs(nb101.sample(jax.random.key(3), (40,)), 10 if quick else 40)
    start = time.perf_counter()
    done = _python_step_reference(specs, rng, {})
    baseline = done / (time.perf_counter() - start)
    best_table = max(r["steps_per_second"] for r in records if r["mode"] == "table")
    return [record("env_steps", best_table, "steps/s",
                   "plain-Python step (reference neighbours + md5 lookup), one environment",
                   baseline, {"steps_per_rollout": steps, "sweep": records,
                              "benchmark": bench.name})]


def bench_eval_250k(quick: bool, data_dir) -> dict:
    """Wall time of the full 250,000-episode evaluation of random walk and local search."""
    from nasjax import env
    from nasjax.benchmarks import synthetic
    from nasjax.evaluation import episodes
    from nasjax.spaces import nb101, neighbour_table

    bench = synthetic.make(data_dir)
    params = env.make_params(bench, neighbour_table.load(data_dir))
    seeds, sets, per_set, chunk = (1, 1, 2000, 2000) if quick else (5, 5, 10_000, 10_000)
    initial = [nb101.sample(jax.random.key(1000 + s), (per_set,)) for s in range(sets)]
    for agent in ("random_walk", "local_search"):  # compile outside the timing
        jax.block_until_ready(episodes.run_episodes(agent, params, initial[0][:chunk], jax.random.key(0)))
    start = time.perf_counter()
    total = 0
    for agent in ("random_walk", "local_search"):
        for seed in range(seeds):
            for s in range(sets):
                for lo in range(0, per_set, chunk):
                    out = episodes.run_episodes(agent, params, initial[s][lo:lo + chunk],
                                                jax.random.fold_in(jax.random.key(seed), s * per_set + lo))
                    jax.block_until_ready(out)
                    total += chunk
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
            "settings": {"episodes": total, "agents": ["random_walk", "local_search"],
                         "episode_length": 32, "neighbours": "table", "benchmark": bench.name,
                         "seed_reported_seconds_per_episode": 0.50}}


BENCHMARKS: dict[str, Callable[[bool, object], dict]] = {
    "nb101_hash": bench_nb101_hash,
    "nb101_neighbours": bench_nb101_neighbours,
    "nb101_enumerate": bench_nb101_enumerate,
    "nb101_query": bench_nb101_query,
    "env_steps": bench_env_steps,
    "eval_250k": bench_eval_250k,
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
