"""The extrapolation line of the reports: the share of reported best architectures whose
predicted accuracy exceeds the largest accuracy the surrogate was fitted on."""

from __future__ import annotations

import numpy as np

from nasjax.benchmarks import nb101_surrogate, nb301_surrogate
from nasjax.evaluation import report


def test_share_above_the_training_maximum():
    best = {"ls": np.array([0.95, 0.944, 0.9451, 0.93], np.float32), "rw": np.zeros(3)}
    found = report.extrapolation({"train_max_val_acc": 0.9449}, best)
    assert found == {"train_max_val_acc": 0.9449, "share_above": {"ls": 0.5, "rw": 0.0}}
    assert report.extrapolation_line(found) == (
        "Extrapolation: share of reported best architectures whose predicted accuracy exceeds "
        "the largest accuracy the surrogate was fitted on (94.49%): ls 50.0%, rw 0.0%.\n\n")


def test_measured_benchmarks_print_nothing():
    assert report.extrapolation({"data": "measured"}, {"ls": np.ones(3)}) == {}
    assert report.extrapolation_line({}) == ""


def test_the_shipped_surrogates_record_their_training_maximum():
    # NB301: the best of the 580 training genotypes; Cassimon et al.'s LS and Ape-X reach 95.0%.
    assert round(100 * nb301_surrogate.load().metadata["train_max_val_acc"], 2) == 94.49
    assert round(100 * nb101_surrogate.shipped_metadata()["train_max_val_acc"], 2) == 94.91
