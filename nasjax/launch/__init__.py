"""The launch scripts: ``python -m nasjax.launch.<name>``, or ``nasjax <name>`` once installed
(see each module, and nasjax/launch/common.py); a checkout also runs them as
``python -m launch.<name>``.

Run as ``python -m nasjax.launch.<name>``, importing this package first installs a SIGINT/SIGTERM
handler for the start-up (importing JAX and parsing the command line take seconds, before
:func:`nasjax.launch.common.run_main` installs a run's handling): a signal then ends the process
with one line and exit code 130 / 143, and nothing was written.
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


def stop_while_starting() -> None:
    """Installs the start-up handler of SIGINT and SIGTERM (see the module docstring)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop_while_starting)


if sys.argv[:1] == ["-m"]:  # imported by runpy for `python -m ...launch.<name>`, not by a library
    stop_while_starting()
