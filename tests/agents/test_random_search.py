"""The two random searches: the space's sampler (Cassimon et al. §3.2.3) and NAS-Bench-101's
own, uniform over valid specs (ReMAADE §8)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from nasjax import registry, spaces
from nasjax.spaces import nb101

SPACE = spaces.get("nb101")


def _vertex_shares(name: str, count: int = 3000) -> np.ndarray:
    searcher = registry.make("agent", name).make_searcher(SPACE, None)
    propose = jax.jit(jax.vmap(lambda k: searcher.propose(searcher.init(k), k)))
    cells = propose(jax.random.split(jax.random.key(0), count))
    assert np.asarray(nb101.is_valid(cells)).all()
    vertices = np.asarray(nb101.num_vertices(cells)).ravel()
    return np.bincount(vertices, minlength=8)[2:] / len(vertices)


def test_the_sampler_gives_each_vertex_count_a_sixth():
    np.testing.assert_allclose(_vertex_shares("random_search"), 1 / 6, atol=0.025)


@pytest.mark.slow  # ~6 CPU-s of its own: out of the fast lane
def test_nb101_random_search_is_uniform_over_valid_specs():
    # Uniform valid specs (every op and edge uniform, redrawn until valid, then pruned) have
    # about 10/20/27/30/12/0.3% cells of 2..7 vertices, unlike the sampler's sixths.
    np.testing.assert_allclose(_vertex_shares("random_search_uniform"),
                               [0.10, 0.20, 0.27, 0.30, 0.12, 0.003], atol=0.025)
