"""The launch scripts: ``python -m launch.<name>`` (see each module, and launch/common.py).

Run as ``python -m launch.<name>``, importing this package first installs a SIGINT/SIGTERM
handler for the start-up (importing JAX and parsing the command line take seconds, before
:func:`launch.common.run_main` installs a run's handling): a signal then ends the process with
one line and exit code 130 / 143, and nothing was written.
"""

from __future__ import annotations

import os
import signal
import sys


def _stop_while_starting(signum: int, frame: object) -> None:
    """One line, then exit ``128 + signum`` at once (nothing to keep yet)."""
    del frame
    name = signal.Signals(signum).name
    os.write(2, f"interrupted by {name} while starting; no output was written\n".encode())
    os._exit(128 + signum)


if sys.argv[:1] == ["-m"]:  # imported by runpy for `python -m launch.<name>`, not by a library
    for _signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(_signum, _stop_while_starting)
