"""Build nasjax's data files once, into the data directory ($NASJAX_DATA, ~/.cache/nasjax).

  python -m launch.prepare_data --benchmark=nb101-space
  python -m launch.prepare_data --benchmark=nb101-surrogate
  python -m launch.prepare_data --benchmark=nb101-surrogate --refit  # maintainers: needs xgboost
  python -m launch.prepare_data --benchmark=nb101 --source=PATH/nasbench_only108.tfrecord
  python -m launch.prepare_data --benchmark=nb101-neighbours
  python -m launch.prepare_data --benchmark=nb301-surrogate
  python -m launch.prepare_data --benchmark=nb301 --source=PATH/nb_models/xgb_v1.0
  python -m launch.prepare_data --benchmark=nb101-real-20k --source=PATH/shared/data  # maintainers
  nasjax prepare_data --benchmark=...  # installed, from any directory

Under several processes (``--num_processes``, ``--distributed=auto``) process 0 alone reads the
source and writes the files; the others wait for it, write nothing and print one line (a host
whose data directory process 0 does not share runs prepare_data itself, without those flags).

The targets are the registered benchmarks that can be prepared and the registered spaces'
caches (``prepare`` in their registrations). ``--refit`` fits a shipped surrogate again with the
installed XGBoost (``pip install 'nasjax[refit]'``) and writes its package into the data
directory, for a maintainer to copy into ``nasjax/data``.
"""

from __future__ import annotations

import json
import os

from absl import flags

from nasjax import distributed, paths, registry
from nasjax.launch import common, multihost

DONE = "process 0 built the files into its data directory"  # the others' line (multihost)
WAIT_SECONDS = 24 * 3600  # how long the others wait for process 0's build (it may take hours)


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
_REFIT = flags.DEFINE_bool(
    "refit", False,
    "Fit the surrogate again with the installed XGBoost and write its package (the fitted trees "
    "and their metadata) into the data directory, instead of using the shipped one.")
_DATA_DIR = flags.DEFINE_string("data_dir", None,
                                "Data directory (default $NASJAX_DATA or ~/.cache/nasjax).")


def refit_targets() -> dict[str, str]:
    """The benchmarks whose shipped surrogate ``--refit`` fits again -> ``"module:function"`` of
    their ``refit(data_dir, progress)``."""
    return {name: registry.entry("benchmark", name).info["refit"]
            for name in registry.names("benchmark")
            if "refit" in registry.entry("benchmark", name).info}


def build(target: str, source: str | None, data_dir, refit: bool = False) -> dict:
    """Build (or with ``refit``, fit again) one target and return its summary (printed by
    ``main``)."""
    if refit:
        return registry.resolve(refit_targets()[target])(data_dir, progress=True)
    return registry.resolve(targets()[target])(source, data_dir, progress=True)


def check_refit(target: str) -> None:
    """Raise a one-line ConfigError when ``--refit`` cannot run: a target without a shipped
    surrogate, or XGBoost not installed."""
    if target not in refit_targets():
        raise common.ConfigError(f"--refit applies to {', '.join(refit_targets())}, not {target}")
    # Idle OpenMP threads sleep instead of spinning: on a busy machine a spinning XGBoost fit
    # ran ~100x slower (nb301-surrogate: 447 s against 4.5 s). Same trees either way.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import xgboost  # noqa: F401
    except ImportError:
        raise common.ConfigError("--refit fits with XGBoost, which is not installed: "
                                 "pip install 'nasjax[refit]'") from None


def prepare() -> None:
    """Checks the flags, builds the target and prints its summary."""
    source = common.path_flag(_SOURCE, "any")
    if _REFIT.value:
        check_refit(_BENCHMARK.value)
    directory = paths.writable_dir(paths.data_dir(_DATA_DIR.value))
    with common.config_errors():  # a source the target cannot read
        summary = build(_BENCHMARK.value, None if source is None else str(source), directory,
                        refit=_REFIT.value)
    print(json.dumps(summary, indent=2, default=str))


def main(argv):
    del argv
    if not multihost.settings().enabled:
        prepare()
        return
    failure = None
    if multihost.is_writer():
        try:
            prepare()
        except common.ONE_LINE_ERRORS as error:
            failure = error
    # every process waits here for process 0's files, and learns whether it failed
    message = distributed.announce("prepare_data", None if failure is None else str(failure),
                                   WAIT_SECONDS)
    if failure is not None:
        raise failure
    if message is not None:
        raise common.ConfigError(f"process 0 could not build {_BENCHMARK.value}: {message}")


if __name__ == "__main__":
    common.run_main(main, done=DONE)
