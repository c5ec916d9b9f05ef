"""Neighbours of a NAS-Bench-101 cell: the five edits of Cassimon et al. §3.2.1.

Every edit is generated as a fixed-size block of candidate cells with a validity
flag, in this deterministic order:

1. change a label (``10`` = 5 interior slots x 2 other ops; never input/output),
2. remove an edge (``21`` pairs; only if source and target keep an out- and an
   in-edge, so the graph stays connected and needs no pruning),
3. add an edge (``42`` ordered pairs ``u -> v``; any pair that is not an edge and
   closes no cycle -- no path ``v -> u`` -- at most 9 edges),
4. add a vertex (``126`` = 42 ordered (predecessor i, successor j) pairs x 3 ops; the
   new vertex gets the edges ``i -> new -> j``, allowed when there is no path ``j -> i``),
5. remove a vertex (``5 x 2^FREE_PAIRS`` = 5 vertices x every subset of the
   rewiring edges predecessor -> successor that are not already edges, Fig. 2;
   a selection is kept when every remaining vertex keeps an in- and an out-edge).

Edits 3 and 4 take every pair the DAG allows, not only pairs ordered as in the cell's
vertex order: "preceding" and "succeeding" are relations of the graph, so the
neighbourhood does not depend on which isomorphic representation a cell is given in.
An edge or vertex against the vertex order is followed by a re-sort into topological
(upper-triangular) order: the descendants of ``v`` (or ``j``) that sit between ``v`` and
``u`` move, in order, to just after ``u``; the new vertex sits just before ``j``.

Each flagged result is valid and pruned by construction (in a DAG, every vertex lies on an
input -> output path exactly when all but the input have an in-edge and all but the
output an out-edge); the tests check it with :func:`nb101.is_valid`. The valid
candidates are packed into ``MAX_CANDIDATES`` slots, hashed, and duplicates under
isomorphism (and the cell itself) removed, keeping the first in candidate order.

Bounds, derived by exhausting all 423,624 cells (a slow test re-checks them):
``FREE_PAIRS = 6`` (most rewiring pairs of one removed vertex), at most
``MAX_CANDIDATES = 87`` valid candidates per cell, and so at most
``MAX_NEIGHBOURS = M = 87`` distinct neighbours (the cell reaching 87 has no duplicate
candidates; the mean is 25.71, the minimum 3). A priori the blocks allow
10 + 21 + 42 + 126 + 320 = 519 raw candidates, but at most 9 edges and 7 vertices
leave no cell more than 87 valid ones.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.spaces import graph, nb101
from nasjax.spaces.nb101 import MAX_EDGES, NUM_OPS, NUM_VERTICES, PAD, Cell

FREE_PAIRS = 6  # most rewiring pairs of one removed vertex, over all cells
# Exact maxima over all 423,624 cells with every acyclic edge and vertex addition: 87 valid
# candidates and 87 distinct neighbours (enumeration row 1353 reaches both); the mean is
# 25.71 neighbours (10,890,938 in all), the minimum 3. Forward-only additions gave 77 and 25.4.
MAX_CANDIDATES = 87
MAX_NEIGHBOURS = 87

_PAIRS = np.stack([nb101.TRIU_ROWS, nb101.TRIU_COLS], -1)  # [21, 2], u < v
_ORDERED = np.array([(u, v) for u in range(NUM_VERTICES) for v in range(NUM_VERTICES)
                     if u != v])  # [42, 2], row-major
_SLOTS = np.arange(NUM_VERTICES)
_INTERIOR = _SLOTS[1:-1]  # slots that may hold an op
_LABEL_EDITS = np.array(list(itertools.product(_INTERIOR, range(1, NUM_OPS))))  # [10, 2]
_NEW = NUM_VERTICES - 1  # a new vertex is first written into the last slot (free when n < 7)


def _change_label(cell: Cell, n, edges, reach):
    slot, shift = _LABEL_EDITS[:, 0], _LABEL_EDITS[:, 1]
    rows = jnp.arange(len(slot))
    ops = jnp.broadcast_to(cell.ops, (len(slot), NUM_VERTICES))
    new = ((ops[rows, slot].astype(jnp.int32) + shift) % NUM_OPS).astype(jnp.int8)
    ops = ops.at[rows, slot].set(new)
    adj = jnp.broadcast_to(cell.adj, (len(slot),) + cell.adj.shape)
    return Cell(adj=adj, ops=ops), jnp.asarray(slot) < n - 1


def _remove_edge(cell: Cell, n, edges, reach):
    u, v = _PAIRS[:, 0], _PAIRS[:, 1]
    rows = jnp.arange(len(u))
    adj = jnp.broadcast_to(cell.adj, (len(u),) + cell.adj.shape).at[rows, u, v].set(False)
    ops = jnp.broadcast_to(cell.ops, (len(u), NUM_VERTICES))
    ok = cell.adj[u, v] & (cell.adj.sum(1)[u] > 1) & (cell.adj.sum(0)[v] > 1)
    return Cell(adj=adj, ops=ops), ok


def _topological_keys(reach, u, v):
    """int32[P, 7] sort keys that put ``u`` before ``v`` (pairs ``u``, ``v``: int[P]).

    The descendants of ``v`` (``v`` included) at slots up to ``u`` move, in slot order,
    to just after ``u``; every other vertex keeps its place. Sorting by these keys keeps
    every edge forward (an edge out of a moved vertex ends at a moved vertex or after ``u``)
    and the padding last; it is the identity when ``u < v``.
    """
    moved = (reach[v] | (_SLOTS == v[:, None])) & (_SLOTS <= u[:, None])  # [P, 7]
    stride = NUM_VERTICES + 1  # room for up to 7 moved slots between u and u + 1
    return jnp.where(moved, stride * u[:, None] + 1 + _SLOTS, stride * _SLOTS)


def _permute(adj, ops, keys):
    """Cells with their vertices sorted by ``keys`` (adj: bool[P, 7, 7], ops: int8[P, 7])."""
    order = jnp.argsort(keys, axis=-1, stable=True)  # [P, 7]
    rows = jnp.arange(len(order))[:, None, None]
    adj = adj[rows, order[:, :, None], order[:, None, :]]
    return Cell(adj=adj, ops=jnp.take_along_axis(ops, order, axis=-1))


def _add_edge(cell: Cell, n, edges, reach):
    u, v = _ORDERED[:, 0], _ORDERED[:, 1]
    rows = jnp.arange(len(u))
    adj = jnp.broadcast_to(cell.adj, (len(u),) + cell.adj.shape).at[rows, u, v].set(True)
    ops = jnp.broadcast_to(cell.ops, (len(u), NUM_VERTICES))
    ok = ~cell.adj[u, v] & ~reach[v, u] & (jnp.asarray(_ORDERED) < n).all(-1)
    ok &= edges < MAX_EDGES
    return _permute(adj, ops, _topological_keys(reach, jnp.asarray(u), jnp.asarray(v))), ok


def _add_vertex(cell: Cell, n, edges, reach):
    i, j = _ORDERED[:, 0], _ORDERED[:, 1]
    rows = jnp.arange(len(i))
    adj = jnp.broadcast_to(cell.adj, (len(i),) + cell.adj.shape)
    adj = adj.at[rows, i, _NEW].set(True).at[rows, _NEW, j].set(True)  # i -> new -> j
    keys = _topological_keys(reach, jnp.asarray(i), jnp.asarray(j))
    keys = keys.at[:, _NEW].set(keys[rows, j] - 1)  # just before j (keys are a stride apart)
    ok = ~reach[j, i] & (jnp.asarray(_ORDERED) < n).all(-1)
    ok &= (n < NUM_VERTICES) & (edges + 2 <= MAX_EDGES)
    ops = jnp.broadcast_to(cell.ops, (len(i), NUM_OPS, NUM_VERTICES))
    ops = ops.at[:, :, _NEW].set(jnp.arange(NUM_OPS, dtype=jnp.int8))  # [42, 3, 7]
    cells = _permute(jnp.repeat(adj, NUM_OPS, 0), ops.reshape(-1, NUM_VERTICES),
                     jnp.repeat(keys, NUM_OPS, 0))
    return cells, jnp.repeat(ok, NUM_OPS)


def _delete_slot(x, v: int, axis: int, fill):
    """Delete the slot at static index ``v`` along ``axis``, appending a ``fill`` slot."""
    x = jnp.moveaxis(x, axis, 0)
    x = jnp.concatenate([x[:v], x[v + 1:], jnp.full_like(x[:1], fill)])
    return jnp.moveaxis(x, 0, axis)


def _remove_vertex(cell: Cell, n, edges, reach):
    subsets = jnp.arange(1 << FREE_PAIRS)[:, None, None]
    cells, oks = [], []
    for v in _INTERIOR:  # static
        free = cell.adj[:, v][:, None] & cell.adj[v, :][None, :] & ~cell.adj  # [7, 7]
        rank = jnp.maximum(jnp.cumsum(free.reshape(-1)).reshape(free.shape) - 1, 0)
        chosen = free[None] & (((subsets >> rank[None]) & 1) == 1)  # [64, 7, 7]
        others = (_SLOTS != v) & (_SLOTS < n)
        adj = (cell.adj[None] | chosen) & (_SLOTS != v)[:, None] & (_SLOTS != v)[None, :]
        has_in = ((adj.sum(1) > 0) | (_SLOTS == 0) | ~others).all(-1)
        has_out = ((adj.sum(2) > 0) | (_SLOTS == n - 1) | ~others).all(-1)
        ok = (v < n - 1) & (subsets[:, 0, 0] < (1 << free.sum())) & has_in & has_out
        ok &= adj.sum((1, 2)) <= MAX_EDGES
        adj = _delete_slot(_delete_slot(adj, v, 1, False), v, 2, False)
        ops = _delete_slot(cell.ops, v, 0, PAD)
        cells.append(Cell(adj=adj, ops=jnp.broadcast_to(ops, (len(adj), NUM_VERTICES))))
        oks.append(ok)
    return jax.tree.map(lambda *x: jnp.concatenate(x), *cells), jnp.concatenate(oks)


def _candidates(cell: Cell):
    """All raw candidates of one cell: (Cell[519], bool[519]) in the documented order.

    The flags are exact validity conditions of each edit (see the module docstring),
    so every flagged candidate is a valid, pruned cell.
    """
    n = nb101.num_vertices(cell)
    edges = nb101.num_edges(cell)
    reach = graph.transitive_closure(cell.adj)  # [7, 7], paths of length >= 1
    blocks = [edit(cell, n, edges, reach)
              for edit in (_change_label, _remove_edge, _add_edge, _add_vertex, _remove_vertex)]
    cells = jax.tree.map(lambda *x: jnp.concatenate(x), *[b[0] for b in blocks])
    return cells, jnp.concatenate([b[1] for b in blocks])


def _pack(cells: Cell, keep: jax.Array, size: int):
    """Move kept entries to the front (stable) into ``size`` slots; PAD-fill the rest."""
    position = jnp.where(keep, jnp.cumsum(keep) - 1, size)
    empty = Cell(
        adj=jnp.zeros((size, NUM_VERTICES, NUM_VERTICES), bool),
        ops=jnp.full((size, NUM_VERTICES), PAD, jnp.int8),
    )
    packed = jax.tree.map(lambda e, x: e.at[position].set(x, mode="drop"), empty, cells)
    mask = jnp.arange(size) < keep.sum()
    return packed, mask


def _all_neighbours_one(cell: Cell):
    cells, ok = _candidates(cell)
    cells, ok = _pack(cells, ok, MAX_CANDIDATES)
    hashes = nb101.hash_cells(cells)  # [C, 2]
    own = nb101.hash_cells(cell)
    same = (hashes[:, None, :] == hashes[None, :, :]).all(-1)  # [C, C]
    earlier = jnp.tril(jnp.ones((MAX_CANDIDATES, MAX_CANDIDATES), bool), k=-1)
    duplicate = (same & earlier & ok[None, :]).any(-1)
    keep = ok & ~duplicate & ~(hashes == own).all(-1)
    return _pack(cells, keep, MAX_NEIGHBOURS)


@jax.jit
def all_neighbours(cells: Cell) -> tuple[Cell, jax.Array]:
    """Every neighbour of each cell under the five edits, distinct up to isomorphism.

    Args:
      cells: Cell[...], valid.
    Returns:
      ``(Cell[..., M], bool[..., M])`` with ``M = MAX_NEIGHBOURS``: the neighbours in
      the deterministic order of the module docstring, packed to the front, and
      their mask. Each is valid, pruned, not isomorphic to the cell or to another.
    """
    batch = cells.shape
    flat = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[len(batch):]), cells)
    out, mask = jax.vmap(_all_neighbours_one)(flat)

    def unflatten(x):
        return x.reshape(batch + x.shape[1:])

    return jax.tree.map(unflatten, out), unflatten(mask)
