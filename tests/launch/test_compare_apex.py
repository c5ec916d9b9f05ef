"""launch.compare_apex refuses runs that are not complete."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_run_with_a_partial_marker_is_refused_although_it_has_a_summary(tmp_path):
    run = tmp_path / "apex"
    run.mkdir()
    for name in ("config.json", "summary.json"):
        (run / name).write_text("{}")
    (run / "metrics.csv").write_text("chunk,env_steps\n1,128\n")
    (run / "PARTIAL").write_text("incomplete run: failed: RunDirError: ...\n")
    result = subprocess.run([sys.executable, "-m", "launch.compare_apex", f"--runs={run}",
                             f"--workdir={tmp_path / 'out'}"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert (result.returncode, result.stderr) == (
        2, f"error: --runs: {run} is not a complete Ape-X training run (PARTIAL: incomplete "
           "run: failed: RunDirError: ...); finish it with python -m nasjax.launch.train_apex\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["apex"]
