"""Specification of nasjax.paths: the data directory, atomic writes and verified data files."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from nasjax import paths

REMAKE = "python -m launch.prepare_data --benchmark=thing"


# ----------------------------------------------------------------------------- data directory


def test_data_dir_reads_nasjax_data_and_defaults_to_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("NASJAX_DATA", str(tmp_path / "data"))
    assert paths.data_dir() == tmp_path / "data"
    assert paths.data_dir(tmp_path / "other") == tmp_path / "other"
    monkeypatch.delenv("NASJAX_DATA")
    assert paths.data_dir() == Path("~/.cache/nasjax").expanduser()


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_nasjax_data_is_an_error_not_the_current_directory(monkeypatch, value):
    monkeypatch.setenv("NASJAX_DATA", value)
    with pytest.raises(paths.DataDirError, match="^NASJAX_DATA is set but empty; set it to a "):
        paths.data_dir()


def test_an_empty_override_is_an_error(monkeypatch):
    monkeypatch.delenv("NASJAX_DATA", raising=False)
    with pytest.raises(paths.DataDirError, match="^the data directory given is empty"):
        paths.data_dir("")


def test_a_data_dir_that_is_a_file_is_named(monkeypatch, tmp_path):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("NASJAX_DATA", str(tmp_path / "file"))
    with pytest.raises(paths.DataDirError, match=f"^{tmp_path}/file is not a directory"):
        paths.data_dir()
    with pytest.raises(paths.DataDirError, match="is not a directory"):
        paths.writable_dir(tmp_path / "file")


def test_writable_dir_creates_missing_parents(tmp_path):
    assert paths.writable_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir()


def test_a_directory_below_a_file_cannot_be_created(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(paths.DataDirError,
                       match=f"^cannot create the directory {tmp_path}/file/sub: Not a directory$"):
        paths.writable_dir(tmp_path / "file" / "sub")


# Root writes through any mode bits, so the read-only case runs as the unprivileged "nobody",
# with the system Python running the source of nasjax/paths.py (standard library only), given
# on stdin: the checkout itself may be unreadable to nobody (a mktemp directory is 0700).
_AS_NOBODY = """
import sys, types
paths = sys.modules["paths"] = types.ModuleType("paths")
paths.__file__ = sys.argv[1]
exec(compile(sys.stdin.read(), sys.argv[1], "exec"), paths.__dict__)
try:
    paths.{call}
except paths.DataDirError as error:
    print(error)
