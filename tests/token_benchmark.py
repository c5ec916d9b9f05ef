"""A SYNTHETIC whole-space benchmark for tests: no data files, any registered space."""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from nasjax import spaces
from nasjax.benchmarks import base as bench_lib


@flax.struct.dataclass
class TokenBenchmark:
    """SYNTHETIC: accuracy is a fixed smooth function of the space's tokens (not real data),
    ``offset + 0.1 tanh(tokens . sin(1..D) / 8)``; ``noisy`` adds Normal(0, 0.01)."""

    name: str = flax.struct.field(pytree_node=False, default="token-test (SYNTHETIC)")
    space: str = flax.struct.field(pytree_node=False, default="nb101")
    offset: float = flax.struct.field(pytree_node=False, default=0.8)
    has_test: bool = flax.struct.field(pytree_node=False, default=False)
    metadata: tuple = flax.struct.field(pytree_node=False, default=())

    @property
    def label(self) -> str:
        """The name for tables and plots (it says SYNTHETIC)."""
        return self.name

    def query(self, arch, key=None, mode="mean"):
        """Metrics of architectures of ``space`` (any batch shape)."""
        search_space = spaces.get(self.space)
        valid = search_space.is_valid(arch)
        tokens = search_space.tokens(arch)
        weights = jnp.sin(jnp.arange(tokens.shape[-1]) + 1.0)
        acc = self.offset + 0.1 * jnp.tanh(tokens @ weights / 8)
        if mode == "noisy":
            acc = acc + 0.01 * jax.random.normal(key, acc.shape)
        nan = jnp.float32(jnp.nan)
        acc = jnp.where(valid, acc, nan).astype(jnp.float32)
        return bench_lib.Metrics(valid=valid, val_acc=acc, test_acc=jnp.full_like(acc, nan),
                                 train_seconds=jnp.where(valid, 1.0, nan),
                                 params=jnp.where(valid, 1.0, nan))
