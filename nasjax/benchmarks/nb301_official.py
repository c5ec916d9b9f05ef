"""``nb301``: the official NAS-Bench-301 v1.0 XGBoost ensemble, converted once, queried in JAX.

``python -m launch.prepare_data --benchmark=nb301 --source=DIR`` reads the official
``xgb_v1.0`` folder (one ``ensemble_member_<k>/surrogate_model.model`` per member, pickled by
XGBoost 1.0/1.1) with :mod:`xgboost_legacy` — no old XGBoost, no ConfigSpace — and writes the
compact, checksummed ``nb301_xgb_v1.0.npz`` into the data directory. :func:`load` reads it into
an :class:`nb301_ensemble.EnsembleBenchmark`: the members' mean (Cassimon et al. §4.2's
denoised setting) bit for bit as the official ``predict(..., with_noise=False)``, divided by 100.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from nasjax import paths
from nasjax.benchmarks import nb301_ensemble, xgboost_legacy

NAME = "nb301"
FILE = "nb301_xgb_v1.0.npz"  # the converted ensemble, in the data directory


def command(data_dir) -> str:
    """The command that converts the official folder into ``data_dir``."""
    return (f"python -m nasjax.launch.prepare_data --benchmark={NAME} "
            f"--source=PATH/nb_models/xgb_v1.0 --data_dir={data_dir}")


def prepare(source: str | os.PathLike | None, data_dir, progress: bool = True) -> dict:
    """``launch.prepare_data --benchmark=nb301``: convert the official folder ``source``.

    Raises:
      ValueError: no ``--source``, or a folder that is not the official ensemble (named).
    """
    del progress
    if not source:
        raise ValueError(f"--benchmark={NAME} needs --source=PATH/nb_models/xgb_v1.0 (the "
                         "official NAS-Bench-301 v1.0 XGBoost ensemble folder)")
    start = time.perf_counter()
    dest = Path(data_dir) / FILE
    paths.writable_dir(dest.parent)
    ensemble = xgboost_legacy.convert_official_folder(source, dest)
    paths.seal(dest)
    return {"benchmark": NAME, **nb301_ensemble.describe(ensemble), "file": str(dest),
            "seconds": round(time.perf_counter() - start, 2)}


def load(data_dir, progress: bool = True) -> nb301_ensemble.EnsembleBenchmark:
    """The converted official ensemble.

    Raises:
      FileNotFoundError: with the exact ``prepare_data`` command, when it was never converted.
      DataFileError: when the file fails its checksum (naming the same command).
    """
    del progress
    path = Path(data_dir) / FILE
    if not path.exists():
        raise FileNotFoundError(
            f"NAS-Bench-301 ensemble {path} not found. Convert the official v1.0 XGBoost "
            f"ensemble folder once with:\n  {command(data_dir)}")
    return nb301_ensemble.load_file(
        path, NAME, command(data_dir),
        info={"data": "the official NAS-Bench-301 v1.0 XGBoost ensemble (surrogate fitted by "
                      "its authors on ~60,000 trained architectures)",
              "metric": "predicted validation accuracy (fraction = official percent / 100), "
                        "mean over members; noisy: Normal(mean, std over members)"})
