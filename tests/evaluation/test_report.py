"""Specification of nasjax.evaluation.report: run directories (complete or visibly partial) and
Markdown tables."""

from __future__ import annotations

import json
import math
import signal

import numpy as np
import pytest

from nasjax.evaluation import interrupts, report


def test_files_are_staged_in_dir_partial_and_moved_into_place_by_finish(tmp_path):
    run = report.RunDir(tmp_path / "runs" / "exp1")
    assert run.staging == tmp_path / "runs" / "exp1.partial"
    assert run.write_config({"seed": 0}) == run.staging / "config.json"
    run.write_summary({"mean": 0.5})
    assert not run.path.exists()  # nothing at DIR before the end
    assert (run.staging / "PARTIAL").read_text().startswith("incomplete run: running (pid ")
    assert run.finish() == tmp_path / "runs" / "exp1"
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json", "summary.json"]
    assert not run.staging.exists()


def test_config_and_summary_are_strict_json_of_plain_types(tmp_path):
    run = report.RunDir(tmp_path / "run")
    config = {"seed": np.int64(3), "lr": np.float32(0.5), "budgets": (50, 100),
              "flags": np.array([True, False]), "nested": {1: np.arange(3)}}
    path = run.write_config(config)
    assert json.loads(path.read_text()) == {"seed": 3, "lr": 0.5, "budgets": [50, 100],
                                            "flags": [True, False], "nested": {"1": [0, 1, 2]}}
    summary = run.write_summary({"mean": np.float64(0.93), "std": float("nan"),
                                 "ci": np.array([0.92, np.inf])})
    assert json.loads(summary.read_text()) == {"mean": 0.93, "std": None, "ci": [0.92, None]}


def test_json_rejects_unknown_types(tmp_path):
    with pytest.raises(TypeError):
        report.RunDir(tmp_path / "run").write_summary({"bad": object()})


def test_save_arrays_round_trips(tmp_path):
    run = report.RunDir(tmp_path / "run")
    path = run.save_arrays("curves", best=np.arange(6.0).reshape(2, 3))
    assert path == run.staging / "curves.npz"
    with np.load(path) as data:
        np.testing.assert_array_equal(data["best"], [[0, 1, 2], [3, 4, 5]])


@pytest.mark.parametrize("name", ["", "a/b", "curves.npz"])
def test_save_arrays_rejects_names_that_are_not_stems(tmp_path, name):
    with pytest.raises(ValueError):
        report.RunDir(tmp_path / "run").save_arrays(name, x=np.zeros(1))


def test_write_report_ends_with_newline_and_figures_go_to_the_staging_directory(tmp_path):
    run = report.RunDir(tmp_path / "run")
    assert run.write_report("# Report").read_text() == "# Report\n"
    assert run.figure_path("best.png") == run.staging / "best.png"
    with pytest.raises(ValueError, match="bare file name with an extension"):
        run.figure_path("best")


def test_an_empty_existing_directory_is_used(tmp_path):
    (tmp_path / "run").mkdir()
    run = report.RunDir(tmp_path / "run")
    run.write_summary({})
    assert (run.finish() / "summary.json").is_file()


def test_a_non_empty_workdir_is_refused_without_overwrite(tmp_path):
    (tmp_path / "run").mkdir()
    for name in ("a.npz", "b.json", "c.md", "d.png"):
        (tmp_path / "run" / name).write_text("old")
    with pytest.raises(report.RunDirError) as error:
        report.RunDir(tmp_path / "run")
    assert str(error.value) == (f"--workdir {tmp_path}/run is not empty (it holds a.npz, b.json, "
                                "c.md, ...); pass --overwrite to replace it at the end of the "
                                "run, or pick another --workdir")
    assert not (tmp_path / "run.partial").exists()


def test_a_workdir_that_is_a_file_or_empty_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(report.RunDirError, match="is a file, not a directory"):
        report.RunDir(tmp_path / "file")
    with pytest.raises(report.RunDirError, match="^--workdir is empty; give a directory$"):
        report.RunDir("")


def test_a_run_directory_that_cannot_be_created_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(report.RunDirError, match=(
            f"^cannot create the run directory {tmp_path}/file/run.partial: Not a directory; "
            "pick another --workdir$")):
        report.RunDir(tmp_path / "file" / "run")


