"""The Benchmark interface: ``query(bench, arch, key, mode) -> Metrics`` for every space.

A benchmark is a pytree (arrays are leaves, so they reach ``jit`` as arguments) with static
``name``, ``space`` (the registered search space it scores) and ``info``, and a method
``query(arch, key, mode)``. Two kinds ship with nasjax:

- :class:`TableBenchmark`: a table over architectures keyed by the space's 64-bit hash,
  sorted so that a lookup is a binary search. Each row holds ``R`` recorded values (training
  repeats, or the members of a surrogate ensemble evaluated over the whole space),
  NaN-padded. NAS-Bench-101's official data, its real 20k subset and its surrogate. Built by
  :func:`make_table`, which joins the space's dense index
  (:class:`~nasjax.spaces.base.DenseIndex`) to the rows once where the space has one, so that a
  query finds rows by that index instead of hashing.
- surrogate benchmarks that compute from the architecture (the NAS-Bench-301 tree
  ensembles, :mod:`nasjax.benchmarks.nb301_ensemble`).

Accuracies are fractions in [0, 1]. ``valid`` is False for every architecture the space's
``is_valid`` rejects or the benchmark lacks, with NaN values: never another architecture's
numbers. ``mode="mean"`` averages the repeats or members (the papers' reduced-noise setting),
``mode="noisy"`` draws one; every field of one noisy query comes from the same draw, so the
test accuracy reported for a noisy validation accuracy is that repeat's (ReMAADE §8).

An *oracle* scores a neighbourhood's nodes (:func:`bind`); the generic :class:`Oracle` queries
the node's architecture, :class:`RowOracle` is a table benchmark joined once to a table
neighbourhood, so that an environment step is a gather. ``docs/nb101-lookup.md`` walks through
a query and gives the figures.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from nasjax import fusion, paths, spaces
from nasjax.spaces import base as spaces_base
from nasjax.spaces import graph, nb101_space, neighbour_table
from nasjax.spaces.base import NO_HASH, SearchSpace

TABLE_FORMAT = 1  # version of the on-disk table layout written by save_table
QUERY_MODES = ("mean", "noisy")
# The default remake hint.
REMAKE = "python -m nasjax.launch.prepare_data --benchmark=NAME (see its --help)"


@flax.struct.dataclass
class Metrics:
    """What one query of a benchmark returns; every field has the batch shape."""

    valid: jax.Array  # bool[...], False when the architecture is invalid or not in the benchmark
    val_acc: jax.Array  # float32[...], validation accuracy in [0, 1], NaN when invalid
    test_acc: jax.Array  # float32[...], NaN when invalid or when the benchmark has none
    train_seconds: jax.Array  # float32[...], simulated training time
    params: jax.Array  # float32[...], trainable parameters


class Benchmark(Protocol):
    """What every benchmark offers (see the module docstring)."""

    name: str
    space: str

    def query(self, arch: Any, key: jax.Array | None, mode: str) -> Metrics:
        """Metrics of architectures (any batch shape)."""

    @property
    def label(self) -> str:
        """The name for tables and plots, marked SYNTHETIC when the data is not measured."""

    @property
    def has_test(self) -> bool:
        """Whether the benchmark records test accuracy."""


def query(bench: Benchmark, arch: Any, key: jax.Array | None = None,
          mode: str = "mean") -> Metrics:
    """Metrics of architectures ``Arch[...]``; batch-shaped and jittable.

    Args:
      bench: any benchmark.
      arch: architectures of the benchmark's space.
      key: PRNG key, needed for ``mode="noisy"``.
      mode: ``"mean"`` averages the recorded repeats or ensemble members (the papers'
        reduced-noise setting); ``"noisy"`` draws one per architecture.
    Returns:
      Metrics[...]; an invalid or absent architecture has ``valid=False`` and NaN values.
    """
    check_mode(mode, key)
    return bench.query(arch, key, mode)


def check_mode(mode: str, key) -> None:
    """Raise ValueError for an unknown query mode or a noisy query without a key."""
    if mode not in QUERY_MODES:
        raise ValueError(f"unknown query mode {mode!r}; use 'mean' or 'noisy'")
    if mode == "noisy" and key is None:
        raise ValueError("mode='noisy' needs a PRNG key")


class _Described:
    """``metadata``/``label`` of a benchmark with ``name`` and ``info`` fields."""

    @property
    def metadata(self) -> dict:
        """The ``info`` pairs as a dict."""
        return dict(self.info)

    @property
    def label(self) -> str:
        """The name for tables and plots, marked SYNTHETIC when the data is not measured."""
        synthetic = "SYNTHETIC" in str(self.metadata.get("data", ""))
        return f"{self.name} (SYNTHETIC)" if synthetic else self.name


@flax.struct.dataclass
class TableBenchmark(_Described):
    """A table benchmark over the architectures of one space; build it with :func:`make_table`.

    A query finds rows through the space's :meth:`~nasjax.spaces.base.SearchSpace.locate`: its
    dense index joined to the rows (``dense_rows``) where the space has one, else the hash and
    a binary search within the hash's bucket.
    """

    hashes: jax.Array  # uint32[K, 2], the space's hashes, sorted lexicographically, unique
    val_acc: jax.Array  # float32[K, R], NaN-padded recorded values
    test_acc: jax.Array  # float32[K, R], all NaN when the source has no test accuracy
    train_seconds: jax.Array  # float32[K, R]
    params: jax.Array  # float32[K]
    num_values: jax.Array  # int32[K], how many of the R values are recorded (>= 1)
    means: jax.Array  # float32[K, 4]: mean val_acc, test_acc, train_seconds; params
    buckets: jax.Array  # int32[2^BUCKET_BITS + 1]: graph.bucket_index of hashes
    dense_keys: Any  # the space's DenseIndex.keys() on the device, or None
    dense_rows: jax.Array | None  # int32[P]: the table row of each dense position (-1), or None
    search_space: SearchSpace = flax.struct.field(pytree_node=False)
    name: str = flax.struct.field(pytree_node=False)
    info: tuple = flax.struct.field(pytree_node=False)  # ((key, value), ...)
    search_steps: int = flax.struct.field(pytree_node=False)  # halvings within a bucket

    @property
    def space(self) -> str:
        """The name of the space the table scores."""
        return self.search_space.name

    def lookup(self, hashes: jax.Array) -> jax.Array:
        """int32[...]: table rows of hashes ``uint32[..., 2]``, -1 when absent."""
        return graph.sorted_lookup(self.hashes, hashes, self.buckets, self.search_steps)

    def rows(self, arch: Any) -> jax.Array:
        """int32[...]: table rows of architectures, -1 when invalid or absent."""
        at = self.search_space.locate(arch, self.dense_keys)
        if self.dense_rows is None:
            rows = self.lookup(at)  # NO_HASH, an invalid architecture's, is in no table
        else:
            rows = jnp.where(at >= 0, self.dense_rows[jnp.maximum(at, 0)], -1)
        # Computed once, not once per field of Metrics (see fusion.materialize).
        return fusion.materialize(rows)

    def query(self, arch: Any, key: jax.Array | None = None, mode: str = "mean") -> Metrics:
        """Exact lookup of architectures through the space's ``locate`` (see :func:`query`)."""
        return query_rows(self, self.rows(arch), key, mode)

    @property
    def size(self) -> int:
        """Number of architectures in the table."""
        return self.hashes.shape[0]

    @property
    def has_test(self) -> bool:
        """Whether the source records test accuracy (host-side check)."""
        return bool(np.isfinite(np.asarray(self.test_acc)).any())


