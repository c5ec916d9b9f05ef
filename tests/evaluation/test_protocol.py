"""The evaluation protocol's pieces that are not episodes (Cassimon et al. §4)."""

from __future__ import annotations

import jax
import numpy as np

from nasjax.evaluation import protocol
from tests.conftest import SMALL_WORLD, TEST_GAP, world_params


def test_neighbour_counts_are_the_environment_s(small_world):
    # Fig. 11's counts and accuracies are what a state at each architecture holds: the
    # neighbourhood's count (the hand-built lists) and the reported (test) accuracy.
    params = world_params(small_world)
    assert params.report_metric == "test"
    names = list(small_world["cells"])
    archs = jax.tree.map(lambda *x: np.stack(x), *small_world["cells"].values())
    counts, accuracy = protocol.neighbour_counts(params, archs)
    assert counts.tolist() == [len(SMALL_WORLD[name][2]) for name in names]
    np.testing.assert_allclose(accuracy, [SMALL_WORLD[name][1] - TEST_GAP for name in names],
                               rtol=1e-6)