def test_overwrite_replaces_the_old_directory_only_at_finish(tmp_path):
    old = tmp_path / "run"
    old.mkdir()
    (old / "summary.json").write_text("{}")
    (old / "report.md").write_text("old report")
    run = report.RunDir(old, overwrite=True)
    run.write_config({"new": True})
    assert (old / "report.md").read_text() == "old report"  # untouched until the end
    run.finish()
    assert sorted(p.name for p in old.iterdir()) == ["config.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no old or partial left


def test_a_failed_rerun_with_overwrite_keeps_the_old_run_whole(tmp_path):
    old = tmp_path / "run"
    old.mkdir()
    (old / "summary.json").write_text('{"old": true}')
    with pytest.raises(RuntimeError), report.RunDir(old, overwrite=True) as run:
        run.write_config({"new": True})
        raise RuntimeError("diverged")
    assert sorted(p.name for p in old.iterdir()) == ["summary.json"]
    assert (old / "summary.json").read_text() == '{"old": true}'
    partial = tmp_path / "run.partial"
    assert sorted(p.name for p in partial.iterdir()) == ["PARTIAL", "config.json"]
    assert (partial / "PARTIAL").read_text().startswith(
        "incomplete run: failed: RuntimeError: diverged\ncommand: ")


def test_the_with_block_finishes_the_run(tmp_path):
    with report.RunDir(tmp_path / "run") as run:
        run.write_summary({"x": 1})
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["summary.json"]
    with pytest.raises(RuntimeError, match="already finished"):
        run.write_summary({"x": 2})


def test_an_interrupt_leaves_a_partial_directory_and_says_where(tmp_path):
    with (interrupts.handled(), pytest.raises(interrupts.Interrupted) as error,
          report.RunDir(tmp_path / "run") as run):
        run.save_arrays("results", x=np.zeros(2))
        signal.raise_signal(signal.SIGINT)  # plain Python here: raised at once
    assert error.value.kept == [f"partial results kept in {tmp_path}/run.partial"]
    assert not (tmp_path / "run").exists()
    assert (tmp_path / "run.partial" / "PARTIAL").read_text().startswith(
        "incomplete run: interrupted by SIGINT\n")


def test_an_interrupt_noticed_at_finish_keeps_the_output_partial(tmp_path):
    run = report.RunDir(tmp_path / "run")
    run.write_summary({"x": 1})
    with interrupts.handled():
        with interrupts.critical():  # the signal arrives inside a jitted call, say
            signal.raise_signal(signal.SIGTERM)
        with pytest.raises(interrupts.Interrupted):
            run.finish()
    assert not (tmp_path / "run").exists() and (tmp_path / "run.partial" / "summary.json").exists()


def test_a_leftover_partial_directory_needs_overwrite(tmp_path):
    with pytest.raises(RuntimeError), report.RunDir(tmp_path / "run"):
        raise RuntimeError("crash")
    with pytest.raises(report.RunDirError, match=(
            f"^{tmp_path}/run.partial holds the partial output of an earlier run \\(incomplete "
            "run: failed: RuntimeError: crash\\); pass --overwrite to replace it")):
        report.RunDir(tmp_path / "run")
    run = report.RunDir(tmp_path / "run", overwrite=True)
    assert sorted(p.name for p in run.staging.iterdir()) == ["PARTIAL"]


def test_resume_writes_in_place_and_is_incomplete_until_finish(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "checkpoint_100").mkdir()
    (workdir / "summary.json").write_text("{}")  # of an earlier, now continued, run
    run = report.RunDir(workdir, resume=True)
    assert run.staging == workdir
    assert sorted(p.name for p in workdir.iterdir()) == ["PARTIAL", "checkpoint_100"]
    run.write_summary({"steps": 200})
    run.finish()
    assert sorted(p.name for p in workdir.iterdir()) == ["checkpoint_100", "summary.json"]


def test_markdown_table():
    rows = [{"name": "a", "value": 0.5}, {"name": "b|c"}]
    table = report.markdown_table(rows, ["name", "value"], {"value": "{:.2f}"})
    assert table == ("| name | value |\n"
                     "| --- | --- |\n"
                     "| a | 0.50 |\n"
                     "| b\\|c | N/A |\n")


def test_markdown_table_rejects_a_column_no_row_has():
    with pytest.raises(ValueError):
        report.markdown_table([{"name": "a"}], ["nmae"], {})


ROWS = [
    {"algorithm": "Random Search", "budget": 50, "last_improvement": 50, "mean": 0.9348,
     "std": 0.0015, "ci_low": 0.9347, "ci_high": 0.935, "num_trials": 5},
    {"algorithm": "Random Search", "budget": 300, "last_improvement": 297, "mean": 0.9369,
     "std": 0.0016, "ci_low": 0.9368, "ci_high": 0.9371, "num_trials": 5},
    {"algorithm": "Ape-X", "budget": 50, "last_improvement": 49, "mean": 0.9373, "std": 0.0016,
     "ci_low": 0.9371, "ci_high": 0.9374, "num_trials": 5},
]


def test_budget_table_in_table_1_layout():
    text = report.format_budget_table(ROWS, "NAS-Bench-101", "test accuracy")
    caption, table = text.split("\n\n")
    assert "NAS-Bench-101" in caption and "test accuracy" in caption and "5 trials" in caption
    assert "#Q is the query number of that data" in caption  # not the budget
    assert table.splitlines() == [
        "| Algorithm | #Q (50) | mean ± std (50) | 95% CI (50) "
        "| #Q (300) | mean ± std (300) | 95% CI (300) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        "| Random Search | 50 | 93.48% ± 0.15% | [93.47%, 93.50%] "
        "| 297 | 93.69% ± 0.16% | [93.68%, 93.71%] |",
        "| Ape-X | 49 | 93.73% ± 0.16% | [93.71%, 93.74%] | N/A | N/A | N/A |",
    ]


def test_budget_table_rejects_incomplete_rows():
    with pytest.raises(ValueError):
        report.format_budget_table([{"algorithm": "a", "budget": 50}], "NB101", "test accuracy")
    with pytest.raises(ValueError):
        report.format_budget_table([], "NB101", "test accuracy")


def test_budget_table_shows_nan_std_of_a_single_trial():
    row = dict(ROWS[0], std=math.nan, num_trials=1)
    assert "93.48% ± nan" in report.format_budget_table([row], "NB101", "validation accuracy")
