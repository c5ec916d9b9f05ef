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
isomorphism (and the cell itself) removed, keeping the first in candidate order
(:func:`distinct_neighbours` takes another isomorphism key: the neighbour table's build
uses enumeration rows, found without hashing).

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


# Inside the edits, a cell's adjacency is 7 row words: bit b of row a is the edge a -> b. An
# edit then costs a few integer operations per row instead of one per vertex pair (a third of
# the time of boolean matrices on CPU); the words are unpacked once, after packing.
_BIT = 1 << _SLOTS  # int32[7]: the bit of each slot in a row word


def _to_rows(adj):
    """int32[..., 7] row words of ``adj`` (bool[..., 7, 7])."""
    return jnp.where(adj, _BIT, 0).sum(-1)


def _from_rows(rows):
    """bool[..., 7, 7] adjacency of row words (int32[..., 7])."""
    return (rows[..., None] >> _SLOTS) & 1 == 1


def _one_edge(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """int[P, 7] row words: pair ``p`` holds the one edge ``u[p] -> v[p]`` (a constant)."""
    return np.where(_SLOTS == u[:, None], 1 << v[:, None], 0)


_PAIR_ROWS = _one_edge(_PAIRS[:, 0], _PAIRS[:, 1])  # [21, 7]
_ORDERED_ROWS = _one_edge(_ORDERED[:, 0], _ORDERED[:, 1])  # [42, 7]
_GROWN_ROWS = (_one_edge(_ORDERED[:, 0], np.full(len(_ORDERED), _NEW))
               | _one_edge(np.full(len(_ORDERED), _NEW), _ORDERED[:, 1]))  # i -> new -> j


def _change_label(cell: Cell, rows, n, edges, reach):
    slot, shift = _LABEL_EDITS[:, 0], _LABEL_EDITS[:, 1]
    index = jnp.arange(len(slot))
    ops = jnp.broadcast_to(cell.ops, (len(slot), NUM_VERTICES))
    new = ((ops[index, slot].astype(jnp.int32) + shift) % NUM_OPS).astype(jnp.int8)
    ops = ops.at[index, slot].set(new)
    return jnp.broadcast_to(rows, (len(slot), NUM_VERTICES)), ops, jnp.asarray(slot) < n - 1


def _remove_edge(cell: Cell, rows, n, edges, reach):
    u, v = _PAIRS[:, 0], _PAIRS[:, 1]
    ops = jnp.broadcast_to(cell.ops, (len(u), NUM_VERTICES))
    ok = cell.adj[u, v] & (cell.adj.sum(1)[u] > 1) & (cell.adj.sum(0)[v] > 1)
    return rows & ~_PAIR_ROWS, ops, ok


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


def _permute(rows, ops, keys):
    """Cells with their vertices sorted by ``keys``, ties in slot order.

    Args:
      rows: int32[P, 7] row words; ops: int8[P, 7]; keys: int32[P, 7].
    Returns:
      ``(rows, ops, rank)``: the sorted cells' row words and ops, and each old slot's new slot
      (int32[P, 7]). Written as selections by a one-hot permutation (3x a gather on CPU).
    """
    before = (keys[:, None, :] < keys[:, :, None]) | (
        (keys[:, None, :] == keys[:, :, None]) & (_SLOTS[None, :] < _SLOTS[:, None]))
    rank = before.sum(-1)  # [P, 7]: new slot of each old slot
    moves = rank[:, :, None] == _SLOTS  # [P, old, new]
    renamed = (((rows[:, :, None] >> _SLOTS) & 1) << rank[:, None, :]).sum(-1)  # [P, old]
    rows = jnp.where(moves, renamed[:, :, None], 0).sum(1)  # [P, new]
    ops = jnp.where(moves, ops[:, :, None], 0).sum(1).astype(jnp.int8)
    return rows, ops, rank


def _add_edge(cell: Cell, rows, n, edges, reach):
    u, v = _ORDERED[:, 0], _ORDERED[:, 1]
    ops = jnp.broadcast_to(cell.ops, (len(u), NUM_VERTICES))
    ok = ~cell.adj[u, v] & ~reach[v, u] & (jnp.asarray(_ORDERED) < n).all(-1)
    ok &= edges < MAX_EDGES
    keys = _topological_keys(reach, jnp.asarray(u), jnp.asarray(v))
    return *_permute(rows | _ORDERED_ROWS, ops, keys)[:2], ok


def _add_vertex(cell: Cell, rows, n, edges, reach):
    i, j = _ORDERED[:, 0], _ORDERED[:, 1]
    index = jnp.arange(len(i))
    keys = _topological_keys(reach, jnp.asarray(i), jnp.asarray(j))
    keys = keys.at[:, _NEW].set(keys[index, j] - 1)  # just before j (keys are a stride apart)
    ok = ~reach[j, i] & (jnp.asarray(_ORDERED) < n).all(-1)
    ok &= (n < NUM_VERTICES) & (edges + 2 <= MAX_EDGES)
    ops = jnp.broadcast_to(cell.ops, (len(i), NUM_VERTICES))
    rows, grown_ops, rank = _permute(rows | _GROWN_ROWS, ops, keys)
    new_slot = rank[:, _NEW, None, None] == _SLOTS  # [42, 1, 7]
    op = jnp.arange(NUM_OPS, dtype=jnp.int8)[None, :, None]
    ops = jnp.where(new_slot, op, grown_ops[:, None, :]).reshape(-1, NUM_VERTICES)  # [126, 7]
    return jnp.repeat(rows, NUM_OPS, 0), ops, jnp.repeat(ok, NUM_OPS)


# Every selection of rewiring pairs (bit k: the pair of rank k), and how many it selects.
_SUBSETS = np.arange(1 << FREE_PAIRS, dtype=np.int32)[:, None]  # [64, 1]
_SELECTED = np.array([bin(s).count("1") for s in range(1 << FREE_PAIRS)])  # [64]
_RANKS = np.arange(FREE_PAIRS)[:, None]  # [6, 1]
# The slots left when interior vertex _INTERIOR[r] is removed, then slot 7: a padding slot
# (read from a cell padded to 8 slots).
_KEPT = np.array([[s for s in range(NUM_VERTICES + 1) if s != v] for v in _INTERIOR])  # [5, 7]
_BELOW = (1 << _INTERIOR[:, None]) - 1  # [5, 1]: the bits of the slots before each vertex


def _delete_vertex(words):
    """Row words (int32[5, 8], the padding row last) less the rows and the bit of each
    interior vertex in turn: int32[5, 7], the bits above it moved down one."""
    words = jnp.take_along_axis(words, jnp.asarray(_KEPT), 1)
    return (words & _BELOW) | ((words >> 1) & ~_BELOW)


def _remove_vertex(cell: Cell, rows, n, edges, reach):
    """The rewirings of every interior vertex at once, [5, 64] selections in slot-major order."""
    interior = jnp.asarray(_INTERIOR)
    # The rewiring pairs predecessor -> successor of v that are not edges, as row words.
    free = jnp.where(cell.adj[:, interior].T, rows[interior][:, None], 0) & ~rows  # [5, 7]
    # Vertex v is not in a rewiring pair: delete it first (row-major order, so the rank of each
    # pair, its bit in a selection, is unchanged).
    free = _from_rows(_delete_vertex(jnp.pad(free, ((0, 0), (0, 1))))).reshape(
        len(_INTERIOR), -1)  # [5, 49]
    base = _delete_vertex(jnp.broadcast_to(jnp.append(rows, 0), (len(_INTERIOR), 8)))
    base_adj = _from_rows(base)  # [5, 7, 7]
    rank = jnp.maximum(jnp.cumsum(free, -1) - 1, 0)  # [5, 49]
    # The row words of pair k alone (k < FREE_PAIRS), then of every selection, doubling:
    # selection s | 2^k is selection s plus pair k, so position s holds selection s.
    words = _to_rows((free[:, None] & (rank[:, None] == _RANKS)).reshape(
        len(_INTERIOR), FREE_PAIRS, NUM_VERTICES, NUM_VERTICES))  # [5, 6, 7]
    chosen = jnp.zeros((len(_INTERIOR), 1, NUM_VERTICES), jnp.int32)
    for k in range(FREE_PAIRS):
        chosen = jnp.concatenate([chosen, chosen | words[:, k, None]], 1)  # [5, 2^(k+1), 7]
    # A vertex keeps an in- (out-) edge when the base has one or the selection holds a
    # rewiring pair into (out of) it: [5, 64, 7] tests of bit masks, not reductions over pairs.
    bits = jnp.where(free, 1 << rank, 0).reshape(len(_INTERIOR), NUM_VERTICES, NUM_VERTICES)
    into, out_of = bits.sum(1)[:, None], bits.sum(2)[:, None]  # distinct bits: bitwise ors
    remaining = _SLOTS < n - 1  # vertices left after the removal, the output at n - 2
    has_in = (base_adj.any(1)[:, None] | (_SUBSETS & into != 0) | (_SLOTS == 0)
              | ~remaining).all(-1)  # [5, 64]
    has_out = ((base != 0)[:, None] | (_SUBSETS & out_of != 0) | (_SLOTS == n - 2)
               | ~remaining).all(-1)
    ok = ((interior[:, None] < n - 1) & (_SUBSETS[:, 0] < (1 << free.sum(-1)[:, None]))
          & has_in & has_out & (base_adj.sum((1, 2))[:, None] + _SELECTED <= MAX_EDGES))
    ops = jnp.broadcast_to(jnp.append(cell.ops, PAD)[_KEPT][:, None], chosen.shape)
    size = len(_INTERIOR) * len(_SUBSETS)
    return ((base[:, None] | chosen).reshape(size, NUM_VERTICES),
            ops.reshape(size, NUM_VERTICES), ok.reshape(size))


def _candidates(cell: Cell):
    """All raw candidates of one cell in the documented order: their row words
    (int32[519, 7]), ops (int8[519, 7]) and flags (bool[519]).

    The flags are exact validity conditions of each edit (see the module docstring),
    so every flagged candidate is a valid, pruned cell.
    """
    n = nb101.num_vertices(cell)
    edges = nb101.num_edges(cell)
    reach = graph.transitive_closure(cell.adj)  # [7, 7], paths of length >= 1
    rows = _to_rows(cell.adj)
    blocks = [edit(cell, rows, n, edges, reach)
              for edit in (_change_label, _remove_edge, _add_edge, _add_vertex, _remove_vertex)]
    return tuple(jnp.concatenate(parts) for parts in zip(*blocks))


def _pack(parts: tuple, keep: jax.Array, size: int, fills: tuple):
    """Move kept entries of ``parts`` (arrays [K, ...]) to the front (stable) into ``size``
    slots; fill the rest with ``fills`` (one value per part). Returns (parts, bool[size]).

    Slot ``j`` gathers the ``j``-th kept entry, found by a binary search of the running count
    (on CPU 4x faster than scattering every entry to its slot)."""
    kept = jnp.cumsum(keep)
    mask = jnp.arange(size) < kept[-1]
    source = jnp.searchsorted(kept, jnp.arange(1, size + 1), side="left", method="scan")
    source = jnp.minimum(source, keep.shape[0] - 1)
    packed = tuple(jnp.where(mask.reshape((size,) + (1,) * (x.ndim - 1)), x[source],
                             jnp.asarray(fill, x.dtype)) for x, fill in zip(parts, fills))
    return packed, mask


def _packed_candidates(cell: Cell) -> tuple[Cell, jax.Array]:
    """One cell's candidates packed to the front: (Cell[C], bool[C])."""
    rows, ops, ok = _candidates(cell)
    (rows, ops), mask = _pack((rows, ops), ok, MAX_CANDIDATES, (0, PAD))
    return Cell(adj=_from_rows(rows), ops=ops), mask


def _distinct_one(cells: Cell, ok: jax.Array, keys: jax.Array, own: jax.Array):
    """One cell's packed candidates (Cell[C], bool[C]) less repeats and the cell itself, by
    their keys (array[C, k]) and the cell's (array[k])."""
    same = (keys[:, None, :] == keys[None, :, :]).all(-1)  # [C, C]
    earlier = jnp.tril(jnp.ones((MAX_CANDIDATES, MAX_CANDIDATES), bool), k=-1)
    duplicate = (same & earlier & ok[None, :]).any(-1)
    keep = ok & ~duplicate & ~(keys == own).all(-1)
    (adj, ops), mask = _pack((cells.adj, cells.ops), keep, MAX_NEIGHBOURS, (False, PAD))
    return Cell(adj=adj, ops=ops), mask


def distinct_neighbours(cells: Cell, key) -> tuple[Cell, jax.Array]:
    """:func:`all_neighbours` with another isomorphism key (not jitted: the caller's program).

    Args:
      cells: Cell[...], valid.
      key: ``Cell[N] -> array[N, k]``, equal for two valid cells exactly when they are
        isomorphic (its values on invalid cells are never read), e.g. :func:`nb101.hash_cells`,
        or the enumeration row that a precomputed dense join gives without hashing.
    Returns:
      ``(Cell[..., M], bool[..., M])``, as :func:`all_neighbours`.
    """
    batch = cells.shape
    flat = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[len(batch):]), cells)
    candidates, ok = jax.vmap(_packed_candidates)(flat)  # Cell[N, C], bool[N, C]
    # One key of every cell and its candidates together, outside the vmap (traced once, not
    # batched again): with the hash, one copy of the unrolled hash in every program that
    # presents neighbours (it dominates their compile time).
    both = jax.tree.map(lambda one, many: jnp.concatenate([one[:, None], many], 1),
                        flat, candidates)  # Cell[N, 1 + C]
    keys = key(jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), both))
    keys = keys.reshape(both.ops.shape[:2] + keys.shape[1:])  # [N, 1 + C, k]
    out, mask = jax.vmap(_distinct_one)(candidates, ok, keys[:, 1:], keys[:, 0])

    def unflatten(x):
        return x.reshape(batch + x.shape[1:])

    return jax.tree.map(unflatten, out), unflatten(mask)


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
    return distinct_neighbours(cells, nb101.hash_cells)
