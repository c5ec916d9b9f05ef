"""Benchmarks by name: ``load(name, data_dir=None) -> Benchmark``."""

from __future__ import annotations

from nasjax.benchmarks import base
from nasjax.paths import data_dir as resolve_data_dir

DEFAULT = "nb101-surrogate"
NAMES = ("nb101-surrogate", "nb101-real-20k", "nb101", "nb101-synthetic")


def load(name: str = DEFAULT, data_dir=None, progress: bool = True) -> base.Benchmark:
    """Load a benchmark by name.

    - ``nb101-surrogate`` (default): XGBoost ensemble over all 423,624 cells, fitted
      on the shipped real 20k cells; built into the data directory on first use.
    - ``nb101-real-20k``: the 20,001 real NAS-Bench-101 cells shipped with nasjax
      (validation accuracy only).
    - ``nb101``: the official data set, converted by ``launch.prepare_data``.
    - ``nb101-synthetic``: a SYNTHETIC objective over all cells (tests and plumbing only).

    Raises:
      ValueError for an unknown name; FileNotFoundError with the exact
      ``prepare_data`` command when a converted file is missing; DataFileError with it when
      the file fails its checksum.
    """
    directory = resolve_data_dir(data_dir)
    if name == "nb101-surrogate":
        from nasjax.benchmarks import nb101_surrogate

        return nb101_surrogate.load(directory, progress=progress)
    if name == "nb101-real-20k":
        from nasjax.benchmarks import nb101_real

        return nb101_real.load()
    if name == "nb101":
        path = directory / "nb101.npz"
        command = (f"python -m launch.prepare_data --benchmark=nb101 "
                   f"--source=PATH/nasbench_only108.tfrecord --data_dir={directory}")
        if not path.exists():
            raise FileNotFoundError(
                f"NAS-Bench-101 table {path} not found. Convert the official file once with:\n"
                f"  {command}"
            )
        return base.load_table(path, remake=command)
    if name == "nb101-synthetic":
        from nasjax.benchmarks import synthetic

        return synthetic.make(directory)
    raise ValueError(f"unknown benchmark {name!r}; choose one of {', '.join(NAMES)}")
