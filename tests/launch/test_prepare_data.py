"""launch.prepare_data --refit: refused in one line, before anything is written, for a target
without a shipped surrogate (the missing-XGBoost case: tests/benchmarks/test_nb301_surrogate.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_refit_of_a_target_without_a_shipped_surrogate_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "launch.prepare_data", "--benchmark=nb101-space", "--refit",
         f"--data_dir={tmp_path / 'out'}"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: --refit applies to nb101-surrogate, nb301-surrogate, not nb101-space")
    assert not (tmp_path / "out").exists()
