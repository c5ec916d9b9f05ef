"""Neighbours of a NAS-Bench-101 cell: the five edits of seed 000, section 3.2.1.

Every edit is generated as a fixed-size block of candidate cells with a validity
flag, in this deterministic order:

1. change a label (``10`` = 5 interior slots x 2 other ops; never input/output),
2. remove an edge (``21`` pairs; only if source and target keep an out- and an
   in-edge, so the graph stays connected and needs no pruning),
3. add an edge (``21`` pairs; acyclic by construction, at most 9 edges),
4. add a vertex (``63`` = 21 (predecessor i, successor j) pairs x 3 ops; the new
   vertex sits just before j with the edges i -> new -> j),
5. remove a vertex (``5 x 2^FREE_PAIRS`` = 5 vertices x every subset of the
   rewiring edges predecessor -> successor that are not already edges, Fig. 2;
   a selection is kept when every remaining vertex keeps an in- and an out-edge).

Each result is valid and pruned by construction (in a DAG, every vertex lies on an
input -> output path exactly when all but the input have an in-edge and all but the
output an out-edge), and is checked with :func:`nb101.is_valid`. The valid
candidates are packed into ``MAX_CANDIDATES`` slots, hashed, and duplicates under
isomorphism (and the cell itself) removed, keeping the first in candidate order.

Bounds, derived by exhausting all 423,624 cells (a slow test re-checks them):
``FREE_PAIRS = 6`` (most rewiring pairs of one removed vertex), at most
``MAX_CANDIDATES = 77`` valid candidates per cell, and so at most
``MAX_NEIGHBOURS = M = 77`` distinct neighbours (the cell reaching 77 has no
duplicate candidates; the mean is 25.4, the minimum 3). A priori the blocks allow
10 + 21 + 21 + 63 + 320 = 435 raw candidates, but at most 9 edges and 7 vertices
leave no cell more than 77 valid ones.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.spaces import nb101
from nasjax.spaces.nb101 import MAX_EDGES, NUM_OPS, NUM_VERTICES, PAD, Cell

FREE_PAIRS = 6
MAX_CANDIDATES = 77
MAX_NEIGHBOURS = 77

_PAIRS = np.stack([nb101.TRIU_ROWS, nb101.TRIU_COLS], -1)  # [21, 2]
_INTERIOR = np.arange(1, NUM_VERTICES - 1)  # slots that may hold an op
_LABEL_EDITS = np.array(list(itertools.product(_INTERIOR, range(1, NUM_OPS))))  # [10, 2]


def _change_label(cell: Cell, n, edges):
    slot, shift = _LABEL_EDITS[:, 0], _LABEL_EDITS[:, 1]
    rows = jnp.arange(len(slot))
    ops = jnp.broadcast_to(cell.ops, (len(slot), NUM_VERTICES))
    new = ((ops[rows, slot].astype(jnp.int32) + shift) % NUM_OPS).astype(jnp.int8)
    ops = ops.at[rows, slot].set(new)
    adj = jnp.broadcast_to(cell.adj, (len(slot),) + cell.adj.shape)
    return Cell(adj=adj, ops=ops), jnp.asarray(slot) < n - 1


def _toggle_edge(cell: Cell, n, edges, add: bool):
    u, v = _PAIRS[:, 0], _PAIRS[:, 1]
    rows = jnp.arange(len(u))
    adj = jnp.broadcast_to(cell.adj, (len(u),) + cell.adj.shape).at[rows, u, v].set(add)
    ops = jnp.broadcast_to(cell.ops, (len(u), NUM_VERTICES))
    present_edge = cell.adj[u, v]
    if add:
        ok = ~present_edge & (jnp.asarray(v) < n) & (edges < MAX_EDGES)
    else:
        ok = present_edge & (cell.adj.sum(1)[u] > 1) & (cell.adj.sum(0)[v] > 1)
    return Cell(adj=adj, ops=ops), ok


def _insert_slot(x, j: int, axis: int):
    """Insert an empty slot at static index ``j`` along ``axis``, dropping the last slot."""
    x = jnp.moveaxis(x, axis, 0)
    x = jnp.concatenate([x[:j], jnp.zeros_like(x[:1]), x[j:-1]])
    return jnp.moveaxis(x, 0, axis)


def _delete_slot(x, v: int, axis: int, fill):
    """Delete the slot at static index ``v`` along ``axis``, appending a ``fill`` slot."""
    x = jnp.moveaxis(x, axis, 0)
    x = jnp.concatenate([x[:v], x[v + 1:], jnp.full_like(x[:1], fill)])
    return jnp.moveaxis(x, 0, axis)


def _add_vertex(cell: Cell, n, edges):
    cells, oks = [], []
    for i, j in _PAIRS:  # static: the new vertex takes slot j, i -> new -> old j
        adj = _insert_slot(_insert_slot(cell.adj, j, 0), j, 1)
        adj = adj.at[i, j].set(True).at[j, j + 1].set(True)
        ops = _insert_slot(cell.ops, j, 0)
        for op in range(NUM_OPS):
            cells.append(Cell(adj=adj, ops=ops.at[j].set(op)))
            oks.append((j < n) & (n < NUM_VERTICES) & (edges + 2 <= MAX_EDGES))
    return jax.tree.map(lambda *x: jnp.stack(x), *cells), jnp.stack(oks)


def _remove_vertex(cell: Cell, n, edges):
    subsets = jnp.arange(1 << FREE_PAIRS)[:, None, None]
    slots = jnp.arange(NUM_VERTICES)
    cells, oks = [], []
    for v in _INTERIOR:  # static
        free = cell.adj[:, v][:, None] & cell.adj[v, :][None, :] & ~cell.adj  # [7, 7]
        rank = jnp.maximum(jnp.cumsum(free.reshape(-1)).reshape(free.shape) - 1, 0)
        chosen = free[None] & (((subsets >> rank[None]) & 1) == 1)  # [64, 7, 7]
        others = (slots != v) & (slots < n)
        adj = (cell.adj[None] | chosen) & (slots != v)[:, None] & (slots != v)[None, :]
        has_in = ((adj.sum(1) > 0) | (slots == 0) | ~others).all(-1)
        has_out = ((adj.sum(2) > 0) | (slots == n - 1) | ~others).all(-1)
        ok = (v < n - 1) & (subsets[:, 0, 0] < (1 << free.sum())) & has_in & has_out
        ok &= adj.sum((1, 2)) <= MAX_EDGES
        adj = _delete_slot(_delete_slot(adj, v, 1, False), v, 2, False)
        ops = _delete_slot(cell.ops, v, 0, PAD)
        cells.append(Cell(adj=adj, ops=jnp.broadcast_to(ops, (len(adj), NUM_VERTICES))))
        oks.append(ok)
    return jax.tree.map(lambda *x: jnp.concatenate(x), *cells), jnp.concatenate(oks)


def _candidates(cell: Cell):
    """All raw candidates of one cell: (Cell[435], bool[435]) in the documented order.

    The flags are exact validity conditions of each edit (see the module docstring),
    so every flagged candidate is a valid, pruned cell.
    """
    n = nb101.num_vertices(cell)
    edges = nb101.num_edges(cell)
    blocks = [
        _change_label(cell, n, edges),
        _toggle_edge(cell, n, edges, add=False),
        _toggle_edge(cell, n, edges, add=True),
        _add_vertex(cell, n, edges),
        _remove_vertex(cell, n, edges),
    ]
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
    reshape = lambda x: x.reshape(batch + x.shape[1:])
    return jax.tree.map(reshape, out), reshape(mask)


def subset(key: jax.Array, mask: jax.Array, max_neighbours: int) -> tuple[jax.Array, jax.Array]:
    """A uniform random subset of ``max_neighbours`` masked entries, in their original order.

    Args:
      key: PRNG key.
      mask: bool[M], masked entries packed to the front.
      max_neighbours: N.
    Returns:
      ``(int32[N] indices into M, bool[N] validity)``: all masked entries when there
      are at most N, padded.
    """
    size = mask.shape[-1]
    if max_neighbours < size:
        score = jnp.where(mask, jax.random.uniform(key, (size,)), 2.0)
        _, chosen = jax.lax.top_k(-score, max_neighbours)
        chosen = jnp.sort(chosen)
    else:
        chosen = jnp.concatenate([jnp.arange(size), jnp.zeros(max_neighbours - size, int)])
    valid = mask[chosen] & (jnp.arange(max_neighbours) < mask.sum())
    return chosen.astype(jnp.int32), valid


def select_neighbours(key: jax.Array, neighbours: Cell, mask: jax.Array,
                      max_neighbours: int) -> tuple[Cell, jax.Array]:
    """The cells of :func:`subset`: ``(Cell[N], bool[N])``, padding all-PAD."""
    chosen, valid = subset(key, mask, max_neighbours)
    picked = jax.tree.map(lambda x: x[chosen], neighbours)
    picked = Cell(adj=picked.adj & valid[:, None, None],
                  ops=jnp.where(valid[:, None], picked.ops, PAD).astype(jnp.int8))
    return picked, valid


@jax.jit(static_argnames="max_neighbours")
def neighbours(cell: Cell, key: jax.Array, max_neighbours: int = 50) -> tuple[Cell, jax.Array]:
    """Up to ``max_neighbours`` neighbours of one cell: a uniform random subset when it has more.

    Deterministic given ``key``; padded cells are all-PAD and masked out.
    Returns ``(Cell[N], bool[N])``.
    """
    everything, mask = all_neighbours(cell)
    return select_neighbours(key, everything, mask, max_neighbours)
