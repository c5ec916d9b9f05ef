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


BENCHMARKS: dict[str, Callable[[bool, object], dict]] = {
    "nb101_hash": bench_nb101_hash,
    "nb101_neighbours": bench_nb101_neighbours,
    "nb101_enumerate": bench_nb101_enumerate,
}


def run(names: list[str] | None, workdir: Path, quick: bool = False, data_dir=None) -> list[dict]:
    """Run the named benchmarks (all by default), write ``workdir/benchmark.json``."""
    names = list(BENCHMARKS) if not names else names
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise app.UsageError(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}")
    records = [BENCHMARKS[name](quick, data_dir) for name in names]
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "benchmark.json").write_text(json.dumps(records, indent=2))
    return records


def main(argv):
    del argv
    workdir = Path(_WORKDIR.value or f"runs/benchmark-{time.strftime('%Y%m%d-%H%M%S')}")
    records = run(_ONLY.value, workdir, _QUICK.value, _DATA_DIR.value)
    print(json.dumps(records, indent=2))


if __name__ == "__main__":
    app.run(main)
