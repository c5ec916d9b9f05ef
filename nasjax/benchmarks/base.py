"""The Benchmark interface: a pytree of arrays and a pure, jitted ``query``.

A benchmark is a table over cells, keyed by the 64-bit cell hash
(:func:`nasjax.spaces.nb101.hash_cells`), sorted so that lookup is a binary
search. Each row holds ``R`` recorded values (training repeats, or surrogate
ensemble members); rows with fewer than ``R`` values are NaN-padded.
Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from nasjax import paths
from nasjax.spaces import graph, nb101

TABLE_FORMAT = 1  # version of the on-disk table layout written by save_table
REMAKE = "python -m launch.prepare_data --benchmark=NAME (see its --help)"  # default remake hint


@flax.struct.dataclass
class Metrics:
    """What one query of a benchmark returns; every field has the batch shape."""

    valid: jax.Array  # bool[...], False when the cell is not in the table
    val_acc: jax.Array  # float32[...], validation accuracy in [0, 1], NaN when invalid
    test_acc: jax.Array  # float32[...], NaN when invalid or when the benchmark has none
    train_seconds: jax.Array  # float32[...], simulated training time
    params: jax.Array  # float32[...], trainable parameters


@flax.struct.dataclass
class Benchmark:
    """A table benchmark over cells. ``name`` and ``info`` are static metadata."""

    hashes: jax.Array  # uint32[K, 2], sorted lexicographically, unique
    val_acc: jax.Array  # float32[K, R], NaN-padded recorded values
    test_acc: jax.Array  # float32[K, R], all NaN when the source has no test accuracy
    train_seconds: jax.Array  # float32[K, R]
    params: jax.Array  # float32[K]
    num_values: jax.Array  # int32[K], how many of the R values are recorded (>= 1)
    name: str = flax.struct.field(pytree_node=False, default="benchmark")
    info: tuple = flax.struct.field(pytree_node=False, default=())  # ((key, value), ...)
    buckets: jax.Array | None = None  # int32[2^16 + 1], first-level index (graph.bucket_index)
    search_steps: int = flax.struct.field(pytree_node=False, default=0)

    def __post_init__(self):
        # Every benchmark gets the first-level hash index, however it was built.
        graph.attach_bucket_index(self)

    def lookup(self, hashes: jax.Array) -> jax.Array:
        """int32[...]: table rows of cell hashes ``uint32[..., 2]``, -1 when absent."""
        return graph.sorted_lookup(self.hashes, hashes, self.buckets, self.search_steps)

    @property
    def size(self) -> int:
        """Number of cells in the table."""
        return self.hashes.shape[0]

    @property
    def has_test(self) -> bool:
        """Whether the source records test accuracy (host-side check)."""
        return bool(np.isfinite(np.asarray(self.test_acc)).any())

    @property
    def metadata(self) -> dict:
        """The ``info`` pairs as a dict."""
        return dict(self.info)

    @property
    def label(self) -> str:
        """The name for tables and plots, marked SYNTHETIC when the data is not measured."""
        synthetic = "SYNTHETIC" in str(self.metadata.get("data", ""))
        return f"{self.name} (SYNTHETIC)" if synthetic else self.name


def _gather(values: jax.Array, row: jax.Array, column: jax.Array | None) -> jax.Array:
    if column is None:
        return jnp.nanmean(values[row], axis=-1)
    return values[row, column]


def query_index(bench: Benchmark, rows: jax.Array, key: jax.Array | None = None,
                mode: str = "mean") -> Metrics:
    """Metrics of table rows (-1 = not in the table), as :func:`query` does for cells."""
    valid = rows >= 0
    row = jnp.maximum(rows, 0)
    if mode == "mean":
        column = None
    elif mode == "noisy":
        if key is None:
            raise ValueError("mode='noisy' needs a PRNG key")
        column = jax.random.randint(key, rows.shape, 0, bench.num_values[row])
    else:
        raise ValueError(f"unknown query mode {mode!r}; use 'mean' or 'noisy'")
    nan = jnp.float32(jnp.nan)

    def pick(values):
        return jnp.where(valid, _gather(values, row, column), nan).astype(jnp.float32)

    return Metrics(
        valid=valid,
        val_acc=pick(bench.val_acc),
        test_acc=pick(bench.test_acc),
        train_seconds=pick(bench.train_seconds),
        params=jnp.where(valid, bench.params[row], nan).astype(jnp.float32),
    )


def query(bench: Benchmark, cells: nb101.Cell, key: jax.Array | None = None,
          mode: str = "mean") -> Metrics:
    """Exact lookup of cells through the 64-bit hash; batch-shaped, jittable.

    Args:
      bench: the benchmark table.
      cells: Cell[...].
      key: PRNG key, needed for ``mode="noisy"``.
      mode: ``"mean"`` averages the recorded values (the seeds' reduced-noise
        setting); ``"noisy"`` draws one recorded repeat or ensemble member per cell.
    Returns:
      Metrics[...]; a cell absent from the table has ``valid=False`` and NaN values,
      never another cell's numbers.
    """
    return query_index(bench, bench.lookup(nb101.hash_cells(cells)), key, mode)


# ----------------------------------------------------------------------------- budget


@flax.struct.dataclass
class Budget:
    """Counters like the official API's: queries made and simulated training seconds."""

    queries: jax.Array  # int32[...]
    train_seconds: jax.Array  # float32[...]

    @classmethod
    def zeros(cls, shape: tuple[int, ...] = ()) -> "Budget":
        """A fresh budget of the given batch shape."""
        return cls(queries=jnp.zeros(shape, jnp.int32), train_seconds=jnp.zeros(shape, jnp.float32))


