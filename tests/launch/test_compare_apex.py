"""launch.compare_apex refuses runs that are not complete."""

from __future__ import annotations

import pytest

from launch import common, compare_apex


def test_a_run_with_a_partial_marker_is_refused_although_it_has_a_summary(tmp_path):
    run = tmp_path / "apex"
    run.mkdir()
    for name in ("config.json", "summary.json"):
        (run / name).write_text("{}")
    (run / "metrics.csv").write_text("chunk,env_steps\n1,128\n")
    (run / "PARTIAL").write_text("incomplete run: failed: RunDirError: ...\n")
    with pytest.raises(common.ConfigError, match=(
            f"^--runs: {run} is not a complete Ape-X training run \\(PARTIAL: incomplete run: "
            "failed: RunDirError: ...\\); finish it with python -m launch.train_apex$")):
        compare_apex.load_run(str(run))
