"""The launch scripts of an installed nasjax, from any directory:

  nasjax JOB [FLAGS]                (or: python -m nasjax.launch JOB [FLAGS])
  nasjax search --workdir=runs/search                   # the main job, configs/search.py
  nasjax search --config=:remaade_short --workdir=DIR   # a packaged preset, no path needed
  nasjax evaluate --config=:quick --workdir=DIR
  nasjax JOB --help                                     # its flags, presets and config fields

JOB is one of search, evaluate, train_apex, compare_apex, prepare_data, benchmark: ``nasjax JOB``
runs ``python -m nasjax.launch.JOB``. ``--config`` defaults to the packaged preset file
``nasjax/configs/<family>.py``, ``--config=:PRESET`` names one of its presets, and
``--config=PATH[:PRESET]`` a config file of your own.
"""

from __future__ import annotations

import runpy
import sys

from nasjax.launch import stop_while_starting
from nasjax.launch.common import EXIT_USAGE

JOBS = ("search", "evaluate", "train_apex", "compare_apex", "prepare_data", "benchmark")


def main(argv: list[str] | None = None) -> int:
    """Runs the job ``argv[1]`` with the flags after it as its command line (``sys.argv``).

    Returns:
      The exit code when no job runs (help: 0, a missing or unknown job: 2); a job exits the
      process itself.
    """
    argv = sys.argv if argv is None else argv
    stop_while_starting()
    job = argv[1] if len(argv) > 1 else None
    if job in ("-h", "--help"):
        sys.stdout.write(__doc__)
        return 0
    if job not in JOBS:
        what = "no job given" if job is None else f"unknown job {job!r}"
        sys.stderr.write(f"error: {what}; run nasjax JOB [FLAGS] with JOB one of "
                         f"{', '.join(JOBS)} (nasjax --help)\n")
        return EXIT_USAGE
    sys.argv = [f"nasjax {job}", *argv[2:]]
    runpy.run_module(f"nasjax.launch.{job}", run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
