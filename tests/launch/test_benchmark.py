"""launch.benchmark's output directory: checked (and locked) before any benchmark runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _launch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "launch.benchmark", "--only=nb101_hash",
                           "--quick", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu",
                               "NASJAX_DATA": str(tmp_path / "data")})


@pytest.mark.slow  # ~5 CPU-s of its own: out of the fast lane
def test_a_file_or_another_runs_directory_is_refused_before_running(tmp_path):
    (tmp_path / "file").write_text("x")
    result = _launch(tmp_path, "--workdir=file")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (f"error: --workdir {tmp_path}/file is a file, not a directory; "
                             "pick another --workdir\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "summary.json").write_text("{}")
    result = _launch(tmp_path, "--workdir=other")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith(f"error: --workdir {tmp_path}/other is not empty (it holds "
                                    "summary.json); pass --overwrite")
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["summary.json"]


@pytest.mark.slow  # ~7 CPU-s of its own: out of the fast lane
def test_a_run_writes_its_directory_complete(tmp_path):
    result = _launch(tmp_path, "--workdir=out")
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["benchmark.json"]
    assert not (tmp_path / "out.partial").exists() and not (tmp_path / "out.lock").exists()


_REFUSED = """
import atexit, runpy, sys
heavy = ("scipy", "matplotlib")
atexit.register(lambda: print("imported:", [m for m in heavy if m in sys.modules]))
sys.argv = ["benchmark", "--only=bogus"]
runpy.run_module("nasjax.launch.benchmark", run_name="__main__")
"""


def test_an_unknown_benchmark_is_refused_in_one_line_without_scipy_or_matplotlib(tmp_path):
    result = subprocess.run([sys.executable, "-c", _REFUSED], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2 and result.stderr.startswith(
        "error: unknown benchmark(s) ['bogus']; choose from ['apex_eval_episodes', "), result.stderr
    assert result.stdout == "imported: []\n" and list(tmp_path.iterdir()) == []
