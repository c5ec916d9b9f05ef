"""Where nasjax keeps its data (``$NASJAX_DATA``, default ``~/.cache/nasjax``), and how it
writes and checks the files there.

Every file nasjax writes into the data directory goes through :func:`verified_write`: a
temporary file renamed into place, plus a small sidecar ``<file>.sha256.json`` holding the
file's size and sha256 digest. Loaders call :func:`verify` (official files converted once:
a mismatch is an error naming the command that remakes the file) or :func:`cached` (caches
nasjax rebuilds itself: a mismatch is a warning, then the caller rebuilds). A file that
merely opens is not trusted: a truncated, shuffled or replaced file fails its digest.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

PACKAGE_DATA = Path(__file__).parent / "data"
DEFAULT_DATA_DIR = "~/.cache/nasjax"
SIDECAR_SUFFIX = ".sha256.json"  # <file><suffix> holds {"file", "bytes", "sha256"}
TEMP_SUFFIX = ".tmp"
# Temporary files of the old mkstemp naming ("tmpXXXXXXXX<suffix>.tmp") carry no owner; one
# untouched this long belongs to a killed build (a build writes its file within seconds).
LEGACY_TEMP_AGE_SECONDS = 3600.0
_CHUNK = 1 << 20  # bytes hashed per read

_log = logging.getLogger(__name__)
_NOT_A_DIRECTORY = "{path} is not a directory; choose a directory ($NASJAX_DATA or --data_dir)"


class DataFileError(ValueError):
    """A data file is missing, corrupt or unverified; the message names the file, the problem
    and the command that remakes it.

    Attributes:
      path: the file.
      problem: what is wrong, in words.
      remake: the command that remakes the file.
    """

    def __init__(self, path: Path, problem: str, remake: str) -> None:
        super().__init__(f"{path}: {problem}; remake it with: {remake}")
        self.path, self.problem, self.remake = path, problem, remake


class DataDirError(ValueError):
    """The data directory (or a directory nasjax must write into) is unusable."""


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The data directory: ``override`` if given, else ``$NASJAX_DATA``, else ``~/.cache/nasjax``.

    Args:
      override: a directory that replaces the default (a ``--data_dir`` flag, a config field).

    Returns:
      The directory, user-expanded (it may not exist yet).

    Raises:
      DataDirError: when ``override`` or a set ``$NASJAX_DATA`` is empty (an empty path would
        mean the current directory), or names something that is not a directory.
    """
    if override is not None:
        if not str(override).strip():
            raise DataDirError("the data directory given is empty; pass a directory, or leave it "
                               f"unset for $NASJAX_DATA or {DEFAULT_DATA_DIR}")
        path = Path(override).expanduser()
    else:
        value = os.environ.get("NASJAX_DATA")
        if value is not None and not value.strip():
            raise DataDirError(f"NASJAX_DATA is set but empty; set it to a directory, or unset it "
                               f"for {DEFAULT_DATA_DIR}")
        path = Path(value or DEFAULT_DATA_DIR).expanduser()
    if path.exists() and not path.is_dir():
        raise DataDirError(_NOT_A_DIRECTORY.format(path=path))
    return path


