"""A SYNTHETIC whole-space benchmark for the Ape-X tests: no data files, any space."""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import pytest

from nasjax import env, spaces
from nasjax.benchmarks import base as bench_lib


@flax.struct.dataclass
class TokenBenchmark:
    """SYNTHETIC: accuracy is a fixed smooth function of the space's tokens (not real data)."""

    name: str = flax.struct.field(pytree_node=False, default="apex-test (SYNTHETIC)")
    space: str = flax.struct.field(pytree_node=False, default="nb101")
    label: str = flax.struct.field(pytree_node=False, default="apex-test (SYNTHETIC)")
    has_test: bool = flax.struct.field(pytree_node=False, default=False)
    metadata: tuple = flax.struct.field(pytree_node=False, default=())

    def query(self, arch, key=None, mode="mean"):
        search_space = spaces.get(self.space)
        valid = search_space.is_valid(arch)
        tokens = search_space.tokens(arch)
        acc = 0.85 + 0.1 * jnp.tanh(tokens @ jnp.sin(jnp.arange(tokens.shape[-1]) + 1.0) / 8)
        if mode == "noisy":
            acc = acc + 0.01 * jax.random.normal(key, acc.shape)
        nan = jnp.float32(jnp.nan)
        acc = jnp.where(valid, acc, nan).astype(jnp.float32)
        return bench_lib.Metrics(valid=valid, val_acc=acc, test_acc=jnp.full_like(acc, nan),
                                 train_seconds=jnp.where(valid, 1.0, nan),
                                 params=jnp.where(valid, 1.0, nan))


def make_env_params(max_neighbours: int = 6, episode_length: int = 4, alpha: float | None = 6.0):
    """Training environment parameters on NAS-Bench-101 (on-the-fly neighbours) over the
    SYNTHETIC token benchmark."""
    return env.make_params(spaces.get("nb101"), TokenBenchmark(), max_neighbours=max_neighbours,
                           alpha=alpha, episode_length=episode_length)


@pytest.fixture(scope="module")
def synthetic_env():
    """Small training environment parameters (N = 6, 4-step episodes, alpha = 6)."""
    return make_env_params()