def make_table(space: SearchSpace, *, hashes: jax.Array, val_acc: jax.Array,
               test_acc: jax.Array, train_seconds: jax.Array, params: jax.Array,
               num_values: jax.Array, name: str, info: tuple = (),
               dense_classes: tuple[np.ndarray, np.ndarray] | None = None) -> TableBenchmark:
    """A :class:`TableBenchmark` of ``space`` over rows given in hash order (host or device
    arrays): ``hashes`` uint32[K, 2] sorted and unique; ``val_acc``, ``test_acc`` and
    ``train_seconds`` float32[K, R] NaN-padded; ``params`` float32[K]; ``num_values`` int32[K].

    Computes what makes a query a few gathers: the first-level hash index, the per-row means
    (mode ``"mean"`` is one gather) and, where the space has a dense index, the row of each
    dense position: from ``dense_classes`` where the caller has them cached (see
    :func:`~nasjax.spaces.base.dense_rows`), else by hashing every architecture of the index
    (once per process: seconds).

    Raises:
      ValueError: when ``hashes`` holds :data:`~nasjax.spaces.base.NO_HASH`, the key of
        invalid architectures.
    """
    host_hashes = np.asarray(hashes)
    if (host_hashes == np.asarray(NO_HASH, np.uint32)).all(-1).any():
        raise ValueError(f"table {name!r} holds the hash {NO_HASH} reserved for invalid "
                         "architectures")
    buckets, steps = graph.bucket_index(host_hashes)
    val_acc, test_acc, train_seconds, params = map(jnp.asarray, (val_acc, test_acc,
                                                                 train_seconds, params))
    dense_keys = dense_rows = None
    if space.dense is not None:
        dense_keys = spaces_base.device_keys(space.dense)
        dense_rows = jnp.asarray(spaces_base.dense_rows(space.dense, space.hash, host_hashes,
                                                        dense_classes))
    return TableBenchmark(
        hashes=jnp.asarray(hashes), val_acc=val_acc, test_acc=test_acc,
        train_seconds=train_seconds, params=params, num_values=jnp.asarray(num_values),
        means=_row_means(val_acc, test_acc, train_seconds, params),
        buckets=jnp.asarray(buckets), dense_keys=dense_keys, dense_rows=dense_rows,
        search_space=space, name=name, info=info, search_steps=steps)


