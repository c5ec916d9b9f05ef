"""Build nasjax's data files once, into the data directory ($NASJAX_DATA, ~/.cache/nasjax).

  python -m launch.prepare_data --benchmark=nb101-space
  python -m launch.prepare_data --benchmark=nb101-surrogate
  python -m launch.prepare_data --benchmark=nb101 --source=PATH/nasbench_only108.tfrecord
  python -m launch.prepare_data --benchmark=nb101-neighbours
  python -m launch.prepare_data --benchmark=nb301-surrogate
  python -m launch.prepare_data --benchmark=nb301 --source=PATH/nb_models/xgb_v1.0
  python -m launch.prepare_data --benchmark=nb101-real-20k --source=PATH/shared/data  # maintainers

The targets are the registered benchmarks that can be prepared and the registered spaces'
caches (``prepare`` in their registrations).
"""

from __future__ import annotations

import json

from absl import flags

from launch import common
from nasjax import paths, registry


def targets() -> dict[str, str]:
    """Every preparable target -> ``"module:function"`` of its ``prepare(source, data_dir,
    progress)``: the registered spaces' caches, then the registered benchmarks that can be
    prepared."""
    found = {}
    for name in registry.names("space"):
        found.update(registry.entry("space", name).info.get("prepare", {}))
    for name in registry.names("benchmark"):
        prepare = registry.entry("benchmark", name).info.get("prepare")
        if prepare:
            found[name] = prepare
    return found


_BENCHMARK = flags.DEFINE_enum("benchmark", "nb101-space", list(targets()), "What to build.")
_SOURCE = flags.DEFINE_string(
    "source", None,
    "Input: the official file or folder of the target (nb101: nasbench_only108.tfrecord; "
    "nb301: the xgb_v1.0 folder of the official nb_models, one subfolder per member; "
    "nb101-real-20k: the folder of the real subsets).")
_DATA_DIR = flags.DEFINE_string("data_dir", None,
                                "Data directory (default $NASJAX_DATA or ~/.cache/nasjax).")


def build(target: str, source: str | None, data_dir) -> dict:
    """Build one target and return its summary (printed by ``main``)."""
    return registry.resolve(targets()[target])(source, data_dir, progress=True)


def main(argv):
    del argv
    source = common.path_flag(_SOURCE, "any")
    directory = paths.writable_dir(paths.data_dir(_DATA_DIR.value))
    with common.config_errors():  # a source the target cannot read
        summary = build(_BENCHMARK.value, None if source is None else str(source), directory)
    print(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    common.run_main(main)
