"""Where nasjax keeps its data: ``$NASJAX_DATA``, default ``~/.cache/nasjax``."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

PACKAGE_DATA = Path(__file__).parent / "data"


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The data directory: ``override`` if given, else ``$NASJAX_DATA``, else ``~/.cache/nasjax``."""
    if override is not None:
        return Path(override).expanduser()
    return Path(os.environ.get("NASJAX_DATA", "~/.cache/nasjax")).expanduser()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; rename it onto ``path`` only when the
    ``with`` block succeeds, so a failure never leaves a half-written file (or a temporary one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=path.suffix + ".tmp")
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