@jax.jit
def _row_means(val_acc, test_acc, train_seconds, params) -> jax.Array:
    """float32[K, 4]: the mean of the recorded values of each row (NaN-padded ``[K, R]``) and
    the parameter count, side by side so that a mean query is one gather."""
    means = [jnp.nanmean(x, axis=-1) for x in (val_acc, test_acc, train_seconds)]
    return jnp.stack(means + [params], -1).astype(jnp.float32)


def query_rows(bench: TableBenchmark, rows: jax.Array, key: jax.Array | None = None,
               mode: str = "mean") -> Metrics:
    """Metrics of table rows (-1 = invalid or absent), as :func:`query` gives for architectures."""
    check_mode(mode, key)
    valid = rows >= 0
    row = jnp.maximum(rows, 0)
    nan = jnp.float32(jnp.nan)
    if mode == "mean":
        val_acc, test_acc, train_seconds, params = jnp.moveaxis(bench.means[row], -1, 0)
    else:
        column = jax.random.randint(key, rows.shape, 0, bench.num_values[row])
        val_acc, test_acc, train_seconds = (values[row, column] for values in (
            bench.val_acc, bench.test_acc, bench.train_seconds))
        params = bench.params[row]

    def pick(values):
        return jnp.where(valid, values, nan).astype(jnp.float32)

    return Metrics(valid=valid, val_acc=pick(val_acc), test_acc=pick(test_acc),
                   train_seconds=pick(train_seconds), params=pick(params))


# ----------------------------------------------------------------------------- oracles


@flax.struct.dataclass
class Oracle:
    """Scores a neighbourhood's nodes by querying their architectures."""

    bench: Any
    neighbourhood: Any

    def metrics(self, node: Any, key: jax.Array | None = None, mode: str = "mean") -> Metrics:
        """Metrics of node(s) of ``neighbourhood``, any batch shape."""
        return query(self.bench, self.neighbourhood.arch(node), key, mode)


@flax.struct.dataclass
class RowOracle:
    """A table benchmark joined once to a table neighbourhood: node ``r`` scores as table row
    ``node_rows[r]`` (-1: not in the benchmark), so scoring a node is a gather, not a hash."""

    bench: TableBenchmark
    node_rows: jax.Array  # int32[K]: benchmark row of each node of the neighbourhood

    def metrics(self, node: jax.Array, key: jax.Array | None = None,
                mode: str = "mean") -> Metrics:
        """Metrics of nodes ``int32[...]`` (-1 = padding)."""
        rows = jnp.where(node >= 0, self.node_rows[jnp.maximum(node, 0)], -1)
        return query_rows(self.bench, rows, key, mode)


def bind(bench: Benchmark, neighbourhood: Any) -> Oracle | RowOracle:
    """The oracle that scores ``neighbourhood``'s nodes on ``bench``
    (``oracle.metrics(node, key, mode)``): a NAS-Bench-101 table joined once to the
    precomputed neighbour table, so that scoring a node is a gather; else :class:`Oracle`."""
    if (isinstance(bench, TableBenchmark) and bench.space == nb101_space.NAME
            and isinstance(neighbourhood, neighbour_table.NeighbourTable)):
        return RowOracle(bench=bench, node_rows=bench.lookup(neighbourhood.hashes))
    return Oracle(bench=bench, neighbourhood=neighbourhood)


# ----------------------------------------------------------------------------- tables on disk


