"""Random search with the seed's sampler (seed 000, section 3.2.3)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nasjax.agents.base import Searcher
from nasjax.spaces import nb101


def make_random_search(batch: int = 1) -> Searcher:
    """Random search: every query a fresh cell from :func:`nb101.sample`; no state."""

    def init(key):
        return jnp.zeros((), jnp.int32)

    def propose(state, key):
        return nb101.sample(key, (batch,))

    def update(state, cells, metrics):
        return state + cells.ops.shape[0]

    return Searcher(name="random_search", batch=batch, init=init, propose=propose, update=update)
