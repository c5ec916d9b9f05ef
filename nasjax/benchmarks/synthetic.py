"""``nb101-synthetic``: a SYNTHETIC objective over all 423,624 cells, for tests and plumbing.

Not real data. Accuracy is a smooth, known function of the cell (more conv3x3 and
edges help, max-pool hurts, a bonus for depth) plus a fixed hash-derived offset per
cell, with 3 "repeats" of hash-derived noise and a test accuracy. It exercises every
code path that needs test accuracy and repeats when the official file is absent.
"""

from __future__ import annotations

import numpy as np

from nasjax import spaces
from nasjax.benchmarks import base
from nasjax.spaces import nb101, nb101_space, neighbour_table

NAME = "nb101-synthetic"


def _unit(hashes: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-uniform [0, 1) values from cell hashes."""
    mixed = (hashes[:, 0].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15 & 0xFFFFFFFF)
             + hashes[:, 1].astype(np.uint64) + np.uint64(salt)) & np.uint64(0xFFFFFFFF)
    mixed ^= mixed >> np.uint64(15)
    mixed = (mixed * np.uint64(0x2C1B3C6D)) & np.uint64(0xFFFFFFFF)
    mixed ^= mixed >> np.uint64(12)
    return mixed.astype(np.float64) / 2.0**32


def accuracy(cells: nb101.Cell, hashes: np.ndarray) -> np.ndarray:
    """float[K]: the synthetic mean validation accuracy of cells (hashes uint32[K, 2])."""
    ops = np.asarray(cells.ops)
    adj = np.asarray(cells.adj)
    conv3 = (ops == nb101.CONV3X3).sum(-1)
    pool = (ops == nb101.MAXPOOL3X3).sum(-1)
    edges = adj.sum((-2, -1))
    score = 0.86 + 0.012 * conv3 - 0.008 * pool + 0.004 * edges
    return np.clip(score + 0.02 * (_unit(hashes, 1) - 0.5), 0.0, 1.0)


def make(data_dir=None, progress: bool = True) -> base.TableBenchmark:
    """The synthetic benchmark over the whole enumeration (named ``nb101-synthetic``)."""
    packed, ops, hashes = nb101.load_enumeration(data_dir, progress=progress)
    cells = nb101.Cell(adj=nb101.unpack_adjacency(packed), ops=ops)
    mean = accuracy(cells, hashes)
    repeats = np.stack([mean + 0.004 * (_unit(hashes, 10 + r) - 0.5) for r in range(3)], -1)
    test = np.stack([mean - 0.003 + 0.004 * (_unit(hashes, 20 + r) - 0.5) for r in range(3)], -1)
    seconds = np.repeat((600.0 + 40.0 * np.asarray(nb101.num_edges(cells)))[:, None], 3, -1)
    import jax.numpy as jnp

    return base.make_table(
        spaces.get(nb101_space.NAME),
        hashes=jnp.asarray(hashes), val_acc=jnp.asarray(repeats, jnp.float32),
        test_acc=jnp.asarray(test, jnp.float32), train_seconds=jnp.asarray(seconds, jnp.float32),
        params=jnp.asarray(1e6 * (1 + (ops >= 0).sum(-1)), jnp.float32),
        num_values=jnp.full(len(hashes), 3, jnp.int32), name=NAME,
        info=(("data", "SYNTHETIC: a known function of the cell, not measured accuracy"),),
        dense_classes=neighbour_table.dense_classes(data_dir, hashes))
