"""A precomputed neighbour table over the 423,624 NAS-Bench-101 cells.

Row ``r`` of the enumeration has neighbours ``rows[offsets[r]:offsets[r + 1]]``
(enumeration rows), in exactly the order of :func:`nb101_neighbours.all_neighbours`, so that
an environment step in table mode is a few gathers and gives the same episodes as
generating neighbours on the fly. Stored compactly (CSR: 10.9M int32, mean 25.7
neighbours per cell) under the data directory.

The table lists the neighbours of each class's *representative* (the enumeration's cell),
in the order the edits generate them from it; :func:`nb101_canonical.canonical` computes that
representative without the table, so that on-the-fly generation presents the same
neighbours in the same order. The table is a :class:`~nasjax.spaces.base.Neighbourhood`:
a node is an enumeration row (-1 for padding).
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from nasjax import fusion, paths
from nasjax.spaces import base, graph, nb101, nb101_dense, nb101_neighbours, presentation

# Tied to the enumeration order (SPACE_FILE) and the edits; v3: every acyclic edge and vertex
# addition (v2 added them only forward in the vertex order).
TABLE_FILE = "nb101_neighbours_v3.npz"
# The table row of every labelled cell the sampler can draw: tied to the enumeration order and
# the sampler, not to the edits.
SAMPLER_ROWS_FILE = "nb101_sampler_rows_v1.npz"
# Cells per jitted batch of the build: 512 built the table in 22 s on 2 CPU cores where 8,192
# took 28-30 s (the 519 raw candidates of each cell stay in cache), with the same bytes.
_BATCH = 512


@flax.struct.dataclass
class NeighbourTable:
    """CSR neighbour lists of the enumeration, plus the enumeration's cells."""

    offsets: jax.Array  # int32[K + 1]
    rows: jax.Array  # int32[total], enumeration rows of neighbours
    adj_packed: jax.Array  # uint32[K], cells of the enumeration (packed adjacency)
    ops: jax.Array  # int8[K, 7]
    hashes: jax.Array  # uint32[K, 2], sorted: the table of nb101.index_of
    buckets: jax.Array  # int32[2^BUCKET_BITS + 1], first-level index of hashes
    sampled: jax.Array  # int32[1293208]: row of each cell the sampler can draw
    dense_keys: jax.Array  # int32[2^21]: nb101_dense.keys(), where locate finds positions
    search_steps: int = flax.struct.field(pytree_node=False)  # halvings within a bucket

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
        slots = jnp.arange(nb101_neighbours.MAX_NEIGHBOURS)
        mask = slots < count[..., None]
        index = jnp.where(mask, start[..., None] + slots, 0)
        return jnp.where(mask, self.rows[index], -1), mask

    # The Neighbourhood strategy (nasjax.spaces.base): a node is an enumeration row, -1 padding.

    def locate(self, arch: nb101.Cell) -> jax.Array:
        """int32[...]: enumeration rows of cells (any representation); -1 when not valid.

        The row of the cell's dense position (:mod:`nb101_dense`, -1 exactly where
        :func:`nb101.is_valid` is False): the sampler's cells are those positions, so this is
        :meth:`index_of` by two gathers instead of a hash and a binary search."""
        position = nb101_dense.position(self.dense_keys, arch)
        return jnp.where(position >= 0, self.sampled[jnp.maximum(position, 0)], -1)

    def settle(self, node: jax.Array) -> jax.Array:
        """Rows are already representatives."""
        return node

    def sample(self, key: jax.Array) -> jax.Array:
        """int32[]: the row of the cell :func:`nb101.sample` draws from ``key`` (the same
        draws; a gather instead of hashing the cell)."""
        row, ops = nb101.sampler_draws(key, ())
        return self.sampled[nb101.sampler_index(row, ops)]

    def arch(self, node: jax.Array) -> nb101.Cell:
        """The representative cells of rows (:meth:`cells`)."""
        return self.cells(node)

    def present(self, seed: jax.Array, node: jax.Array, n: int):
        """``(int32[n] rows, bool[n], int32[])``: a uniform random subset of the neighbours of
        one row (padding -1), and their total count."""
        everything, mask = self.neighbour_rows(node)
        count = mask.sum().astype(jnp.int32)
        chosen, valid = presentation.subset(seed, count, mask.shape[-1], n)
        return jnp.where(valid, everything[chosen], -1), valid, count


