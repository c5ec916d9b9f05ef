"""Specification of nasjax.evaluation.plots: every figure is written as a non-empty PNG."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer

from nasjax.evaluation import literature, plots, stats

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path, expected):
    assert path == expected
    data = expected.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_MAGIC)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_best_vs_queries_writes_png_with_nan_before_first_valid_query(tmp_path, rng):
    values = rng.uniform(0.85, 0.95, size=(8, 40))
    values[:, :2] = np.nan
    best, _ = stats.best_so_far(values)
    out = tmp_path / "figs" / "best.png"  # parent folder is created
    path = plots.best_vs_queries({"random search": best, "local search": best + 0.005}, out,
                                 "NAS-Bench-101", num_resamples=100)
    assert_png(path, out)


def test_best_vs_queries_draws_the_papers_points_with_their_intervals(tmp_path, rng,
                                                                      monkeypatch):
    drawn = []
    save = plots.save
    monkeypatch.setattr(plots, "save", lambda fig, path: drawn.append(fig) or save(fig, path))
    best, _ = stats.best_so_far(rng.uniform(0.90, 0.94, size=(8, 300)))
    points = literature.points([literature.CASSIMON_TABLE_1], max_queries=300)
    out = tmp_path / "best.png"
    assert_png(plots.best_vs_queries({"random_walk": best}, out, "NAS-Bench-101",
                                     num_resamples=50, references=points), out)
    (ax,) = drawn[0].axes
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    # Six literature baselines (one point each) and the paper's random walk at four budgets;
    # the paper's rows of agents not drawn (random search, local search, Ape-X) are left out.
    assert len(bars) == 6 + 4
    labels = [bar.get_label() for bar in bars if not bar.get_label().startswith("_")]
    assert labels == [f"{m} (Table 1)" for m in (
        "Random (NASWOT) [20]", "NASWOT [20]", "Random (GraphPNAS) [14]", "NAO [19]",
        "SemiNAS [19]", "GraphPNAS [14]", "Random Walk (Ours)")]
    assert "Cassimon et al., test accuracy" in drawn[0].legends[0].get_title().get_text()
    naswot = bars[1]
    (x, y), = naswot.lines[0].get_xydata()
    (_, low), (_, high) = naswot.lines[2][0].get_segments()[0]  # the bar: the printed 95% CI
    assert 100 <= x < 104  # at its #Q, stepped aside from Random (NASWOT) at the same #Q
    assert (y, low, high) == (pytest.approx(91.77), pytest.approx(91.67), pytest.approx(91.87))
    assert ax.get_ylim()[0] < 90.38  # the mean of Random (NASWOT) stays in view


def test_improvement_hist_writes_png_and_tolerates_out_of_range_values(tmp_path, rng):
    improvements = {"ape-x": np.append(rng.normal(0.01, 0.03, 500), [0.5, -0.5]),
                    "random walk": rng.normal(0.0, 0.03, 500)}
    assert_png(plots.improvement_hist(improvements, tmp_path / "hist.png", "NAS-Bench-101"),
               tmp_path / "hist.png")


def test_initial_vs_improvement_writes_png_and_subsamples(tmp_path, rng):
    initial = {"ape-x": rng.uniform(0.8, 0.94, 300)}
    improvement = {"ape-x": rng.normal(0.01, 0.02, 300)}
    out = tmp_path / "scatter.png"
    assert_png(plots.initial_vs_improvement(initial, improvement, out, "NAS-Bench-101",
                                            max_points=100), out)


def test_initial_vs_improvement_needs_the_same_agents(tmp_path):
    with pytest.raises(ValueError):
        plots.initial_vs_improvement({"a": [0.9]}, {"b": [0.01]}, tmp_path / "x.png", "NB101")


def test_neighbours_vs_accuracy_writes_png(tmp_path, rng):
    neighbours = rng.integers(10, 60, size=500)
    accuracy = 0.9 + 0.0005 * neighbours + rng.normal(0, 0.02, size=500)
    out = tmp_path / "neighbours.png"
    assert_png(plots.neighbours_vs_accuracy(neighbours, accuracy, out, "NAS-Bench-101"), out)


def test_throughput_writes_png(tmp_path):
    records = [{"mode": mode, "num_envs": n, "steps_per_second": rate * n}
               for mode, rate in (("NB101", 1000.0), ("NB301", 50.0)) for n in (64, 1, 8)]
    assert_png(plots.throughput(records, tmp_path / "speed.png"), tmp_path / "speed.png")


@pytest.mark.parametrize("records", [
    [], [{"mode": "a", "num_envs": 1}], [{"mode": "a", "num_envs": 0, "steps_per_second": 1.0}],
])
def test_throughput_rejects_bad_records(tmp_path, records):
    with pytest.raises(ValueError):
        plots.throughput(records, tmp_path / "speed.png")


def test_plots_reject_empty_input(tmp_path):
    with pytest.raises(ValueError):
        plots.best_vs_queries({}, tmp_path / "a.png", "NB101")
    with pytest.raises(ValueError):
        plots.improvement_hist({}, tmp_path / "b.png", "NB101")
    with pytest.raises(ValueError):
        plots.improvement_hist({"a": [np.nan]}, tmp_path / "b.png", "NB101")
