"""Benchmarks: tables over cells with a pure, jitted ``query`` (see :mod:`nasjax.benchmarks.base`)."""

from nasjax.benchmarks.base import Benchmark, Budget, Metrics, charge, query, query_index
from nasjax.benchmarks.registry import NAMES, load

__all__ = ["Benchmark", "Budget", "Metrics", "NAMES", "charge", "load", "query", "query_index"]
