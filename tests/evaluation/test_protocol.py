"""The evaluation protocol's pieces that are not episodes (Cassimon et al. §4)."""

from __future__ import annotations

import types

import jax
import ml_collections
import numpy as np
import pytest
from jax._src import monitoring  # unregister_event_duration_listener: not in jax.monitoring

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


@pytest.mark.slow  # ~5 CPU-s of its own (a t test program): out of the fast lane
def test_the_t_tests_compiled_ahead_are_not_compiled_again():
    # launch.evaluate compiles the t tests while the episodes run: a program per sample size,
    # min(episodes, gof_max_samples) (an agent with too few episodes is not tested), which the
    # tests then find compiled.
    config = ml_collections.ConfigDict({"seed": 0, "gof_max_samples": 16, "gof_mc_samples": 5})
    compiled = []

    def listen(event, duration, fun_name="", **_):
        if event == "/jax/core/compile/backend_compile_duration":
            compiled.append(fun_name)

    rng, counts = np.random.default_rng(0), {"many": 40, "too_few": 3}
    results = {agent: [types.SimpleNamespace(initial=rng.random(count), final=rng.random(count))]
               for agent, count in counts.items()}
    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        protocol.compile_improvements(counts, config)
        ahead, compiled[:] = list(compiled), []
        tested = protocol.improvements(results, config)
    finally:
        monitoring.unregister_event_duration_listener(listen)
    assert ahead.count("jit(_t_goodness_of_fit)") == 1  # size 16
    assert "jit(_t_goodness_of_fit)" not in compiled
    assert [tested[agent]["t_gof_num_samples"] for agent in results] == [16, 0]
