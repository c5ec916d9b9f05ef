"""One rule for proposals a searcher has already queried, shared by every searcher.

The papers count every proposal as a query, repeats included (ReMAADE §7: ``e <- e + B``
per batch; random search and regularized evolution as the NAS-Bench-101 code runs them).
That is rule ``"query"``, the default. Rule ``"resample"`` (ours) redraws a proposal whose
architecture (by the space's isomorphism-invariant hash) was already queried in the trial,
or repeats another of its own batch, so that each query is a new architecture; each
searcher redraws from the distribution it proposes from (random search: its sampler;
regularized evolution: the same parent's mutations, or fresh strings while the population
fills; ReMAADE: its policy), i.e. it samples that distribution restricted to unqueried
architectures. Redraws are bounded rejection loops; a searcher that runs out of rounds
proposes a repeat, as its docstring says.

A :class:`Memory` holds the hashes queried so far in fixed shape ``[capacity, H]`` (the
trial's budget, rounded up to whole batches), so the rule runs under ``jit``.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from nasjax.spaces import base as space_lib

RULES = ("query", "resample")


@flax.struct.dataclass
class Memory:
    """Hashes of the architectures queried so far in a trial; rows ``>= count`` are unused."""

    hashes: jax.Array  # [capacity, H], the space's hash dtype (NAS-Bench-101: uint32)
    count: jax.Array  # int32[]


def check(duplicates: str, budget: int) -> None:
    """Raises ValueError for an unknown rule, or ``"resample"`` without a positive budget."""
    if duplicates not in RULES:
        raise ValueError(f"unknown duplicates rule {duplicates!r}; choose one of "
                         f"{', '.join(RULES)}")
    if duplicates == "resample" and budget < 1:
        raise ValueError(f"duplicates='resample' needs the trial's budget (>= 1), got {budget}")


def empty(space: space_lib.SearchSpace, capacity: int) -> Memory:
    """A memory for ``capacity`` queries of ``space``'s architectures."""
    one = jax.eval_shape(lambda: space.hash(space.sample(jax.random.key(0), ())))
    return Memory(hashes=jnp.zeros((capacity, one.shape[-1]), one.dtype), count=jnp.int32(0))


def contains(memory: Memory, hashes: jax.Array) -> jax.Array:
    """bool[K]: which of ``hashes`` ([K, H]) the memory holds."""
    used = jnp.arange(memory.hashes.shape[0]) < memory.count
    equal = (hashes[:, None, :] == memory.hashes[None, :, :]).all(-1)  # [K, capacity]
    return (equal & used[None, :]).any(-1)


def first_of_equals(hashes: jax.Array, eligible: jax.Array) -> jax.Array:
    """bool[K]: ``eligible`` entries of ``hashes`` ([K, H]) with no equal eligible entry
    before them (the first of each group of repeats)."""
    k = hashes.shape[0]
    equal = (hashes[:, None, :] == hashes[None, :, :]).all(-1)  # [K, K]
    earlier = jnp.arange(k)[None, :] < jnp.arange(k)[:, None]  # [j, i]: i < j
    return eligible & ~(equal & earlier & eligible[None, :]).any(-1)


def add(memory: Memory, hashes: jax.Array, mask: jax.Array | None = None) -> Memory:
    """The memory with ``hashes`` ([K, H]) appended in order, only where ``mask`` (bool[K])
    holds if given (beyond capacity: dropped)."""
    if mask is None:
        mask = jnp.ones(hashes.shape[:1], bool)
    capacity = memory.hashes.shape[0]
    slots = jnp.where(mask, memory.count + jnp.cumsum(mask) - 1, capacity)
    return Memory(hashes=memory.hashes.at[slots].set(hashes, mode="drop"),
                  count=jnp.minimum(memory.count + mask.sum(), capacity))
