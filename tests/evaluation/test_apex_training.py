"""Labels and figures of Ape-X training runs compared (Cassimon et al. Figs. 17-19)."""

from __future__ import annotations

import pytest

from nasjax.evaluation import apex_training as report


def config(**changes) -> dict:
    base = {"preset": "paper", "seed": 0, "gamma": 0.9, "data_dir": "",
            "env": {"alpha": 6.0, "max_neighbours": 50}}
    for key, value in changes.items():
        if key.startswith("env_"):
            base["env"][key[4:]] = value
        else:
            base[key] = value
    return base


def test_runs_are_labelled_by_the_fields_in_which_they_differ():
    configs = [config(), config(preset="gamma_0.95", gamma=0.95),
               config(preset="gamma_0.99", gamma=0.99)]
    assert report.run_labels(configs, ["a", "b", "c"]) == ["gamma=0.9", "gamma=0.95",
                                                           "gamma=0.99"]
    nested = [config(), config(env_max_neighbours=25)]
    assert report.run_labels(nested, ["a", "b"]) == ["env.max_neighbours=50",
                                                     "env.max_neighbours=25"]


@pytest.mark.parametrize("configs, expected", [
    ([config(), config(preset="cpu")], ["preset=paper", "preset=cpu"]),  # nothing else differs
    ([config(), config(data_dir="/elsewhere")], ["a", "b"]),  # where the data lives is not learnt
    ([config(), {**config(), "devices": 1}], ["a", "b"]),  # a field an older run lacks
])
def test_labels_leave_out_what_does_not_tell_runs_apart(configs, expected):
    assert report.run_labels(configs, ["a", "b"]) == expected


def test_metrics_csv_round_trips(tmp_path):
    rows = [{"chunk": 1, "env_steps": 256, "episodes": 3, "final_val_acc": 0.9, "loss": None},
            {"chunk": 2, "env_steps": 512, "episodes": 7, "final_val_acc": None, "loss": 0.5}]
    report.write_csv(rows, tmp_path / "metrics.csv")
    read = report.read_csv(tmp_path / "metrics.csv")
    assert [row["env_steps"] for row in read] == [256, 512]
    assert read[0]["loss"] is None and read[1]["final_val_acc"] is None
    steps, acc = report.accuracy_percent(read)
    assert steps.tolist() == [256, 512] and acc[0] == pytest.approx(90.0)
    figure = report.comparison_curves({"one": read, "two": read}, tmp_path / "c.png", "test")
    assert figure.stat().st_size > 0


def test_a_csv_without_the_metrics_columns_is_named(tmp_path):
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="other.csv is not an Ape-X metrics file"):
        report.read_csv(tmp_path / "other.csv")
