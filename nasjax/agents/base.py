"""The searcher interface of query-budget algorithms, and the scan that runs a trial.

A searcher is a frozen dataclass of pure functions (flashbax style):

- ``init(key) -> state``: a pytree (the searcher's config is bound by its factory);
- ``propose(state, key) -> Cell[batch]``: the next ``batch`` cells to query, all valid;
- ``update(state, cells, metrics) -> state``: learn from their metrics.

:func:`run_trial` runs one trial as a single ``lax.scan`` over ``budget / batch``
steps; :func:`run_trials` vmaps it over trials. Every proposed cell is one query.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp

from nasjax.benchmarks import base as bench_lib
from nasjax.spaces import nb101


@dataclasses.dataclass(frozen=True)
class Searcher:
    """A query-budget search algorithm as pure functions."""

    name: str
    batch: int  # cells proposed per step
    init: Callable[[jax.Array], Any]
    propose: Callable[[Any, jax.Array], nb101.Cell]
    update: Callable[[Any, nb101.Cell, bench_lib.Metrics], Any]


@flax.struct.dataclass
class TrialResult:
    """Per-query record of trials: leading axes ``[trials, queries]``."""

    observed: jax.Array  # float32: validation accuracy the searcher saw (noisy or mean)
    reported: jax.Array  # float32: accuracy reported for that cell (mean test, else mean val)
    valid: jax.Array  # bool: the cell was in the benchmark table
    train_seconds: jax.Array  # float32: simulated training time charged for the query


def run_trial(searcher: Searcher, bench: bench_lib.Benchmark, key: jax.Array, budget: int,
              mode: str = "mean", report: str = "test") -> TrialResult:
    """One trial of ``budget`` queries as one ``lax.scan`` (``budget`` rounded up to batches).

    Args:
      searcher: the algorithm.
      bench: benchmark queried with ``mode`` (what the searcher sees).
      key: PRNG key of the trial.
      budget: number of queries.
      mode: ``"mean"`` or ``"noisy"``.
      report: ``"test"`` reports the mean test accuracy of each queried cell,
        ``"val"`` its mean validation accuracy.
    Returns:
      TrialResult with leading axis ``[budget]``.
    """
    steps = -(-budget // searcher.batch)
    key_init, key_scan = jax.random.split(key)

    def step(state, key):
        key_propose, key_query = jax.random.split(key)
        cells = searcher.propose(state, key_propose)
        rows = bench.lookup(nb101.hash_cells(cells))
        seen = bench_lib.query_index(bench, rows, key_query, mode)
        state = searcher.update(state, cells, seen)
        if mode == "mean":
            mean = seen
        else:
            mean = bench_lib.query_index(bench, rows, None, "mean")
        reported = mean.test_acc if report == "test" else mean.val_acc
        return state, TrialResult(seen.val_acc, reported, seen.valid, seen.train_seconds)

    _, result = jax.lax.scan(step, searcher.init(key_init), jax.random.split(key_scan, steps))
    return jax.tree.map(lambda x: x.reshape(-1)[:budget], result)


def run_trials(searcher: Searcher, bench: bench_lib.Benchmark, key: jax.Array, num_trials: int,
               budget: int, mode: str = "mean", report: str = "test") -> TrialResult:
    """``num_trials`` independent trials, one jitted ``vmap`` of :func:`run_trial`."""

    return _trials(searcher, budget, mode, report, bench, jax.random.split(key, num_trials))


@jax.jit(static_argnums=(0, 1, 2, 3))
def _trials(searcher, budget, mode, report, bench, keys):
    # The benchmark is an argument, not a closed-over constant (those compile slowly).
    return jax.vmap(lambda k: run_trial(searcher, bench, k, budget, mode, report))(keys)
