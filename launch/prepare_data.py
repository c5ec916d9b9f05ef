"""Build nasjax's data files once, into the data directory ($NASJAX_DATA, ~/.cache/nasjax).

  python -m launch.prepare_data --benchmark=nb101-space
  python -m launch.prepare_data --benchmark=nb101-surrogate
  python -m launch.prepare_data --benchmark=nb101 --source=PATH/nasbench_only108.tfrecord
  python -m launch.prepare_data --benchmark=nb101-neighbours
  python -m launch.prepare_data --benchmark=nb101-real-20k --source=PATH/shared/data  # maintainers

The targets are the registered benchmarks that can be prepared and the registered spaces'
caches (``prepare`` in their registrations).
"""

from __future__ import annotations

import json

from absl import app, flags

from nasjax import registry
from nasjax.paths import data_dir as resolve_data_dir

_BENCHMARK = flags.DEFINE_string("benchmark", "nb101-space",
                                 "What to build (a target; --help lists them).")
_SOURCE = flags.DEFINE_string(
    "source", None,
    "Input: the official file or folder of the target (nb101: nasbench_only108.tfrecord; "
    "nb101-real-20k: the folder of the real subsets).")
_DATA_DIR = flags.DEFINE_string("data_dir", None,
                                "Data directory (default $NASJAX_DATA or ~/.cache/nasjax).")


def targets() -> dict[str, str]:
    """Every preparable target -> ``"module:function"`` of its ``prepare(source, data_dir,
    progress)``."""
    found = {}
    for name in registry.names("space"):
        found.update(registry.entry("space", name).info.get("prepare", {}))
    for name in registry.names("benchmark"):
        prepare = registry.entry("benchmark", name).info.get("prepare")
        if prepare:
            found[name] = prepare
    return found


def build(target: str, source: str | None, data_dir) -> dict:
    """Build one target and return its summary (printed by ``main``)."""
    known = targets()
    if target not in known:
        raise app.UsageError(f"unknown target {target!r}; choose one of {', '.join(known)}")
    prepare = registry.resolve(known[target])
    return prepare(source, data_dir, progress=True)


def main(argv):
    del argv
    directory = resolve_data_dir(_DATA_DIR.value)
    summary = build(_BENCHMARK.value, _SOURCE.value, directory)
    print(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    app.run(main)
