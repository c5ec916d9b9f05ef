"""725 real NAS-Bench-301 genotypes shipped with nasjax.

The source is NAS-Bench-301 (Siems, Zimmer et al. 2020, Apache-2.0) as redistributed in
NASLib's zero-cost benchmark files: per genotype the normal and reduction cell as 8
``[input, op]`` pairs each (layout of :func:`nb301.from_pairs`), the validation accuracy in
percent, the parameter count (millions) and the FLOPs (millions).

:func:`write_shipped` (a maintainer step, run once: ``python -m nasjax.benchmarks.nb301_real
FOLDER``) converts ``nb301_val_725.json`` to the compact package file
``nasjax/data/nb301_real_725.npz``: the genotypes as int8 arrays, exactly as given (pair
order included), and the validation accuracy as a fraction. :func:`read_shipped` reads it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from nasjax.paths import PACKAGE_DATA, atomic_write, read_package_npz
from nasjax.spaces import nb301

SOURCE_FILE = "nb301_val_725.json"  # in the maintainers' folder of real subsets
SHIPPED = PACKAGE_DATA / "nb301_real_725.npz"
SHIPPED_FORMAT = 1  # version of the shipped file's layout
NUM_REAL = 725  # genotypes in the source
ATTRIBUTION = ("NAS-Bench-301 (Siems, Zimmer, Zela, Lukasik, Keuper, Hutter, 2020), "
               "Apache-2.0, 725 genotypes as redistributed in NASLib's zero-cost benchmark files")
PREPARE_COMMAND = f"python -m nasjax.benchmarks.nb301_real FOLDER_WITH_{SOURCE_FILE}"
_COLUMNS = ("normal", "reduce", "val_accuracy", "params_m", "flops_m")


def _read_source(path: Path) -> dict:
    """Genotypes and columns of the json; raises ValueError naming a bad record."""
    with open(path) as handle:
        records = json.load(handle)
    inputs, ops = [], []
    for row, record in enumerate(records):
        missing = [c for c in _COLUMNS if c not in record]
        if missing:
            raise ValueError(f"{path} record {row} lacks {', '.join(missing)}")
        try:
            genotype = nb301.from_pairs(record["normal"], record["reduce"])
        except ValueError as error:
            raise ValueError(f"{path} record {row}: {error}") from error
        inputs.append(genotype.inputs)
        ops.append(genotype.ops)
    percent = np.asarray([r["val_accuracy"] for r in records], np.float64)
    if not (np.isfinite(percent).all() and (percent > 1).all() and (percent <= 100).all()):
        raise ValueError(f"{path}: val_accuracy must be percentages in (1, 100]")
    return {"inputs": np.stack(inputs), "ops": np.stack(ops), "val_acc": percent / 100,
            "params_m": np.asarray([r["params_m"] for r in records], np.float64),
            "flops_m": np.asarray([r["flops_m"] for r in records], np.float64)}


def write_shipped(source: str | os.PathLike, path: str | os.PathLike = SHIPPED) -> dict:
    """Convert the real genotypes to the compact shipped file (maintainers).

    Args:
      source: folder holding ``nb301_val_725.json``.
      path: the ``.npz`` to write (default ``nasjax/data/nb301_real_725.npz``).
    Returns:
      A summary dict (benchmark source, genotypes, file, bytes).
    Raises:
      ValueError when the json is malformed (naming the record).
    """
    arrays = _read_source(Path(source) / SOURCE_FILE)
    meta = {"format": SHIPPED_FORMAT, "source": ATTRIBUTION, "op_names": list(nb301.OP_NAMES),
            "metric": "validation accuracy (fraction); params and FLOPs in millions"}
    path = Path(path)
    with atomic_write(path) as handle:
        np.savez_compressed(handle, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
                            **arrays)
    os.chmod(path, 0o644)  # package data: readable by everyone
    return {"source": ATTRIBUTION, "genotypes": len(arrays["val_acc"]), "file": str(path),
            "bytes": path.stat().st_size}


def read_shipped(path: str | os.PathLike = SHIPPED) -> dict:
    """The shipped real genotypes, in source order.

    Returns:
      ``genotypes`` (Genotype[725] of host int8 arrays, pair order as in the source),
      ``val_acc`` (float64[725], fraction), ``params_m`` and ``flops_m`` (float64[725],
      millions) and ``meta`` (dict, with the attribution under ``source``).
    Raises:
      FileNotFoundError / ValueError naming the file when it is missing or corrupt.
    """
    names = ("inputs", "ops", "val_acc", "params_m", "flops_m", "meta")
    arrays, meta = read_package_npz(path, names, what="real NAS-Bench-301", remake=PREPARE_COMMAND,
                                    layout=SHIPPED_FORMAT, count=NUM_REAL, unit="genotypes")
    genotypes = nb301.Genotype(inputs=arrays.pop("inputs"), ops=arrays.pop("ops"))
    return {"genotypes": genotypes, **arrays, "meta": meta}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {PREPARE_COMMAND}")
    print(write_shipped(sys.argv[1]))
