"""launch.prepare_data: --refit refused in one line, before anything is written, for a target
without a shipped surrogate (the missing-XGBoost case: tests/benchmarks/test_nb301_surrogate.py);
under several processes, process 0 alone writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def test_refit_of_a_target_without_a_shipped_surrogate_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "launch.prepare_data", "--benchmark=nb101-space", "--refit",
         f"--data_dir={tmp_path / 'out'}"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: --refit applies to nb101-surrogate, nb301-surrogate, not nb101-space")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # 2 launches of 2 processes (JAX start-up each), one enumeration (~10 s)
def test_under_two_processes_process_0_alone_writes(tmp_path):
    """Process 0 builds; process 1 waits for it, writes nothing and prints one line; when
    process 0 cannot build, both stop with one line."""
    from tests.launch.test_distributed import finish, launch

    refused = finish(launch("prepare_data", ["--benchmark=nb101", f"--source={tmp_path / 'no'}",
                                             f"--data_dir={tmp_path / 'data'}"], processes=2))
    assert [code for code, _, _ in refused] == [2, 2], refused
    assert refused[0][2] == f"error: --source={tmp_path / 'no'}: no such file or directory\n"
    assert refused[1][2].startswith("error: process 0 could not build nb101: --source=")
    assert not (tmp_path / "data").exists()

    built = finish(launch("prepare_data", ["--benchmark=nb101-space",
                                           f"--data_dir={tmp_path / 'data'}"], processes=2))
    assert [code for code, _, _ in built] == [0, 0], built
    assert json.loads(built[0][1])["cells"] == 423_624
    assert built[1][1:] == ("process 1 of 2: done; process 0 built the files into its data "
                            "directory\n", "")
    assert sorted(path.name for path in (tmp_path / "data").iterdir()) == [
        "nb101_space_v2.npz", "nb101_space_v2.npz.sha256.json"]
