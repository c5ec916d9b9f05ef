"""Uniform random subsets of neighbours from one random word (Cassimon et al. §3.2.1).

At most ``N`` of an architecture's neighbours are presented; when it has more, a uniform
random subset is shown, in the neighbourhood's order. The draws use a counter-based murmur3
mix of one ``uint32`` word instead of ``N`` threefry draws, which would dominate a table-mode
environment step on a CPU.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def words(seed: jax.Array, count: int) -> jax.Array:
    """uint32[count] pseudo-random words from one random word ``seed`` (murmur3 finaliser of a
    Weyl sequence)."""
    z = seed + jnp.arange(count, dtype=jnp.uint32) * jnp.uint32(0x9E3779B9)
    z = (z ^ (z >> 16)) * jnp.uint32(0x85EBCA6B)
    z = (z ^ (z >> 13)) * jnp.uint32(0xC2B2AE35)
    return z ^ (z >> 16)


def below(words: jax.Array, bound: jax.Array) -> jax.Array:
    """``floor(words * bound / 2^32)``: int32 uniform in ``[0, bound)`` (bias < bound / 2^32),
    for ``bound < 2^16``."""
    bound = bound.astype(jnp.uint32)
    high, low = words >> 16, words & jnp.uint32(0xFFFF)
    return ((high * bound + ((low * bound) >> 16)) >> 16).astype(jnp.int32)


def subset(seed: jax.Array, count: jax.Array, size: int, n: int) -> tuple[jax.Array, jax.Array]:
    """A uniform random subset of ``min(count, n)`` of the entries ``0..count-1`` of ``size``.

    Reservoir sampling (Vitter's algorithm R): slot ``s`` starts with entry ``s``; entry
    ``i >= n`` replaces slot ``r`` for ``r`` uniform in ``0..i`` when ``r < n``. With
    ``count <= n`` every entry is kept, in order.

    Args:
      seed: uint32[] random word.
      count: int32[] entries available (packed to the front).
      size: static number of entry slots (M).
      n: static number of presented slots (N).
    Returns:
      ``(int32[n] entry of each slot, bool[n] slot holds an entry)``.
    """
    slots = jnp.arange(n, dtype=jnp.int32)
    if size > n:
        entries = jnp.arange(n, size, dtype=jnp.int32)
        draws = below(words(seed, size - n), entries + 1)
        draws = jnp.where(entries < count, draws, n)  # absent entries replace nothing
        # The last entry drawn into a slot stays there: a scatter-max (entries increase).
        last = jnp.full(n, -1, jnp.int32).at[draws].max(entries, mode="drop")
        slots = jnp.where(last >= 0, last, slots)
    return slots, jnp.arange(n) < count
