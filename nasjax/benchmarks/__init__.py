"""Benchmarks: a pure, jitted ``query(bench, arch, key, mode)`` for every space.

Registered by name; ``load(name, data_dir)`` builds or reads one (see the README's table).
"""

from __future__ import annotations

from nasjax import registry
from nasjax.benchmarks.base import Benchmark, Metrics, TableBenchmark, query
from nasjax.paths import data_dir as resolve_data_dir

__all__ = ["Benchmark", "DEFAULT", "Metrics", "TableBenchmark", "load", "names", "query"]

DEFAULT = "nb101-surrogate"

registry.register(
    "benchmark", "nb101-surrogate", "nasjax.benchmarks.nb101_surrogate:load", space="nb101",
    description="SURROGATE over all 423,624 cells: XGBoost ensemble fitted on the 20,001 real "
                "cells shipped with nasjax (validation accuracy only)",
    prepare="nasjax.benchmarks.nb101_surrogate:prepare",
    refit="nasjax.benchmarks.nb101_surrogate:refit")
registry.register(
    "benchmark", "nb101-real-20k", "nasjax.benchmarks.nb101_real:load", space="nb101",
    description="the 20,001 real NAS-Bench-101 cells shipped with nasjax (validation accuracy)",
    prepare="nasjax.benchmarks.nb101_real:prepare")
registry.register(
    "benchmark", "nb101", "nasjax.benchmarks.nb101_official:load", space="nb101",
    description="the official NAS-Bench-101 data set (nasbench_only108.tfrecord, converted once)",
    prepare="nasjax.benchmarks.nb101_official:prepare")
registry.register(
    "benchmark", "nb301-surrogate", "nasjax.benchmarks.nb301_surrogate:load", space="nb301",
    description="SURROGATE fitted on 725 real NAS-Bench-301 architectures (the official "
                "ensemble saw ~60,000): XGBoost ensemble over the official 56 features, the "
                "embedded default for nb301 (validation accuracy only)",
    prepare="nasjax.benchmarks.nb301_surrogate:prepare",
    refit="nasjax.benchmarks.nb301_surrogate:refit")
registry.register(
    "benchmark", "nb301", "nasjax.benchmarks.nb301_official:load", space="nb301",
    description="the official NAS-Bench-301 v1.0 XGBoost ensemble (xgb_v1.0 folder, converted "
                "once without the 2020 XGBoost; validation accuracy only)",
    prepare="nasjax.benchmarks.nb301_official:prepare")
registry.register(
    "benchmark", "nb101-synthetic", "nasjax.benchmarks.synthetic:make", space="nb101",
    description="a SYNTHETIC objective over all cells, for tests and plumbing only")


def load(name: str = DEFAULT, data_dir=None, progress: bool = True) -> Benchmark:
    """The registered benchmark ``name``, read from (or built into) the data directory.

    Raises:
      ValueError for an unknown name; FileNotFoundError with the exact ``prepare_data``
      command when a converted official file is missing.
    """
    return registry.make("benchmark", name, data_dir=resolve_data_dir(data_dir),
                         progress=progress)


def names() -> tuple[str, ...]:
    """Registered benchmark names."""
    return registry.names("benchmark")
