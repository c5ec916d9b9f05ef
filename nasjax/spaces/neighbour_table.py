"""A precomputed neighbour table over the 423,624 NAS-Bench-101 cells.

Row ``r`` of the enumeration has neighbours ``rows[offsets[r]:offsets[r + 1]]``
(enumeration rows), in exactly the order of :func:`nb101.all_neighbours`, so that
an environment step in table mode is a few gathers and gives the same episodes as
generating neighbours on the fly. Stored compactly (CSR: 10.7M int32, mean 25.4
neighbours per cell) under the data directory.

A cell's neighbours depend on its representation, not only on the architecture
("add an edge" only adds edges forward in the representation's vertex order), so
the table lists the neighbours of each class's *representative* (the enumeration's
cell). :func:`canonical` computes that representative without the table, so that
on-the-fly neighbour generation walks the same graph over architectures.
"""

from __future__ import annotations

import itertools

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from nasjax import paths
from nasjax.spaces import graph, nb101

TABLE_FILE = "nb101_neighbours_v1.npz"  # tied to the enumeration order (SPACE_FILE)
_BATCH = 8192
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


@flax.struct.dataclass
class NeighbourTable:
    """CSR neighbour lists of the enumeration, plus the enumeration's cells."""

    offsets: jax.Array  # int32[K + 1]
    rows: jax.Array  # int32[total], enumeration rows of neighbours
    adj_packed: jax.Array  # uint32[K], cells of the enumeration (packed adjacency)
    ops: jax.Array  # int8[K, 7]
    hashes: jax.Array  # uint32[K, 2], sorted: the table of nb101.index_of
    buckets: jax.Array | None = None  # int32[2^16 + 1], first-level index of hashes
    search_steps: int = flax.struct.field(pytree_node=False, default=0)

    def __post_init__(self):
        # The first-level hash index (as in Benchmark) makes index_of ~2x faster.
        graph.attach_bucket_index(self)

    def index_of(self, cells: nb101.Cell) -> jax.Array:
        """int32[...]: enumeration rows of cells (any representation), -1 when not valid."""
        return graph.sorted_lookup(self.hashes, nb101.hash_cells(cells), self.buckets,
                                   self.search_steps)

    def cells(self, rows: jax.Array) -> nb101.Cell:
        """Cells of enumeration rows (any shape); row -1 gives an all-PAD cell."""
        safe = jnp.maximum(rows, 0)
        keep = rows >= 0
        adj = nb101.unpack_adjacency(self.adj_packed[safe]) & keep[..., None, None]
        ops = jnp.where(keep[..., None], self.ops[safe], nb101.PAD).astype(jnp.int8)
        return nb101.Cell(adj=adj, ops=ops)

    def neighbour_rows(self, rows: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(int32[..., M], bool[..., M])``: neighbour rows of each row, padded with -1.

        Row -1 (a cell outside the enumeration) has no neighbours.
        """
        safe = jnp.maximum(rows, 0)
        start = self.offsets[safe]
        count = jnp.where(rows >= 0, self.offsets[safe + 1] - start, 0)
        slots = jnp.arange(nb101.MAX_NEIGHBOURS)
        mask = slots < count[..., None]
        index = jnp.where(mask, start[..., None] + slots, 0)
        return jnp.where(mask, self.rows[index], -1), mask


def _compute(data_dir, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    from tqdm.auto import tqdm

    cells = nb101.enumerate_cells(data_dir, progress=progress)
    table = nb101.space_hashes(data_dir, progress=False)

    @jax.jit
    def batch_rows(batch, table):  # the table is an argument: a closed-over constant compiles slowly
        found, mask = nb101.all_neighbours(batch)
        rows = nb101.index_of(table, found)
        return jnp.where(mask, rows, -1), mask.sum(-1)

    counts, flat = [], []
    for start in tqdm(range(0, nb101.NUM_CELLS, _BATCH), desc="neighbour table",
                      unit="batch", disable=not progress):
        index = np.arange(start, start + _BATCH) % nb101.NUM_CELLS
        rows, count = map(np.asarray, batch_rows(cells[index], table))
        size = min(_BATCH, nb101.NUM_CELLS - start)
        rows, count = rows[:size], count[:size]
        if (rows[np.arange(rows.shape[1]) < count[:, None]] < 0).any():
            raise RuntimeError("a neighbour is missing from the enumeration")
        counts.append(count)
        flat.append(rows[rows >= 0])
    offsets = np.concatenate([[0], np.cumsum(np.concatenate(counts))]).astype(np.int32)
    return offsets, np.concatenate(flat).astype(np.int32)


def build(data_dir=None, progress: bool = True) -> dict:
    """Build and cache the table (about a minute on 2 cores); returns a summary."""
    import time

    start = time.perf_counter()
    offsets, rows = _compute(data_dir, progress)
    path = paths.data_dir(data_dir) / TABLE_FILE
    with paths.verified_write(path) as handle:
        np.savez_compressed(handle, offsets=offsets, rows=rows)
    counts = np.diff(offsets)
    return {"benchmark": "nb101-neighbours", "file": str(path), "cells": int(len(counts)),
            "neighbours_total": int(len(rows)), "neighbours_mean": float(counts.mean()),
            "neighbours_max": int(counts.max()), "seconds": round(time.perf_counter() - start, 1)}


def from_lists(cells: nb101.Cell, neighbours) -> NeighbourTable:
    """A table over given cells with given neighbour lists (hand-built worlds for tests).

    Args:
      cells: Cell[K], valid, pairwise non-isomorphic.
      neighbours: K sequences of indices into ``cells`` (at most ``MAX_NEIGHBOURS`` each),
        in presentation order.
    Raises:
      ValueError on isomorphic cells, a bad index or too many neighbours.
    """
    hashes = np.asarray(nb101.hash_cells(cells))
    order = np.lexsort((hashes[:, 1], hashes[:, 0]))
    if len(np.unique(hashes, axis=0)) != len(hashes):
        raise ValueError("from_lists: two cells are isomorphic (equal hashes)")
    if len(neighbours) != len(hashes):
        raise ValueError(f"from_lists: {len(hashes)} cells but {len(neighbours)} neighbour lists")
    position = np.empty(len(order), np.int32)
    position[order] = np.arange(len(order))
    lists = [np.asarray(neighbours[i], np.int64).reshape(-1) for i in order]
    for items in lists:
        if len(items) > nb101.MAX_NEIGHBOURS or ((items < 0) | (items >= len(hashes))).any():
            raise ValueError(f"from_lists: bad neighbour list {items.tolist()} (indices into "
                             f"{len(hashes)} cells, at most {nb101.MAX_NEIGHBOURS})")
    offsets = np.concatenate([[0], np.cumsum([len(items) for items in lists])]).astype(np.int32)
    rows = np.concatenate([position[items] for items in lists] + [np.zeros(0, np.int32)])
    packed = np.asarray(nb101.pack_adjacency(cells.adj))[order]
    return NeighbourTable(offsets=jnp.asarray(offsets), rows=jnp.asarray(rows.astype(np.int32)),
                          adj_packed=jnp.asarray(packed), ops=jnp.asarray(cells.ops)[order],
                          hashes=jnp.asarray(hashes[order]))


def load(data_dir=None, progress: bool = True) -> NeighbourTable:
    """The cached table, built first when missing or when it fails its checksum (with a warning)."""
    path = paths.data_dir(data_dir) / TABLE_FILE
    remake = f"python -m launch.prepare_data --benchmark=nb101-neighbours --data_dir={path.parent}"
    if not paths.cached(path, remake):
        build(data_dir, progress)
    try:
        with np.load(path) as data:
            offsets, rows = data["offsets"], data["rows"]
    except Exception as error:
        raise ValueError(f"cannot read the neighbour table {path}: {error}; delete it and "
                         "it will be rebuilt") from error
    if len(offsets) != nb101.NUM_CELLS + 1 or offsets[-1] != len(rows):
        raise ValueError(f"neighbour table {path} is inconsistent; delete it and it will be rebuilt")
    packed, ops, hashes = nb101.load_enumeration(data_dir, progress=False)
    return NeighbourTable(offsets=jnp.asarray(offsets), rows=jnp.asarray(rows),
                          adj_packed=jnp.asarray(packed), ops=jnp.asarray(ops),
                          hashes=jnp.asarray(hashes))