def make_table(offsets: np.ndarray, rows: np.ndarray, adj_packed: np.ndarray, ops: np.ndarray,
               hashes: np.ndarray, sampled: np.ndarray | None = None) -> NeighbourTable:
    """A :class:`NeighbourTable` over the enumeration (host or device arrays).

    Adds the first-level hash index (a shorter search for ``index_of``) and, unless
    ``sampled`` is given (:func:`load` caches it), the rows of the sampler's cells, so that a
    reset is a gather instead of a hash and a look-up (seconds of jitted work).

    Args:
      offsets: int32[K + 1], rows: int32[total]: the CSR neighbour lists.
      adj_packed: uint32[K], ops: int8[K, 7]: the cells of the enumeration.
      hashes: uint32[K, 2], sorted and unique.
      sampled: int32[1293208], :func:`sampler_rows` of ``hashes``, or None to compute it.
    """
    hashes = np.asarray(hashes)
    buckets, steps = graph.bucket_index(hashes)
    if sampled is None:
        sampled = sampler_rows(hashes)
    return NeighbourTable(offsets=jnp.asarray(offsets), rows=jnp.asarray(rows),
                          adj_packed=jnp.asarray(adj_packed), ops=jnp.asarray(ops),
                          hashes=jnp.asarray(hashes), buckets=jnp.asarray(buckets),
                          sampled=jnp.asarray(sampled),
                          dense_keys=base.device_keys(nb101_dense.INDEX), search_steps=steps)


def sampler_rows(hashes) -> np.ndarray:
    """int32[1293208]: the row of every labelled cell the sampler can draw
    (:func:`nb101.sampler_cells` order) in a table of sorted hashes ``uint32[K, 2]``, -1 where
    the table lacks it: the dense index's join (:func:`base.dense_rows`; its positions are the
    sampler's cells, all valid)."""
    return base.dense_rows(nb101_dense.INDEX, nb101.hash_cells, hashes)


def load_sampler_rows(data_dir, hashes: np.ndarray) -> np.ndarray:
    """The cached :func:`sampler_rows` of the enumeration (``hashes``, its sorted hashes),
    computed and cached when missing or when it fails its checksum (with a warning): the
    enumeration row, so the isomorphism class, of each dense position."""
    path = paths.data_dir(data_dir) / SAMPLER_ROWS_FILE
    remake = (f"python -m nasjax.launch.prepare_data --benchmark=nb101-neighbours "
              f"--data_dir={path.parent}")
    if paths.cached(path, remake):
        try:
            with np.load(path) as data:
                rows = data["rows"]
        except Exception as error:
            raise ValueError(f"cannot read the sampler rows {path}: {error}; delete it and it "
                             "will be rebuilt") from error
        if rows.shape != (nb101.num_sampler_cells(),):
            raise ValueError(f"sampler rows {path} have shape {rows.shape}; delete the file and "
                             "it will be rebuilt")
        return rows
    rows = sampler_rows(hashes)
    with paths.verified_write(path) as handle:
        np.savez_compressed(handle, rows=rows)
    return rows