"""


def _run_as_nobody(call: str, *args: str) -> str:
    python = shutil.which("python3", path="/usr/bin:/bin")
    if os.geteuid() != 0 or python is None:
        pytest.skip("needs root (to become nobody) and /usr/bin/python3")
    result = subprocess.run([python, "-c", _AS_NOBODY.format(call=call), paths.__file__, *args],
                            input=Path(paths.__file__).read_text(), user=65534, group=65534,
                            capture_output=True, text=True, check=True, cwd="/")
    return result.stdout.strip()


def test_a_read_only_empty_data_dir_gives_one_line_before_any_build():
    directory = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        directory.chmod(0o555)
        message = _run_as_nobody("cached(sys.argv[2] + '/cache.npz', 'remake')", str(directory))
        assert message == (f"the directory {directory} is not writable; choose a writable one "
                           "($NASJAX_DATA or --data_dir)")
    finally:
        shutil.rmtree(directory)


def test_a_read_only_complete_data_dir_is_usable_for_reading():
    directory = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        with paths.verified_write(directory / "cache.npz") as handle:
            handle.write(b"built")
        directory.chmod(0o555)
        call = "usable_dir(sys.argv[2]); print(paths.cached(sys.argv[2] + '/cache.npz', 'remake'))"
        assert _run_as_nobody(call, str(directory)) == "True"
        refused = _run_as_nobody("writable_dir(sys.argv[2])", str(directory))
        assert refused.endswith("is not writable; choose a writable one ($NASJAX_DATA or "
                                "--data_dir)")
    finally:
        shutil.rmtree(directory)


def test_usable_dir_creates_a_missing_directory_and_refuses_a_file(tmp_path):
    assert paths.usable_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(paths.DataDirError, match="is not a directory"):
        paths.usable_dir(tmp_path / "file")


# ----------------------------------------------------------------------------- atomic writes


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        with paths.atomic_write(tmp_path / "f.npz") as handle:
            handle.write(b"abc")
        with paths.verified_write(tmp_path / "g.npz") as handle:
            handle.write(b"abc")
    finally:
        os.umask(old)
    for name in ("f.npz", "g.npz", "g.npz.sha256.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode


def test_a_failed_write_leaves_neither_file_nor_temporary(tmp_path):
    with pytest.raises(RuntimeError), paths.atomic_write(tmp_path / "f.npz") as handle:
        handle.write(b"half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temporaries_of_killed_writers_are_removed_before_writing(tmp_path):
    dead = tmp_path / f"f.npz.{_dead_pid()}.0a1b2c3d.tmp"
    alive = tmp_path / f"f.npz.{os.getppid()}.0a1b2c3d.tmp"  # a concurrent writer: kept
    legacy_old = tmp_path / "tmpk2j4x9_q.npz.tmp"  # mkstemp naming of older nasjax
    legacy_new = tmp_path / "tmpa8d7f6s5.npz.tmp"
    other = tmp_path / f"g.npz.{_dead_pid()}.0a1b2c3d.tmp"  # another target's: not ours
    for path in (dead, alive, legacy_old, legacy_new, other):
        path.touch()
    stale = paths.LEGACY_TEMP_AGE_SECONDS + 60
    os.utime(legacy_old, (legacy_old.stat().st_atime - stale, legacy_old.stat().st_mtime - stale))
    with paths.atomic_write(tmp_path / "f.npz") as handle:
        handle.write(b"abc")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["f.npz", alive.name, legacy_new.name, other.name])


# ----------------------------------------------------------------------------- verified files


@pytest.fixture
def sealed(tmp_path) -> Path:
    path = tmp_path / "table.npz"
    with paths.verified_write(path) as handle:
        handle.write(bytes(range(256)) * 4)
    return path


def test_verified_write_records_size_and_sha256(sealed):
    record = json.loads(paths.sidecar(sealed).read_text())
    # sha256 of bytes 0..255 repeated 4 times (computed once with hashlib).
    assert record == {"file": "table.npz", "bytes": 1024, "sha256":
                      "785b0751fc2c53dc14a4ce3d800e69ef9ce1009eb327ccf458afe09c242c26c9"}
    paths.verify(sealed, REMAKE)


def test_a_flipped_byte_fails_the_digest(sealed):
    data = bytearray(sealed.read_bytes())
    data[500] ^= 1
    sealed.write_bytes(bytes(data))
    with pytest.raises(paths.DataFileError) as error:
        paths.verify(sealed, REMAKE)
    assert str(error.value) == (f"{sealed}: sha256 digest differs from its checksum file "
                                f"(corrupted or replaced); remake it with: {REMAKE}")


def test_a_truncated_file_fails_the_size(sealed):
    sealed.write_bytes(sealed.read_bytes()[:512])
    with pytest.raises(paths.DataFileError, match="512 bytes, expected 1,024 "
                       r"\(truncated or replaced\); remake it with: python -m launch"):
        paths.verify(sealed, REMAKE)


def test_a_missing_checksum_file_is_named(sealed):
    paths.sidecar(sealed).unlink()
    with pytest.raises(paths.DataFileError, match="no checksum file table.npz.sha256.json"):
        paths.verify(sealed, REMAKE)


def test_a_checksum_file_of_another_file_does_not_vouch(sealed):
    copy = sealed.with_name("copy.npz")
    shutil.copy(sealed, copy)
    shutil.copy(paths.sidecar(sealed), paths.sidecar(copy))
    with pytest.raises(paths.DataFileError, match="its checksum file describes 'table.npz'"):
        paths.verify(copy, REMAKE)


def test_a_garbled_checksum_file_is_named(sealed):
    paths.sidecar(sealed).write_text("{")
    with pytest.raises(paths.DataFileError, match="unreadable checksum file"):
        paths.verify(sealed, REMAKE)


def test_a_missing_file_is_named_with_its_command(tmp_path):
    with pytest.raises(paths.DataFileError, match=f"missing; remake it with: {REMAKE}$"):
        paths.verify(tmp_path / "absent.npz", REMAKE)


def test_a_failed_rewrite_keeps_the_old_file_verified(sealed):
    with pytest.raises(RuntimeError), paths.verified_write(sealed) as handle:
        handle.write(b"half")
        raise RuntimeError("killed")
    paths.verify(sealed, REMAKE)


def test_rewriting_replaces_the_checksum(sealed):
    with paths.verified_write(sealed) as handle:
        handle.write(b"new content")
    paths.verify(sealed, REMAKE)
    assert json.loads(paths.sidecar(sealed).read_text())["bytes"] == 11


def test_cached_trusts_a_verified_file_and_warns_before_a_rebuild(sealed, caplog):
    assert not paths.cached(sealed.with_name("absent.npz"), REMAKE)
    assert paths.cached(sealed, REMAKE)
    assert not caplog.records
    sealed.write_bytes(b"replaced")
    with caplog.at_level(logging.WARNING, logger="nasjax.paths"):
        assert not paths.cached(sealed, REMAKE)
    assert [r.getMessage() for r in caplog.records] == [
        f"{sealed}: 8 bytes, expected 1,024 (truncated or replaced); rebuilding it"]
