"""The representative form of NAS-Bench-101 cells: the enumeration's member of each class.

:func:`nb101.enumerate_cells` represents each isomorphism class by its first member in the
order (packed adjacency, op labelling) among the compact relabellings of its vertex count.
:func:`canonical` computes that member without the enumeration, by trying every order of the
interior vertices (120), so that a cell's representative form is a function of the
architecture alone.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.spaces import nb101

_INTERIOR = nb101.NUM_VERTICES - 2  # vertex slots between input and output
# Orders of the interior slots of the "output last" form: every relabelling to try.
_PERMUTATIONS = np.array([(0,) + order + (nb101.NUM_VERTICES - 1,)
                          for order in itertools.permutations(range(1, _INTERIOR + 1))])
_NUM_LABELLINGS = nb101.NUM_OPS ** _INTERIOR  # labelling index < 3^5 = 243


def _canonical_one(cell: nb101.Cell) -> nb101.Cell:
    v = nb101.NUM_VERTICES
    n = nb101.num_vertices(cell)
    slots = jnp.arange(v)
    # "Output last" form: the output moves to slot 6, padding to slots n-1..5.
    wide = jnp.where(slots == n - 1, v - 1, jnp.where(slots >= n, slots - 1, slots))
    ops = jnp.full(v, nb101.PAD, jnp.int8).at[wide].set(cell.ops)
    adj = jnp.zeros((v, v), bool).at[wide[:, None], wide[None, :]].set(cell.adj)
    perms = jnp.asarray(_PERMUTATIONS)  # [P, 7]: old slot placed at each new slot
    ops_p = ops[perms]
    adj_p = adj[perms[:, :, None], perms[:, None, :]]
    ok = ~(adj_p & ~jnp.triu(jnp.ones((v, v), bool), 1)).any((-2, -1))  # still upper-triangular
    ok &= ((ops_p[:, 1:-1] == nb101.PAD) == (slots[1:-1] >= n - 1)).all(-1)  # padding stays last
    # Back to the compact form, then the enumeration's order: (packed adjacency, labelling).
    compact = jnp.where(slots == v - 1, n - 1, jnp.where(slots >= n - 1, slots + 1, slots))
    count = len(_PERMUTATIONS)
    ops_c = jnp.full((count, v), nb101.PAD, jnp.int8).at[:, compact].set(ops_p)
    adj_c = jnp.zeros((count, v, v), bool).at[:, compact[:, None], compact[None, :]].set(adj_p)
    interior = (slots >= 1) & (slots <= n - 2)
    weight = jnp.where(interior, nb101.NUM_OPS ** jnp.clip(n - 2 - slots, 0, v), 0)
    labelling = (jnp.where(interior, ops_c, 0).astype(jnp.int32) * weight).sum(-1)
    order = nb101.pack_adjacency(adj_c).astype(jnp.int32) * _NUM_LABELLINGS + labelling
    best = jnp.argmin(jnp.where(ok, order, jnp.iinfo(jnp.int32).max))
    return nb101.Cell(adj=adj_c[best], ops=ops_c[best])


@jax.jit
def canonical(cells: nb101.Cell) -> nb101.Cell:
    """The enumeration's representative of each cell, computed without the enumeration.

    :func:`nb101.enumerate_cells` represents each isomorphism class by its first
    member in the order (packed adjacency, op labelling) among the compact
    relabellings of its vertex count; this tries every order of the interior
    vertices (120) and keeps that first one.

    Args:
      cells: Cell[...], valid and pruned.
    Returns:
      Cell[...]: isomorphic cells, equal to ``enumerate_cells()[index_of(...)]``.
    """
    flat = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[len(cells.shape):]), cells)
    out = jax.vmap(_canonical_one)(flat)
    return jax.tree.map(lambda x: x.reshape(cells.shape + x.shape[1:]), out)