def dense_classes(data_dir, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``make_table``'s ``dense_classes`` of a benchmark over the space: the cached sampler rows
    (:func:`load_sampler_rows`) and the enumeration's sorted ``hashes``. None where they are
    not cached and the data directory is read-only: the join then hashes the dense index, as
    building them would."""
    try:
        return load_sampler_rows(data_dir, hashes), hashes
    except paths.DataDirError:
        return None


def _compute(data_dir, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    from tqdm.auto import tqdm

    cells = nb101.enumerate_cells(data_dir, progress=progress)
    hashes = nb101.space_hashes(data_dir, progress=False)
    sampled = jnp.asarray(load_sampler_rows(data_dir, np.asarray(hashes)))

    @jax.jit
    def batch_rows(batch, sampled, dense_keys):  # arrays as arguments: constants compile slowly
        def row(found):  # a valid cell's enumeration row, its class, from its dense position
            position = nb101_dense.position(dense_keys, found)
            # Materialised: fused into the [C, C] comparison, it would be computed C times.
            return fusion.materialize(jnp.where(position >= 0,
                                                sampled[jnp.maximum(position, 0)], -1))

        # The rows are isomorphism keys (equal rows, equal hashes): the same neighbours as
        # all_neighbours, without hashing the candidates and then the neighbours again.
        found, mask = nb101_neighbours.distinct_neighbours(batch, lambda c: row(c)[..., None])
        return jnp.where(mask, row(found), -1), mask.sum(-1)

    dense_keys = base.device_keys(nb101_dense.INDEX)
    counts, flat = [], []
    for start in tqdm(range(0, nb101.NUM_CELLS, _BATCH), desc="neighbour table",
                      unit="batch", disable=not progress):
        index = np.arange(start, start + _BATCH) % nb101.NUM_CELLS
        rows, count = map(np.asarray, batch_rows(cells[index], sampled, dense_keys))
        size = min(_BATCH, nb101.NUM_CELLS - start)
        rows, count = rows[:size], count[:size]
        if (rows[np.arange(rows.shape[1]) < count[:, None]] < 0).any():
            raise RuntimeError("a neighbour is missing from the enumeration")
        counts.append(count)
        flat.append(rows[rows >= 0])
    offsets = np.concatenate([[0], np.cumsum(np.concatenate(counts))]).astype(np.int32)
    return offsets, np.concatenate(flat).astype(np.int32)


def build(data_dir=None, progress: bool = True) -> dict:
    """Build and cache the table (minutes: ``docs/nb101-lookup.md``); returns a summary."""
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


def prepare(source=None, data_dir=None, progress: bool = True) -> dict:
    """``launch.prepare_data --benchmark=nb101-neighbours``: build and cache the table."""
    del source
    return build(data_dir, progress)


def from_lists(cells: nb101.Cell, neighbours) -> NeighbourTable:
    """A table over given cells with given neighbour lists (hand-built worlds for tests).

    Args:
      cells: Cell[K], valid, pairwise non-isomorphic.
      neighbours: K sequences of indices into ``cells`` (at most ``MAX_NEIGHBOURS`` each),
        in presentation order.
    Raises:
      ValueError on isomorphic cells, a bad index or too many neighbours.
    """
    hashes = np.asarray(jax.jit(nb101.hash_cells)(cells))  # one program, not 6,000 ops eagerly
    order = np.lexsort((hashes[:, 1], hashes[:, 0]))
    if len(np.unique(hashes, axis=0)) != len(hashes):
        raise ValueError("from_lists: two cells are isomorphic (equal hashes)")
    if len(neighbours) != len(hashes):
        raise ValueError(f"from_lists: {len(hashes)} cells but {len(neighbours)} neighbour lists")
    position = np.empty(len(order), np.int32)
    position[order] = np.arange(len(order))
    lists = [np.asarray(neighbours[i], np.int64).reshape(-1) for i in order]
    for items in lists:
        out_of_range = ((items < 0) | (items >= len(hashes))).any()
        if len(items) > nb101_neighbours.MAX_NEIGHBOURS or out_of_range:
            raise ValueError(f"from_lists: bad neighbour list {items.tolist()} (indices into "
                             f"{len(hashes)} cells, at most {nb101_neighbours.MAX_NEIGHBOURS})")
    offsets = np.concatenate([[0], np.cumsum([len(items) for items in lists])]).astype(np.int32)
    rows = np.concatenate([position[items] for items in lists] + [np.zeros(0, np.int32)])
    packed = np.asarray(nb101.pack_adjacency(cells.adj))[order]
    return make_table(offsets, rows.astype(np.int32), packed, np.asarray(cells.ops)[order],
                      hashes[order])


def load(data_dir=None, progress: bool = True) -> NeighbourTable:
    """The cached table, built first when missing or when it fails its checksum (with a warning)."""
    path = paths.data_dir(data_dir) / TABLE_FILE
    remake = (f"python -m nasjax.launch.prepare_data --benchmark=nb101-neighbours "
              f"--data_dir={path.parent}")
    if not paths.cached(path, remake):
        build(data_dir, progress)
    try:
        with np.load(path) as data:
            offsets, rows = data["offsets"], data["rows"]
    except Exception as error:
        raise ValueError(f"cannot read the neighbour table {path}: {error}; delete it and "
                         "it will be rebuilt") from error
    if len(offsets) != nb101.NUM_CELLS + 1 or offsets[-1] != len(rows):
        raise ValueError(f"neighbour table {path} is inconsistent; delete it and it will be "
                         "rebuilt")
    packed, ops, hashes = nb101.load_enumeration(data_dir, progress=False)
    return make_table(offsets, rows, packed, ops, hashes,
                      sampled=load_sampler_rows(data_dir, hashes))
