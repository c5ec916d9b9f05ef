"""Specification of nasjax.evaluation.report: run directory files and Markdown tables."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nasjax.evaluation import report


def test_run_dir_is_created_with_parents(tmp_path):
    run = report.RunDir(tmp_path / "runs" / "exp1")
    assert run.path.is_dir()


def test_config_and_summary_are_strict_json_of_plain_types(tmp_path):
    run = report.RunDir(tmp_path)
    config = {"seed": np.int64(3), "lr": np.float32(0.5), "budgets": (50, 100),
              "flags": np.array([True, False]), "nested": {1: np.arange(3)}}
    path = run.write_config(config)
    assert path == tmp_path / "config.json"
    assert json.loads(path.read_text()) == {"seed": 3, "lr": 0.5, "budgets": [50, 100],
                                            "flags": [True, False], "nested": {"1": [0, 1, 2]}}
    summary = run.write_summary({"mean": np.float64(0.93), "std": float("nan"),
                                 "ci": np.array([0.92, np.inf])})
    assert json.loads(summary.read_text()) == {"mean": 0.93, "std": None, "ci": [0.92, None]}


def test_json_rejects_unknown_types(tmp_path):
    with pytest.raises(TypeError):
        report.RunDir(tmp_path).write_summary({"bad": object()})


def test_save_arrays_round_trips(tmp_path):
    path = report.RunDir(tmp_path).save_arrays("curves", best=np.arange(6.0).reshape(2, 3))
    assert path == tmp_path / "curves.npz"
    with np.load(path) as data:
        np.testing.assert_array_equal(data["best"], [[0, 1, 2], [3, 4, 5]])


@pytest.mark.parametrize("name", ["", "a/b", "curves.npz"])
def test_save_arrays_rejects_names_that_are_not_stems(tmp_path, name):
    with pytest.raises(ValueError):
        report.RunDir(tmp_path).save_arrays(name, x=np.zeros(1))


def test_write_report_ends_with_newline(tmp_path):
    path = report.RunDir(tmp_path).write_report("# Report")
    assert path.read_text() == "# Report\n"


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
    {"algorithm": "Random Search", "budget": 50, "mean": 0.9348, "std": 0.0015,
     "ci_low": 0.9347, "ci_high": 0.935, "num_trials": 5},
    {"algorithm": "Random Search", "budget": 300, "mean": 0.9369, "std": 0.0016,
     "ci_low": 0.9368, "ci_high": 0.9371, "num_trials": 5},
    {"algorithm": "Ape-X", "budget": 50, "mean": 0.9373, "std": 0.0016,
     "ci_low": 0.9371, "ci_high": 0.9374, "num_trials": 5},
]


def test_budget_table_in_table_1_layout():
    text = report.format_budget_table(ROWS, "NAS-Bench-101", "test accuracy")
    caption, table = text.split("\n\n")
    assert "NAS-Bench-101" in caption and "test accuracy" in caption and "5 trials" in caption
    assert table.splitlines() == [
        "| Algorithm | #Q (50) | mean ± std (50) | 95% CI (50) "
        "| #Q (300) | mean ± std (300) | 95% CI (300) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        "| Random Search | 50 | 93.48% ± 0.15% | [93.47%, 93.50%] "
        "| 300 | 93.69% ± 0.16% | [93.68%, 93.71%] |",
        "| Ape-X | 50 | 93.73% ± 0.16% | [93.71%, 93.74%] | N/A | N/A | N/A |",
    ]


def test_budget_table_rejects_incomplete_rows():
    with pytest.raises(ValueError):
        report.format_budget_table([{"algorithm": "a", "budget": 50}], "NB101", "test accuracy")
    with pytest.raises(ValueError):
        report.format_budget_table([], "NB101", "test accuracy")


def test_budget_table_shows_nan_std_of_a_single_trial():
    row = dict(ROWS[0], std=math.nan, num_trials=1)
    assert "93.48% ± nan" in report.format_budget_table([row], "NB101", "validation accuracy")
