"""The NAS-Bench-301 speed records run and say what they timed (quick workloads: a smoke test,
not a measurement)."""

from __future__ import annotations

import pytest

from nasjax.speed import nb301


@pytest.mark.slow  # fits nb301-surrogate into data_dir once, then times small workloads
def test_query_record_times_both_references_on_the_same_predictions(data_dir):
    record = nb301.bench_nb301_query(True, data_dir)
    assert record["name"] == "nb301_query" and record["value"] > 0
    assert record["baseline_value"] > 0 and record["ratio"] == pytest.approx(
        record["value"] / record["baseline_value"])
    settings = record["settings"]
    assert settings["max_abs_difference_vs_xgboost"] == 0.0  # same trees, same bits
    assert settings["xgboost_inplace_predict_queries_per_s"] > 0
    assert "SURROGATE fitted on 725" in settings["benchmark"]
    assert settings["members"] == 5 and settings["max_depth"] >= 1
