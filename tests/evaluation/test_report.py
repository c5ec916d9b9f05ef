"""Specification of nasjax.evaluation.report: run directories (complete or visibly partial) and
Markdown tables."""

from __future__ import annotations

import json
import math
import signal

import numpy as np
import pytest

from nasjax.evaluation import interrupts, literature, report


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


# The paper's comparison (Cassimon et al. Table 1, Fig. 8, Fig. 11; ReMAADE Table 3).

OURS = report.RunSetting("nb101-surrogate", "a surrogate", "validation accuracy", "6 trials")
WALK_ROWS = [  # random_walk at 50 and 300 queries (hand-made), nothing at 100 and 150
    {"algorithm": "random_walk", "budget": 50, "last_improvement": 48, "mean": 0.9400,
     "std": 0.0020, "ci_low": 0.9390, "ci_high": 0.9410, "num_trials": 6},
    {"algorithm": "random_walk", "budget": 300, "last_improvement": 297, "mean": 0.9300,
     "std": 0.0010, "ci_low": 0.9290, "ci_high": 0.9310, "num_trials": 6},
]


def test_paper_table_puts_ours_and_ours_minus_paper_under_the_papers_own_row():
    text = report.paper_table(literature.CASSIMON_TABLE_1, WALK_ROWS, OURS)
    lines = text.splitlines()
    assert lines[0].startswith("**Beside Cassimon et al. Table 1 (§4.1.2)**")
    assert lines[2] == (
        "Setting: benchmark `nb101-surrogate` (a surrogate) here, the official NAS-Bench-101 "
        "tabular data in the paper; metric validation accuracy here, test accuracy in the "
        "paper; 6 trials here, 2.5×10^5 episodes per algorithm (5 agents × 5 sets of 10^4 "
        "initial states, §4.1.1) in the paper.")
    walk = lines.index("| Random Walk (Ours) | 93.62 ± 0.20 [93.60, 93.64] | 93.73 ± 0.18 "
                       "[93.71, 93.74] | 93.79 ± 0.17 [93.78, 93.80] | 93.88 ± 0.14 "
                       "[93.87, 93.89] |")
    assert lines[walk + 1] == ("| ↳ random_walk (this run) | 94.00 ± 0.20 [93.90, 94.10] | N/A "
                               "| N/A | 93.00 ± 0.10 [92.90, 93.10] |")
    assert lines[walk + 2] == "| ↳ ours − paper | +0.38 pp | N/A | N/A | -0.88 pp |"
    # Literature baselines are printed; agents that did not run get no row of ours.
    assert "| NASWOT [20] | N/A | 91.77 ± 0.05 [91.67, 91.87] | N/A | N/A |" in lines
    assert sum("this run" in line for line in lines) == 1


def _evaluation(budgets, max_queries):
    """A hand-made evaluation summary and config of random walk on nb101-surrogate."""
    import ml_collections

    improvement = {"median": 0.0066, "intervals": {0.95: (-0.058, 0.1035)},
                   "frac_improved": 0.6, "skew": -0.074, "normaltest_pvalue": 1e-40,
                   "t_gof_pvalue": math.nan}
    correlation = {"pearson": -0.110, "kendall": -0.168, "n": 10_000}
    summary = {"benchmark": "nb101-surrogate", "metric": "validation accuracy",
               "agents": {"random_walk": {"improvement": improvement, "episodes": 2000,
                                          "mean_steps": 17.0, "mean_queries": 1.0,
                                          "seconds": 1.0, "trials": 6}},
               "table": [row for row in WALK_ROWS if row["budget"] in budgets],
               "neighbour_correlation": {"uniform": correlation, "initial": correlation}}
    config = ml_collections.ConfigDict({
        "benchmark": "nb101-surrogate", "agents": "random_walk", "budgets": budgets,
        "max_queries": max_queries, "agent_seeds": 1, "num_sets": 1, "episodes_per_set": 2000,
        "env": {"eval_episode_length": 32, "max_neighbours": 50, "alpha": 6.0,
                "query_mode": "mean"}})
    return summary, config


def test_the_evaluation_report_of_a_table_1_run_prints_the_papers_rows_beside_ours():
    from nasjax.evaluation import protocol

    text = protocol.render_report(*_evaluation((50, 300), 300))
    assert "**Beside Cassimon et al. Table 1 (§4.1.2)**" in text
    assert "| GraphPNAS [14] | N/A | N/A | N/A | 94.19 ± 0.07 [94.03, 94.36] |" in text
    assert "| ↳ ours − paper | +0.38 pp | N/A | N/A | -0.88 pp |" in text
    assert "(SURROGATE over all 423,624 cells" in text  # the registry's description
    fig_8 = text[text.index("**Beside Cassimon et al. Fig. 8"):]
    assert ("| random_walk (Random Walks) | +0.66 | +0.26 | +0.40 | -0.074 | 0.091 | -0.165 "
            "| [-5.80, +10.35] | [-5, +10] (rounded) |") in fig_8
    assert ("Cassimon et al. Fig. 11 (§4.1.2 text): Pearson r = -0.014, Kendall tau = -0.157; "
            "ours − paper: Pearson -0.096, Kendall -0.011.") in text


def test_a_run_that_reproduces_no_paper_table_prints_no_table_rows():
    from nasjax.evaluation import protocol

    summary, config = _evaluation((20,), 20)  # no budget of Table 1
    summary["table"] = [dict(WALK_ROWS[0], budget=20)]
    text = protocol.render_report(summary, config)
    assert "Table 1" not in text and "NASWOT" not in text and "↳" not in text
    assert "**Beside Cassimon et al. Fig. 8" in text  # its agents still reproduce Fig. 8


def _search(budget, algorithms):
    """ReMAADE-style search results: error curves of 4 trials of ``budget`` queries."""
    import types

    import ml_collections
    import numpy as np

    from nasjax.evaluation import search

    config = ml_collections.ConfigDict({"budget": budget, "budgets": (budget,), "seed": 0,
                                        "num_trials": 4, "mode": "noisy",
                                        "algorithms": ",".join(algorithms), "window": 30,
                                        "duplicates": "query"})
    accuracy = np.full((4, budget), 0.94, np.float32)  # the best error is 6.00% in every trial
    results = {name: {"observed": accuracy, "reported": accuracy,
                      "valid": np.ones((4, budget), bool),
                      "unique": np.full(4, budget, np.int32)} for name in algorithms}
    bench = types.SimpleNamespace(label="nb101-surrogate", name="nb101-surrogate", space="nb101",
                                  metadata={})
    return search.summarise(results, config, bench, "validation error", {})[1]


def test_the_search_report_prints_remaade_table_3_beside_ours_at_its_budget():
    tables = _search(150, ["random_search_uniform", "remaade"])
    table_3 = tables[tables.index("**Beside ReMAADE Table 3"):tables.index("**Beside ReMAADE "
                                                                           "Table 4")]
    lines = table_3.splitlines()
    remaade = lines.index("| ReMAADE | 6.15 ± 0.13 |")
    assert lines[remaade + 1].startswith("| ↳ remaade (this run) | 6.00 ± 0.00 [6.00, 6.00]")
    assert lines[remaade + 2] == "| ↳ ours − paper | -0.15 pp |"
    assert "| BANANAS | 5.77 ± 0.31 |" in lines
    assert "metric validation error here, test error in the paper; 4 trials per algorithm here" \
        in table_3
    assert "Beside" not in _search(40, ["random_search_uniform", "remaade"])
