"""A precomputed neighbour table over the 423,624 NAS-Bench-101 cells.

Row ``r`` of the enumeration has neighbours ``rows[offsets[r]:offsets[r + 1]]``
(enumeration rows), in exactly the order of :func:`nb101.all_neighbours`, so that
an environment step in table mode is a few gathers and gives the same episodes as
generating neighbours on the fly. Stored compactly (CSR: 10.7M int32, mean 25.4
neighbours per cell) under the data directory.
"""

from __future__ import annotations

import os
import tempfile

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from nasjax.spaces import nb101

TABLE_FILE = "nb101_neighbours_v1.npz"  # tied to the enumeration order (SPACE_FILE)
_BATCH = 8192


@flax.struct.dataclass
class NeighbourTable:
    """CSR neighbour lists of the enumeration, plus the enumeration's cells."""

    offsets: jax.Array  # int32[K + 1]
    rows: jax.Array  # int32[total], enumeration rows of neighbours
    adj_packed: jax.Array  # uint32[K], cells of the enumeration (packed adjacency)
    ops: jax.Array  # int8[K, 7]
    hashes: jax.Array  # uint32[K, 2], sorted: the table of nb101.index_of

    def cells(self, rows: jax.Array) -> nb101.Cell:
        """Cells of enumeration rows (any shape); row -1 gives an all-PAD cell."""
        safe = jnp.maximum(rows, 0)
        keep = rows >= 0
        adj = nb101.unpack_adjacency(self.adj_packed[safe]) & keep[..., None, None]
        ops = jnp.where(keep[..., None], self.ops[safe], nb101.PAD).astype(jnp.int8)
        return nb101.Cell(adj=adj, ops=ops)

    def neighbour_rows(self, rows: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(int32[..., M], bool[..., M])``: neighbour rows of each row, padded with -1."""
        start = self.offsets[rows]
        count = self.offsets[rows + 1] - start
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

    from nasjax.paths import data_dir as resolve

    start = time.perf_counter()
    offsets, rows = _compute(data_dir, progress)
    path = resolve(data_dir) / TABLE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    with os.fdopen(fd, "wb") as handle:
        np.savez_compressed(handle, offsets=offsets, rows=rows)
    os.replace(tmp, path)
    counts = np.diff(offsets)
    return {"benchmark": "nb101-neighbours", "file": str(path), "cells": int(len(counts)),
            "neighbours_total": int(len(rows)), "neighbours_mean": float(counts.mean()),
            "neighbours_max": int(counts.max()), "seconds": round(time.perf_counter() - start, 1)}


def load(data_dir=None, progress: bool = True) -> NeighbourTable:
    """The cached table, built first when missing."""
    from nasjax.paths import data_dir as resolve

    path = resolve(data_dir) / TABLE_FILE
    if not path.exists():
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
