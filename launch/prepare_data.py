"""Build nasjax's data files once, into the data directory ($NASJAX_DATA, ~/.cache/nasjax).

  python -m launch.prepare_data --benchmark=nb101-space
  python -m launch.prepare_data --benchmark=nb101-surrogate
  python -m launch.prepare_data --benchmark=nb101 --source=PATH/nasbench_only108.tfrecord
  python -m launch.prepare_data --benchmark=nb101-neighbours
  python -m launch.prepare_data --benchmark=nb101-real-20k --source=PATH/shared/data  # maintainers
"""

from __future__ import annotations

import json
import time

import numpy as np
from absl import app, flags

from nasjax.paths import PACKAGE_DATA, data_dir as resolve_data_dir

TARGETS = ("nb101-space", "nb101-surrogate", "nb101", "nb101-neighbours", "nb101-real-20k")

_BENCHMARK = flags.DEFINE_enum("benchmark", "nb101-space", TARGETS, "What to build.")
_SOURCE = flags.DEFINE_string(
    "source", None,
    "Input: the official nasbench_only108.tfrecord (nb101), or the folder of the real "
    "subsets nb101_val_20k.json / nb101_graphs_1k.json (nb101-real-20k).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Data directory (default $NASJAX_DATA or ~/.cache/nasjax).")


def space_summary(data_dir, seconds: float) -> dict:
    """Cells per vertex count and the edge histogram of the enumeration."""
    from nasjax.spaces import nb101

    cells = nb101.enumerate_cells(data_dir, progress=False)
    vertices = np.bincount(np.asarray(nb101.num_vertices(cells)), minlength=8)
    edges = np.bincount(np.asarray(nb101.num_edges(cells)), minlength=nb101.MAX_EDGES + 1)
    return {
        "benchmark": "nb101-space",
        "cells": int(cells.shape[0]),
        "cells_per_vertex_count": {str(n): int(vertices[n]) for n in range(2, 8)},
        "cells_per_edge_count": {str(e): int(edges[e]) for e in range(len(edges))},
        "seconds": round(seconds, 1),
        "file": str(nb101._space_path(data_dir)),
    }


def build(target: str, source: str | None, data_dir) -> dict:
    """Build one target and return its summary (printed by ``main``)."""
    start = time.perf_counter()
    if target == "nb101-space":
        from nasjax.spaces import nb101

        nb101.load_enumeration(data_dir, progress=True)
        return space_summary(data_dir, time.perf_counter() - start)
    if target == "nb101-surrogate":
        from nasjax.benchmarks import nb101_surrogate

        return nb101_surrogate.build(data_dir, progress=True)
    if target == "nb101":
        from nasjax.benchmarks import nb101_official

        if source is None:
            raise app.UsageError("--benchmark=nb101 needs --source=PATH/nasbench_only108.tfrecord")
        return nb101_official.convert(source, data_dir / "nb101.npz", progress=True)
    if target == "nb101-neighbours":
        from nasjax.spaces import neighbour_table

        return neighbour_table.build(data_dir, progress=True)
    if target == "nb101-real-20k":
        from nasjax.benchmarks import nb101_real

        if source is None:
            raise app.UsageError("--benchmark=nb101-real-20k needs --source=FOLDER with "
                                 "nb101_val_20k.json")
        return nb101_real.write_shipped(source, PACKAGE_DATA / "nb101_real_20k.npz")
    raise app.UsageError(f"unknown target {target!r}")


def main(argv):
    del argv
    directory = resolve_data_dir(_DATA_DIR.value)
    summary = build(_BENCHMARK.value, _SOURCE.value, directory)
    print(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    app.run(main)
