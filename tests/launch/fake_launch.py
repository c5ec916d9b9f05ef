"""A tiny launch script for tests/launch/test_common.py: checks its data directory, then writes
its config and a summary into a run directory.

  python -m tests.launch.fake_launch [--config=PATH[:PRESET]] [--workdir=DIR] [--overwrite]
"""

from __future__ import annotations

from absl import flags

from launch import common
from nasjax import paths

_CONFIG = common.define_config("fake_config", "Fake config.", package="tests.launch")
_RUN = common.define_run_dir("fake")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Data directory (default $NASJAX_DATA).")


def main(argv):
    del argv
    config = _CONFIG.value
    data_dir = config.data_dir or None  # '' in the config means the default
    paths.usable_dir(paths.data_dir(data_dir if _DATA_DIR.value is None else _DATA_DIR.value))
    with _RUN.open() as run:
        run.write_config(config.to_dict())
        if config.wait:
            print("waiting", flush=True)
            while True:
                sum(range(1000))
        run.write_summary({"num_trials": config.num_trials})


if __name__ == "__main__":
    common.run_main(main, _CONFIG)
