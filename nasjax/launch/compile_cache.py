"""The launches' persistent compilation cache: a program XLA compiled once is read back by the
next launch that builds it (the same config, shapes, JAX and XLA flags) instead of compiled
again. The numbers are the same: it is the same executable.

Where: ``$NASJAX_COMPILATION_CACHE``, else ``~/.cache/nasjax-compiled``; ``off`` (or ``0``, or
empty) turns it off. JAX's own ``JAX_COMPILATION_CACHE_DIR`` (or ``jax_compilation_cache_dir``
set before the launch) wins over both. The directory is kept under ``MAX_BYTES`` by JAX, least
recently used entries first, unless ``JAX_COMPILATION_CACHE_MAX_SIZE`` says otherwise.
A directory that cannot be created or written (or a ``~`` without a home directory) leaves the
cache off, without a word.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

ENV = "NASJAX_COMPILATION_CACHE"
DEFAULT_DIR = "~/.cache/nasjax-compiled"
OFF = frozenset({"", "0", "off", "false", "no"})
MAX_BYTES = 2 << 30  # an Ape-X config's programs take ~20 MB, an evaluation's ~1.3 MB


def directory(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The cache directory ``environ`` asks for (see the module docstring), None when off."""
    value = environ.get(ENV, DEFAULT_DIR)
    if value.strip().lower() in OFF:
        return None
    try:
        return Path(value).expanduser()
    except RuntimeError:  # "~" and no home directory to expand it to
        return None


def enable(environ: Mapping[str, str] = os.environ) -> Path | None:
    """Points JAX's persistent compilation cache at :func:`directory` unless the caller chose
    a cache already; returns the directory in use (None when none is).

    Call it before the process compiles anything: JAX decides once per process.
    """
    import jax

    chosen = jax.config.jax_compilation_cache_dir
    if chosen:
        return Path(chosen)
    path = directory(environ)
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(path, os.W_OK | os.X_OK):
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    bounded = importlib.util.find_spec("filelock") is not None  # JAX's eviction needs it
    if bounded and "JAX_COMPILATION_CACHE_MAX_SIZE" not in environ:
        jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    return path
