"""Fixtures of the Ape-X tests: a SYNTHETIC environment, no data files."""

from __future__ import annotations

import pytest

from nasjax import env, spaces
from tests.token_benchmark import TokenBenchmark


def make_env_params(max_neighbours: int = 6, episode_length: int = 4, alpha: float | None = 6.0):
    """Training environment parameters on NAS-Bench-101 (on-the-fly neighbours) over the
    SYNTHETIC token benchmark."""
    bench = TokenBenchmark(name="apex-test (SYNTHETIC)", offset=0.85)
    return env.make_params(spaces.get("nb101"), bench, max_neighbours=max_neighbours,
                           alpha=alpha, episode_length=episode_length)


@pytest.fixture(scope="module")
def synthetic_env():
    """Small training environment parameters (N = 6, 4-step episodes, alpha = 6)."""
    return make_env_params()
