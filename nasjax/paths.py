"""Where nasjax keeps its data: ``$NASJAX_DATA``, default ``~/.cache/nasjax``."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DATA = Path(__file__).parent / "data"


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The data directory: ``override`` if given, else ``$NASJAX_DATA``, else ``~/.cache/nasjax``."""
    if override is not None:
        return Path(override).expanduser()
    return Path(os.environ.get("NASJAX_DATA", "~/.cache/nasjax")).expanduser()
