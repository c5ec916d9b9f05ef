"""The dense index of NAS-Bench-101: a valid cell's position among every valid labelled cell.

There are 1,293,208 valid cells in compact pruned form (:func:`nb101.sampler_cells`: 6,472
adjacencies of 2..7 vertices, each with its ``3^(n-2)`` op labellings), 423,624 up to
isomorphism. A cell's position among them is two reads, without hashing: its 21 upper-triangular
adjacency bits index a table of the valid adjacencies, which gives the first position of that
adjacency's labellings and its vertex count; the interior ops, read as a base-3 number, are the
offset. A table benchmark maps positions to its rows once (:class:`~nasjax.benchmarks.base.
TableBenchmark`), so that a query is a few gathers instead of a Weisfeiler-Lehman hash and a
binary search.

The position is -1 exactly for the cells :func:`nb101.is_valid` rejects: a cell off the compact
pruned form (a stray lower-triangular or diagonal edge, an op out of place, padding between
vertices), an adjacency that is cyclic, disconnected or over 9 edges, or one whose vertex count
disagrees with the ops.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.spaces import base, nb101

_NO_ADJACENCY = -1
_COUNT_BITS = 3  # a key holds (first position << _COUNT_BITS) | vertex count (2..7)


@functools.lru_cache(maxsize=1)
def keys() -> np.ndarray:
    """int32[2^21]: for each packed upper-triangular adjacency, ``(first position << 3) | n``
    when it is a valid ``n``-vertex adjacency (:func:`nb101.pack_adjacency` bit order), else -1.
    """
    table, bounds = nb101._sampler_tables()
    counts = np.repeat(np.arange(2, nb101.NUM_VERTICES + 1), np.diff(bounds))
    first = nb101._label_starts()[:-1]
    out = np.full(1 << nb101.NUM_PAIRS, _NO_ADJACENCY, np.int32)
    out[table] = (first << _COUNT_BITS) | counts
    return out


def position(table: jax.Array, cells: nb101.Cell) -> jax.Array:
    """int32[...]: the position of each cell among :func:`nb101.sampler_cells`, -1 where
    :func:`nb101.is_valid` is False.

    Args:
      table: int32[2^21], :func:`keys` (an argument, so that it is not baked into programs).
      cells: Cell[...].
    """
    # Unrolled over vertices and vertex pairs, each term a [B] vector (as nb101.is_valid).
    v_max = nb101.NUM_VERTICES
    adj = cells.adj.reshape(-1, v_max, v_max)
    ops = cells.ops.reshape(-1, v_max).astype(jnp.int32)
    code = jnp.int32(0)
    for bit, (u, w) in enumerate(zip(nb101.TRIU_ROWS, nb101.TRIU_COLS)):
        code = code | (adj[:, u, w].astype(jnp.int32) << bit)
    ok, n, _ = nb101.ops_in_place(ops)
    for u in range(v_max):
        for w in range(u + 1):  # nothing on or below the diagonal
            ok &= ~adj[:, u, w]
    offset = jnp.int32(0)  # the interior ops as a base-3 number, slot 1 the lowest digit
    for v in range(1, v_max - 1):
        offset = offset + jnp.where(v < n - 1, ops[:, v], 0) * nb101.NUM_OPS ** (v - 1)
    key = table[code]
    ok &= (key >= 0) & ((key & ((1 << _COUNT_BITS) - 1)) == n)
    return jnp.where(ok, (key >> _COUNT_BITS) + offset, -1).reshape(cells.ops.shape[:-1])


INDEX = base.DenseIndex(keys=keys, position=position, archs=nb101.sampler_cells)