def charge(budget: Budget, metrics: Metrics, counted: jax.Array | None = None) -> Budget:
    """Add queries to the budget; works inside ``lax.scan``.

    Args:
      budget: Budget[...].
      metrics: Metrics[..., Q] of Q queries per budget entry.
      counted: bool[..., Q], which of them count (default: all).
    """
    if counted is None:
        counted = jnp.ones(metrics.valid.shape, bool)
    seconds = jnp.where(counted & metrics.valid, metrics.train_seconds, 0.0)
    return Budget(
        queries=budget.queries + counted.sum(-1).astype(jnp.int32),
        train_seconds=budget.train_seconds + seconds.sum(-1).astype(jnp.float32),
    )


# ----------------------------------------------------------------------------- tables on disk


def save_table(path: str | os.PathLike, *, hashes, val_acc, test_acc, train_seconds, params,
               name: str, info: dict, extra: dict | None = None) -> None:
    """Write a benchmark table as ``.npz`` atomically (temporary file, then rename), with its
    checksum file (:func:`nasjax.paths.verified_write`).

    ``hashes`` are sorted here; ``val_acc``/``test_acc``/``train_seconds`` are
    ``[K, R]`` NaN-padded; ``info`` is JSON metadata (source, metric notes, quality);
    ``extra`` holds further per-cell arrays (leading axis K, e.g. halfway-epoch
    accuracies), stored as ``extra_<name>`` and read back by :func:`load_extra`.
    """
    path = Path(path)
    hashes = np.asarray(hashes, np.uint32)
    order = np.argsort(graph.hash_to_uint64(hashes), kind="stable")
    sorted_keys = graph.hash_to_uint64(hashes[order])
    if (np.diff(sorted_keys) == 0).any():
        raise ValueError(f"table {name!r} has duplicate cells (equal hashes)")
    val_acc = np.asarray(val_acc, np.float32).reshape(len(hashes), -1)[order]
    num_values = np.isfinite(val_acc).sum(-1).astype(np.int32)
    if (num_values == 0).any():
        raise ValueError(f"table {name!r} has cells with no recorded validation accuracy")
    arrays = dict(
        hashes=hashes[order],
        val_acc=val_acc,
        test_acc=np.asarray(test_acc, np.float32).reshape(len(hashes), -1)[order],
        train_seconds=np.asarray(train_seconds, np.float32).reshape(len(hashes), -1)[order],
        params=np.asarray(params, np.float32)[order],
        num_values=num_values,
        meta=np.frombuffer(json.dumps({"format": TABLE_FORMAT, "name": name, **info}).encode(),
                           dtype=np.uint8),
    )
    for key, value in (extra or {}).items():
        arrays[f"extra_{key}"] = np.asarray(value)[order]
    with paths.verified_write(path) as handle:
        np.savez_compressed(handle, **arrays)