def save_table(path: str | os.PathLike, *, hashes, val_acc, test_acc, train_seconds, params,
               name: str, space: str, info: dict, extra: dict | None = None) -> None:
    """Write a table benchmark as ``.npz`` atomically (temporary file, then rename), with its
    checksum file (:func:`nasjax.paths.verified_write`).

    ``hashes`` are sorted here; ``val_acc``/``test_acc``/``train_seconds`` are
    ``[K, R]`` NaN-padded; ``info`` is JSON metadata (source, metric notes, quality);
    ``extra`` holds further per-architecture arrays (leading axis K, e.g. halfway-epoch
    accuracies), stored as ``extra_<name>`` and read back by :func:`load_extra`.
    """
    path = Path(path)
    hashes = np.asarray(hashes, np.uint32)
    order = np.argsort(graph.hash_to_uint64(hashes), kind="stable")
    sorted_keys = graph.hash_to_uint64(hashes[order])
    if (np.diff(sorted_keys) == 0).any():
        raise ValueError(f"table {name!r} has duplicate architectures (equal hashes)")
    val_acc = np.asarray(val_acc, np.float32).reshape(len(hashes), -1)[order]
    num_values = np.isfinite(val_acc).sum(-1).astype(np.int32)
    if (num_values == 0).any():
        raise ValueError(f"table {name!r} has architectures with no recorded validation accuracy")
    meta = {"format": TABLE_FORMAT, "name": name, "space": space, **info}
    arrays = dict(
        hashes=hashes[order],
        val_acc=val_acc,
        test_acc=np.asarray(test_acc, np.float32).reshape(len(hashes), -1)[order],
        train_seconds=np.asarray(train_seconds, np.float32).reshape(len(hashes), -1)[order],
        params=np.asarray(params, np.float32)[order],
        num_values=num_values,
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
    )
    for key, value in (extra or {}).items():
        arrays[f"extra_{key}"] = np.asarray(value)[order]
    with paths.verified_write(path) as handle:
        np.savez_compressed(handle, **arrays)


def load_table(path: str | os.PathLike, remake: str = REMAKE) -> TableBenchmark:
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
        raise ValueError(f"benchmark table {path} is corrupt or not a nasjax table: "
                         f"{error}") from error
    if meta.get("format") != TABLE_FORMAT:
        raise ValueError(f"benchmark table {path} has format {meta.get('format')}, "
                         f"expected {TABLE_FORMAT}; rebuild it with launch.prepare_data")
    name, space = meta.pop("name"), meta.pop("space", "nb101")  # format 1 predates NB301
    meta.pop("format")
    return make_table(
        spaces.get(space),
        hashes=arrays["hashes"],
        val_acc=arrays["val_acc"],
        test_acc=arrays["test_acc"],
        train_seconds=arrays["train_seconds"],
        params=arrays["params"],
        num_values=arrays["num_values"],
        name=name,
        info=info_items(meta),
    )


def info_items(meta: dict) -> tuple:
    """A table's ``info``: its metadata as sorted ``(key, value)`` pairs, nested values as JSON
    (hashable, so that a benchmark stays a static pytree field)."""
    return tuple(sorted((k, json.dumps(v) if isinstance(v, (dict, list)) else v)
                        for k, v in meta.items()))


def load_extra(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The ``extra`` arrays of a saved table, in table (hash-sorted) row order."""
    with np.load(path) as data:
        return {key[len("extra_"):]: data[key] for key in data.files if key.startswith("extra_")}


def from_function(arch: Any, val_acc, *, space: str = "nb101", test_acc=None, name="synthetic",
                  train_seconds=None, params=None) -> TableBenchmark:
    """An in-memory table over given architectures (tests, hand-built and synthetic objectives).

    ``val_acc`` is ``float[K]`` or ``float[K, R]``. Synthetic tables must say so in ``name``.
    """
    space = spaces.get(space)
    hashes = np.asarray(jax.jit(space.hash)(arch))
    k = len(hashes)
    val_acc = np.asarray(val_acc, np.float32).reshape(k, -1)
    nan = np.full_like(val_acc, np.nan)
    order = np.argsort(graph.hash_to_uint64(hashes), kind="stable")

    def fill(x, default):
        return np.asarray(default if x is None else x, np.float32).reshape(k, -1)

    return make_table(
        space,
        hashes=hashes[order],
        val_acc=val_acc[order],
        test_acc=fill(test_acc, nan)[order],
        train_seconds=fill(train_seconds, np.zeros_like(val_acc))[order],
        params=fill(params, np.zeros(k)).reshape(k)[order],
        num_values=np.isfinite(val_acc[order]).sum(-1).astype(np.int32),
        name=name,
    )