def writable_dir(path: str | os.PathLike) -> Path:
    """Makes sure ``path`` is a directory nasjax can write into, creating it when missing.

    Args:
      path: the directory.

    Returns:
      ``path`` as a Path.

    Raises:
      DataDirError: one line naming the directory when it cannot be created, is not a
        directory, or is not writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DataDirError(_NOT_A_DIRECTORY.format(path=path))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataDirError(f"cannot create the directory {path}: {error.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataDirError(f"the directory {path} is not writable; choose a writable one "
                           "($NASJAX_DATA or --data_dir)")
    return path


def usable_dir(path: str | os.PathLike) -> Path:
    """The data directory of a launch that reads it: an existing directory as it is (read-only
    is fine when its files are built; a cache that must be built checks that its directory is
    writable first, :func:`cached`), a missing one created.

    Args:
      path: the directory.

    Returns:
      ``path`` as a Path.

    Raises:
      DataDirError: one line naming the directory when it is not a directory, or is missing
        and cannot be created.
    """
    path = Path(path)
    return path if path.is_dir() else writable_dir(path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Removes temporary files that killed writers of ``path`` left beside it.

    A temporary file of :func:`atomic_write` is ``<name>.<pid>.<token>.tmp``: it is stale when
    process ``pid`` no longer runs. A file of the old ``tmpXXXXXXXX<suffix>.tmp`` naming is stale
    when untouched for ``LEGACY_TEMP_AGE_SECONDS``.

    Args:
      path: the target file.

    Returns:
      The removed files.
    """
    path = Path(path)
    removed = []
    for candidate in path.parent.glob(f"{path.name}.*{TEMP_SUFFIX}"):
        pid = candidate.name[len(path.name) + 1:].split(".")[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            removed.append(candidate)
    now = time.time()
    for candidate in path.parent.glob(f"tmp*{path.suffix}{TEMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            if now - candidate.stat().st_mtime > LEGACY_TEMP_AGE_SECONDS:
                removed.append(candidate)
    for candidate in removed:
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()
    return removed


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Opens a temporary file beside ``path`` for writing; renames it onto ``path`` only when the
    ``with`` block succeeds, so a failure never leaves a half-written file (or a temporary one).
    After SIGINT or SIGTERM (outside a critical section) the file is not put in place:
    :class:`~nasjax.evaluation.interrupts.Interrupted` is raised instead.

    The file is created with the umask's mode (as ``open`` would), and temporary files that
    killed writers of the same target left behind are removed first.

    Args:
      path: the file to write; its directory is created when missing.
      mode: ``"wb"`` or ``"w"``.

    Yields:
      The open temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666 & ~umask
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        # Standard library only (this file also runs alone): signal handling, when active, has
        # its module loaded already.
        interrupts = sys.modules.get("nasjax.evaluation.interrupts")
        if interrupts is not None:
            interrupts.check_before_write()
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def sidecar(path: str | os.PathLike) -> Path:
    """The checksum file of ``path``: ``<path>.sha256.json``."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256(path: str | os.PathLike) -> str:
    """The sha256 hex digest of a file (what checksum files and shipped metadata record)."""
    return _digest(Path(path))


def seal(path: str | os.PathLike) -> Path:
    """Writes the checksum file of ``path`` as the file is now (size and sha256).

    Args:
      path: an existing file.

    Returns:
      The checksum file.
    """
    path = Path(path)
    record = {"file": path.name, "bytes": path.stat().st_size, "sha256": _digest(path)}
    with atomic_write(sidecar(path), "w") as handle:
        json.dump(record, handle, indent=1)
        handle.write("\n")
    return sidecar(path)


@contextlib.contextmanager
def verified_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """:func:`atomic_write`, then :func:`seal`: the way to write every file of the data directory.

    A writer killed between the rename and the checksum leaves a file that fails
    :func:`verify` (the old checksum describes the old content), never one that passes it; a
    write that fails leaves the old file and its checksum as they were.

    Args:
      path: the file to write.
      mode: ``"wb"`` or ``"w"``.

    Yields:
      The open temporary file.

    Raises:
      DataDirError: when the directory cannot be created or written.
    """
    path = Path(path)
    writable_dir(path.parent)
    with atomic_write(path, mode) as handle:
        yield handle
    seal(path)


def verify(path: str | os.PathLike, remake: str) -> None:
    """Checks ``path`` against its checksum file: present, same size, same sha256 digest.

    Args:
      path: a file written by :func:`verified_write`.
      remake: the command that remakes the file, for the error message.

    Raises:
      DataFileError: naming the file, the problem (missing, no checksum file, size or digest
        mismatch) and ``remake``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "missing", remake)
    try:
        record = json.loads(sidecar(path).read_text())
        expected = (record["file"], int(record["bytes"]), str(record["sha256"]))
    except FileNotFoundError:
        raise DataFileError(path, f"no checksum file {sidecar(path).name} (written by an older "
                            "nasjax, or copied without it)", remake) from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataFileError(path, f"unreadable checksum file {sidecar(path).name} ({error!r})",
                            remake) from None
    name, size, digest = expected
    if name != path.name:
        raise DataFileError(path, f"its checksum file describes {name!r}", remake)
    actual = path.stat().st_size
    if actual != size:
        raise DataFileError(path, f"{actual:,} bytes, expected {size:,} (truncated or replaced)",
                            remake)
    if _digest(path) != digest:
        raise DataFileError(path, "sha256 digest differs from its checksum file (corrupted or "
                            "replaced)", remake)


def cached(path: str | os.PathLike, remake: str) -> bool:
    """Whether a cache nasjax can rebuild is present and verified; the caller builds it if not.

    A missing cache returns False quietly; one that fails :func:`verify` logs one warning line
    (the file, the problem) and returns False, so the caller rebuilds it. Before returning
    False, the directory is checked to be writable, so that a build never runs only to fail
    at the end.

    Args:
      path: the cache file.
      remake: the command that rebuilds it, for the warning.

    Returns:
      True when the file can be trusted.

    Raises:
      DataDirError: when the cache must be built and its directory is unusable.
    """
    path = Path(path)
    if path.exists():
        try:
            verify(path, remake)
            return True
        except DataFileError as error:
            _log.warning("%s: %s; rebuilding it", error.path, error.problem)
    writable_dir(path.parent)
    return False


def read_package_npz(path: str | os.PathLike, names: tuple[str, ...], *, what: str, remake: str,
                     layout: int, count: int, unit: str) -> tuple[dict, dict]:
    """The arrays of a data file shipped in the package (an ``.npz`` with a JSON ``meta``).

    Args:
      path: the file.
      names: the arrays to read, ``"meta"`` among them.
      what: the file in words, for errors (``"real NAS-Bench-101"``).
      remake: the maintainers' command that rebuilds it.
      layout: the expected ``meta["format"]``.
      count: the expected leading length of every array.
      unit: what the rows are, for errors (``"cells"``).
    Returns:
      ``(arrays without meta, meta)``.
    Raises:
      FileNotFoundError / ValueError naming the file when it is missing, corrupt, of another
      layout or length.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"the shipped {what} file {path} is missing; reinstall nasjax, "
                                f"or (maintainers) rebuild it with:\n  {remake}")
    import numpy as np  # paths itself needs no NumPy

    try:
        with np.load(path) as data:
            arrays = {name: data[name] for name in names}
        meta = json.loads(arrays.pop("meta").tobytes().decode())
    except Exception as error:
        raise ValueError(f"the shipped {what} file {path} is corrupt: {error}; "
                         "reinstall nasjax") from error
    if meta.get("format") != layout:
        raise ValueError(f"{path} has format {meta.get('format')}, expected {layout}")
    if any(len(a) != count for a in arrays.values()):
        raise ValueError(f"{path} does not hold {count} {unit}")
    return arrays, meta
