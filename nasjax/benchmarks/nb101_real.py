"""``nb101-real-20k``: 20,001 real NAS-Bench-101 cells shipped with nasjax.

The source is NASLib's redistribution of NAS-Bench-101 (Ying et al. 2019, Apache-2.0):
per cell the official md5 module hash, the validation accuracy after 4, 12, 36 and 108
epochs, the training time and the parameter count -- one value per cell and budget (the
source does not say which of the 3 repeats), no test accuracy, no graphs. The keys are the
20,001 smallest official hashes of the 423,624 cells, effectively a uniform sample.

:func:`write_shipped` (a maintainer step, run once) joins each key to its graph by
computing the official hash over the enumeration and writes the compact package file
``nasjax/data/nb101_real_20k.npz``: the cells themselves (packed adjacency and ops), the
official keys as 16-byte md5 digests and the numeric columns, so that the file does not
depend on nasjax's own hash. :func:`load` gives the benchmark (108-epoch validation
accuracy, R = 1); :func:`fidelities` the accuracies at every epoch budget.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from nasjax import spaces
from nasjax.benchmarks import base
from nasjax.paths import PACKAGE_DATA, atomic_write, read_package_npz
from nasjax.spaces import graph, nb101, nb101_space

NAME = "nb101-real-20k"
SOURCE_FILE = "nb101_val_20k.json"  # in the maintainers' folder of real subsets
SHIPPED = PACKAGE_DATA / "nb101_real_20k.npz"
SHIPPED_FORMAT = 1  # version of the shipped file's layout
NUM_REAL = 20_001  # cells in the source
EPOCH_BUDGETS = (4, 12, 36, 108)  # validation accuracy recorded at these epoch budgets
EPOCHS = 108  # the budget reported as val_acc
ATTRIBUTION = ("NAS-Bench-101 (Ying, Klein, Real, Christiansen, Murphy, Hutter, ICML 2019), "
               "Apache-2.0, 20,001 cells as redistributed by NASLib")
PREPARE_COMMAND = ("python -m nasjax.launch.prepare_data --benchmark=nb101-real-20k "
                   "--source=FOLDER_WITH_nb101_val_20k.json")
_JSON_COLUMNS = tuple(f"{e}_final_validation_accuracy" for e in EPOCH_BUDGETS) + (
    "final_training_time", "trainable_parameters", "key")


def _read_source(path: Path) -> dict[str, np.ndarray]:
    """The json columns as arrays; raises ValueError naming a missing or malformed column."""
    with open(path) as handle:
        data = json.load(handle)
    missing = [c for c in _JSON_COLUMNS if c not in data]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {', '.join(missing)}")
    lengths = {c: len(data[c]) for c in _JSON_COLUMNS}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{path} has columns of different lengths: {lengths}")
    keys = np.asarray(data["key"], dtype="U32")
    if len(set(keys.tolist())) != len(keys):
        raise ValueError(f"{path} has duplicate keys")
    columns = {"key": keys}
    for epochs in EPOCH_BUDGETS:
        acc = np.asarray(data[f"{epochs}_final_validation_accuracy"], np.float64)
        if not (np.isfinite(acc).all() and (acc >= 0).all() and (acc <= 1).all()):
            raise ValueError(f"{path}: {epochs}-epoch accuracies are not fractions in [0, 1]")
        columns[f"val_acc_{epochs}"] = acc.astype(np.float32)
    columns["train_seconds"] = np.asarray(data["final_training_time"], np.float32)
    columns["params"] = np.asarray(data["trainable_parameters"], np.int64)
    return columns


def _official_hashes(packed: np.ndarray, ops: np.ndarray, progress: bool) -> list[str]:
    """The official md5 module hash of each enumerated cell (a plain loop, about 1 minute)."""
    from tqdm.auto import tqdm

    sizes = (ops != nb101.PAD).sum(-1)
    adj = nb101.unpack_adjacency(packed).astype(np.int64)
    return [
        nb101._md5_module_hash(adj[i, :n, :n], ops[i, :n].tolist())  # cells are already pruned
        for i, n in enumerate(tqdm(sizes.tolist(), desc="official hashes", unit="cell",
                                   disable=not progress, mininterval=1.0))
    ]


def write_shipped(source: str | os.PathLike, path: str | os.PathLike,
                  data_dir=None, progress: bool = True) -> dict:
    """Join the real cells to their graphs and write the compact shipped file (maintainers).

    Args:
      source: folder holding ``nb101_val_20k.json``.
      path: the ``.npz`` to write (``nasjax/data/nb101_real_20k.npz``).
      data_dir: data directory of the enumeration cache (default ``$NASJAX_DATA``).
      progress: show a progress bar over the official hashes.
    Returns:
      A summary dict (cells, file, size, seconds).
    Raises:
      ValueError when the json is malformed or a key matches no enumerated cell.
    """
    start = time.perf_counter()
    columns = _read_source(Path(source) / SOURCE_FILE)
    packed, ops, _ = nb101.load_enumeration(data_dir, progress=progress)
    official = _official_hashes(packed, ops, progress)
    row_of = {key: row for row, key in enumerate(official)}
    if len(row_of) != nb101.NUM_CELLS:
        raise ValueError("the official hash is not distinct over the enumeration")
    rows = np.asarray([row_of.get(str(key), -1) for key in columns["key"]])
    unjoined = columns["key"][rows < 0]
    if len(unjoined):
        raise ValueError(f"{len(unjoined)} of {len(rows)} keys match no NAS-Bench-101 cell, "
                         f"e.g. {', '.join(unjoined[:3])}")
    smallest = np.sort(np.asarray(official))[: len(rows)]
    meta = {"format": SHIPPED_FORMAT, "name": NAME, "source": ATTRIBUTION,
            "metric": "validation accuracy (fraction), one training repeat per cell",
            "keys_are_smallest_hashes": bool((np.sort(columns["key"]) == smallest).all())}
    arrays = dict(
        adj_packed=packed[rows].astype(np.uint32),
        ops=ops[rows].astype(np.int8),
        key=np.frombuffer(bytes.fromhex("".join(columns["key"])), np.uint8).reshape(-1, 16),
        train_seconds=columns["train_seconds"],
        params=columns["params"].astype(np.int32),
        meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
        **{f"val_acc_{e}": columns[f"val_acc_{e}"] for e in EPOCH_BUDGETS},
    )
    path = Path(path)
    with atomic_write(path) as handle:
        np.savez_compressed(handle, **arrays)
    os.chmod(path, 0o644)  # package data: readable by everyone
    return {"benchmark": NAME, "cells": len(rows), "file": str(path),
            "bytes": path.stat().st_size, **{k: v for k, v in meta.items() if k != "format"},
            "seconds": round(time.perf_counter() - start, 1)}


def read_shipped(path: str | os.PathLike = SHIPPED) -> dict[str, np.ndarray]:
    """The shipped file's arrays, in file order (ascending official key).

    Returns:
      ``cells`` (Cell[20001], host numpy), ``key`` (U32[20001] hex official hashes),
      ``val_acc_{4,12,36,108}`` (float32[20001]), ``train_seconds`` (float32[20001]),
      ``params`` (int32[20001]) and ``meta`` (dict).
    Raises:
      FileNotFoundError / ValueError naming the file when it is missing or corrupt.
    """
    names = ("adj_packed", "ops", "key", "train_seconds", "params", "meta") + tuple(
        f"val_acc_{e}" for e in EPOCH_BUDGETS)
    arrays, meta = read_package_npz(path, names, what="real NAS-Bench-101", remake=PREPARE_COMMAND,
                                    layout=SHIPPED_FORMAT, count=NUM_REAL, unit="cells")
    packed = arrays.pop("adj_packed")
    arrays["cells"] = nb101.Cell(adj=nb101.unpack_adjacency(packed), ops=arrays.pop("ops"))
    arrays["key"] = np.asarray([row.tobytes().hex() for row in arrays["key"]], dtype="U32")
    arrays["meta"] = meta
    return arrays


def _hashes(cells: nb101.Cell) -> np.ndarray:
    """uint32[K, 2] nasjax hashes, checking that every cell is valid and distinct."""
    valid = np.asarray(jax.jit(nb101.is_valid)(cells))
    hashes = np.asarray(jax.jit(nb101.hash_cells)(cells))
    if not valid.all() or len(np.unique(graph.hash_to_uint64(hashes))) != len(hashes):
        raise ValueError("the shipped real NAS-Bench-101 cells are not all valid and distinct")
    return hashes


def load(data_dir=None, progress: bool = True,
         path: str | os.PathLike = SHIPPED) -> base.TableBenchmark:
    """The ``nb101-real-20k`` benchmark: 20,001 real cells, 108-epoch validation accuracy.

    Read from the file shipped with nasjax (``data_dir`` is not used).

    ``val_acc`` holds one value per cell (R = 1), ``test_acc`` is NaN (the source has none),
    ``train_seconds`` and ``params`` are the recorded ones. Other budgets: :func:`fidelities`.
    """
    del data_dir, progress
    real = read_shipped(path)
    cells = nb101.Cell(adj=jnp.asarray(real["cells"].adj), ops=jnp.asarray(real["cells"].ops))
    hashes = _hashes(cells)
    order = np.argsort(graph.hash_to_uint64(hashes), kind="stable")
    column = lambda x: jnp.asarray(np.asarray(x, np.float32)[order][:, None])  # noqa: E731
    return base.make_table(
        spaces.get(nb101_space.NAME),
        hashes=jnp.asarray(hashes[order]),
        val_acc=column(real[f"val_acc_{EPOCHS}"]),
        test_acc=column(np.full(NUM_REAL, np.nan)),
        train_seconds=column(real["train_seconds"]),
        params=jnp.asarray(real["params"][order], jnp.float32),
        num_values=jnp.ones(NUM_REAL, jnp.int32),
        name=NAME,
        info=(("metric", f"validation accuracy at {EPOCHS} epochs (fraction); no test accuracy"),
              ("source", real["meta"]["source"])),
    )


def fidelities(path: str | os.PathLike = SHIPPED) -> dict[int, np.ndarray]:
    """Validation accuracy at each epoch budget, ``{epochs: float32[20001]}``, in the row order
    of :func:`load` (ascending nasjax hash)."""
    real = read_shipped(path)
    hashes = np.asarray(jax.jit(nb101.hash_cells)(real["cells"]))
    order = np.argsort(graph.hash_to_uint64(hashes), kind="stable")
    return {e: real[f"val_acc_{e}"][order] for e in EPOCH_BUDGETS}


def prepare(source: str | os.PathLike | None, data_dir=None, progress: bool = True) -> dict:
    """``launch.prepare_data --benchmark=nb101-real-20k`` (maintainers): rewrite the shipped
    file from the folder of real subsets ``source``."""
    del data_dir
    if not source:
        raise ValueError(f"--benchmark={NAME} needs --source=FOLDER with {SOURCE_FILE}")
    if not (Path(source) / SOURCE_FILE).is_file():
        raise ValueError(f"--source={source}: no {SOURCE_FILE} in that folder")
    return write_shipped(source, SHIPPED, progress=progress)