def load_table(path: str | os.PathLike, remake: str = REMAKE) -> Benchmark:
    """Read a table written by :func:`save_table`, verified against its checksum file.

    Raises:
      DataFileError: naming the file and ``remake`` when it is missing, lacks its checksum
        file, or fails it (truncated, shuffled, replaced).
      ValueError: naming the file when a verified file is still not a nasjax table.
    """
    path = Path(path)
    paths.verify(path, remake)
    try:
        with np.load(path) as data:
            arrays = {key: data[key] for key in data.files if not key.startswith("extra_")}
        meta = json.loads(arrays.pop("meta").tobytes().decode())
    except FileNotFoundError:
        raise
    except Exception as error:
        raise ValueError(f"benchmark table {path} is corrupt or not a nasjax table: {error}") from error
    if meta.get("format") != TABLE_FORMAT:
        raise ValueError(f"benchmark table {path} has format {meta.get('format')}, "
                         f"expected {TABLE_FORMAT}; rebuild it with launch.prepare_data")
    name = meta.pop("name")
    meta.pop("format")
    info = tuple(sorted((k, json.dumps(v) if isinstance(v, (dict, list)) else v)
                        for k, v in meta.items()))
    return Benchmark(
        hashes=jnp.asarray(arrays["hashes"]),
        val_acc=jnp.asarray(arrays["val_acc"]),
        test_acc=jnp.asarray(arrays["test_acc"]),
        train_seconds=jnp.asarray(arrays["train_seconds"]),
        params=jnp.asarray(arrays["params"]),
        num_values=jnp.asarray(arrays["num_values"]),
        name=name,
        info=info,
    )


def load_extra(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The ``extra`` arrays of a saved table, in table (hash-sorted) row order."""
    with np.load(path) as data:
        return {key[len("extra_"):]: data[key] for key in data.files if key.startswith("extra_")}


def from_function(cells: nb101.Cell, val_acc, *, test_acc=None, name="synthetic",
                  train_seconds=None, params=None) -> Benchmark:
    """An in-memory benchmark over given cells (tests, hand-built and synthetic objectives).

    ``val_acc`` is ``float[K]`` or ``float[K, R]``. Synthetic tables must say so in ``name``.
    """
    hashes = np.asarray(nb101.hash_cells(cells))
    k = len(hashes)
    val_acc = np.asarray(val_acc, np.float32).reshape(k, -1)
    nan = np.full_like(val_acc, np.nan)
    order = np.argsort(graph.hash_to_uint64(hashes), kind="stable")
    fill = (lambda x, default: np.asarray(default if x is None else x, np.float32).reshape(k, -1))
    return Benchmark(
        hashes=jnp.asarray(hashes[order]),
        val_acc=jnp.asarray(val_acc[order]),
        test_acc=jnp.asarray(fill(test_acc, nan)[order]),
        train_seconds=jnp.asarray(fill(train_seconds, np.zeros_like(val_acc))[order]),
        params=jnp.asarray(fill(params, np.zeros(k)).reshape(k)[order]),
        num_values=jnp.asarray(np.isfinite(val_acc[order]).sum(-1).astype(np.int32)),
        name=name,
    )
