"""Host-side statistics of search results (Cassimon et al. §4: Table 1, Figs. 8, 10, 11).

Pure numpy/scipy. Accuracies are fractions in [0, 1]; every statistic is returned in the units
of its input (formatting to percent happens in :mod:`plots` and :mod:`report`). NaN marks a
missing value (an invalid query, a trial without any valid query yet) and is ignored, never
propagated into a mean.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

BUDGETS = (50, 100, 150, 300)  # Table 1 query budgets
BUDGET_RESAMPLES = 5000  # bootstrap resamples behind Table 1 and Fig. 10 ("5x10^3")
CI_LEVEL = 0.95
INTERVALS = (0.5, 0.8, 0.9, 0.95, 0.99)  # Fig. 8 symmetric intervals around the median
GOF_MC_SAMPLES = 1000  # Monte-Carlo samples of the paper's t goodness-of-fit test
GOF_MAX_SAMPLES = 1000  # subsample size for that test (seconds per 1k points, not hours)
_BOOTSTRAP_CHUNK = 1 << 22  # resample-weight entries materialised at once


def _as_2d(name: str, array: ArrayLike) -> np.ndarray:
    """float[T, Q] view of ``array``; ValueError when it is not a non-empty 2-D array."""
    out = np.asarray(array, dtype=np.float64)
    if out.ndim != 2 or out.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 2-D array [trials, queries], got shape {out.shape}")
    return out


def _as_1d(name: str, array: ArrayLike) -> np.ndarray:
    """float[N] view of ``array``; ValueError when it is not a non-empty 1-D array."""
    out = np.asarray(array, dtype=np.float64)
    if out.ndim != 1 or out.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {out.shape}")
    return out


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")


def best_so_far(values: ArrayLike,
                reported: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Running best of the observed value and the reported value of the cell holding it.

    The searcher observes ``values`` (e.g. validation accuracy) and is judged on ``reported``
    (e.g. test accuracy) of the best cell found so far. Only a strict improvement moves the
    best cell, so on ties the earlier cell is kept ("the data of the last preceding
    improvement", Cassimon et al. Table 1). NaN entries of ``values`` are invalid queries and
    are skipped;
    positions before the first valid query are NaN in both outputs.

    Args:
      values: float[T, Q] observed value of query q in trial t, NaN for an invalid query.
      reported: float[T, Q] value to report for each query, or None to report ``values``.

    Returns:
      (best_val, reported_at_best), both float[T, Q]: the running maximum of ``values`` and
      ``reported`` at the query that attained it.

    Raises:
      ValueError: when ``values`` is not a non-empty 2-D array or ``reported`` has another shape.
    """
    values = _as_2d("values", values)
    if reported is None:
        reported = values
    reported = np.asarray(reported, dtype=np.float64)
    if reported.shape != values.shape:
        raise ValueError(f"reported has shape {reported.shape}, values has shape {values.shape}")
    best_val = np.fmax.accumulate(values, axis=1)  # fmax skips NaN
    previous = np.concatenate([np.full((values.shape[0], 1), -np.inf), best_val[:, :-1]], axis=1)
    previous = np.where(np.isnan(previous), -np.inf, previous)
    improved = values > previous  # False for NaN queries and ties
    positions = np.where(improved, np.arange(values.shape[1]), -1)
    best_index = np.maximum.accumulate(positions, axis=1)  # [T, Q] index of the best cell, -1: none
    picked = np.take_along_axis(reported, np.maximum(best_index, 0), axis=1)
    return best_val, np.where(best_index >= 0, picked, np.nan)


def bootstrap_ci_columns(samples: ArrayLike, num_resamples: int = BUDGET_RESAMPLES,
                         level: float = CI_LEVEL, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap CI of the mean of every column, resampling whole rows (trials).

    One set of row resamples serves all columns, so the cost is one [R, T] x [T, B] product.
    A NaN entry leaves its row out of that column's resample means; a column whose resample
    holds no finite entry contributes nothing to its percentiles, and an all-NaN column gets a
    NaN interval. For a column without NaN the result equals :func:`bootstrap_ci` of that
    column with the same seed.

    Args:
      samples: float[T, B] T trials (rows) of B statistics, e.g. the value at B budgets.
      num_resamples: number of bootstrap resamples R.
      level: coverage of the interval, e.g. 0.95 for the 2.5th..97.5th percentile.
      seed: seed of the resampling; the same seed gives the same interval.

    Returns:
      (low, high), each float[B].

    Raises:
      ValueError: on a non-2-D or empty ``samples``, ``num_resamples < 1`` or a level outside
        (0, 1).
    """
    samples = _as_2d("samples", samples)
    if num_resamples < 1:
        raise ValueError(f"num_resamples must be at least 1, got {num_resamples}")
    _check_level(level)
    num_rows = samples.shape[0]
    finite = np.isfinite(samples)
    finite_f = finite.astype(np.float64)
    zeroed = np.where(finite, samples, 0.0)  # [T, B]
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOTSTRAP_CHUNK // num_rows)
    means = []
    for start in range(0, num_resamples, chunk):
        rows = min(chunk, num_resamples - start)
        picks = rng.integers(0, num_rows, size=(rows, num_rows))
        flat = picks + num_rows * np.arange(rows)[:, None]
        weights = np.bincount(flat.ravel(), minlength=rows * num_rows)
        weights = weights.reshape(rows, num_rows).astype(np.float64)  # [rows, T] draw counts
        counts = weights @ finite_f  # [rows, B]
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append((weights @ zeroed) / counts)
    means = np.concatenate(means)  # [R, B], NaN where a resample has no finite entry
    tail = 100.0 * (1.0 - level) / 2.0
    low = np.full(samples.shape[1], np.nan)
    high = np.full(samples.shape[1], np.nan)
    has_data = finite.any(axis=0)
    if has_data.any():
        low[has_data], high[has_data] = np.nanpercentile(
            means[:, has_data], [tail, 100.0 - tail], axis=0)
    return low, high


def bootstrap_ci(samples: ArrayLike, num_resamples: int = BUDGET_RESAMPLES, level: float = CI_LEVEL,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of one sample.

    NaN entries are dropped first. The interval is reproducible from ``seed``.

    Args:
      samples: float[T] one value per trial.
      num_resamples: number of bootstrap resamples (Cassimon et al. use 5,000).
      level: coverage, e.g. 0.95 for the 2.5th..97.5th percentile of the resample means.
      seed: seed of the resampling.

    Returns:
      (low, high) as floats.

    Raises:
      ValueError: on a non-1-D or empty ``samples``, one without finite values, bad
        ``num_resamples`` or ``level``.
    """
    samples = _as_1d("samples", samples)
    kept = samples[np.isfinite(samples)]
    if kept.size == 0:
        raise ValueError("samples holds no finite value")
    low, high = bootstrap_ci_columns(kept[:, None], num_resamples, level, seed)
    return float(low[0]), float(high[0])


def last_improvements(curves: ArrayLike) -> np.ndarray:
    """``int[Q]``: for each number of queries ``q``, the query number of the data a table uses
    at ``q`` (#Q, Cassimon et al. Tables 1-2: "the data of the last preceding improvement").

    That is the last query ``<= q`` at which some trial's best-so-far curve changed (the
    maximum over trials of each trial's last improvement), so every trial holds at ``q`` the
    value it held there; 0 while no trial has a value yet. With few improvements left (random
    search after many queries, a trained agent) it falls below ``q``: "RS 149 at 150".

    Args:
      curves: float[T, Q] best-so-far curve of each trial, NaN before its first valid query.
    """
    curves = _as_2d("curves", curves)
    before = np.concatenate([np.full((curves.shape[0], 1), np.nan), curves[:, :-1]], axis=1)
    same = (curves == before) | (np.isnan(curves) & np.isnan(before))
    changed = (~same).any(axis=0)  # [Q]
    return np.maximum.accumulate(np.where(changed, np.arange(1, curves.shape[1] + 1), 0))


def budget_table(curves: Mapping[str, np.ndarray], budgets: Sequence[int] = BUDGETS,
                 seed: int = 0) -> list[dict]:
    """Per algorithm and query budget: the statistics of the best value after that budget.

    The value after ``b`` queries is column ``b - 1`` of a best-so-far curve (see
    :func:`best_so_far`), i.e. the last preceding improvement, and the #Q printed beside it is
    :func:`last_improvements` at ``b``. Trials without a valid query by then (NaN) are left
    out. Budgets beyond a curve's length are skipped for that algorithm.
    The CI is the 95% percentile bootstrap of the mean with 5,000 resamples (Cassimon et al.
    Table 1).

    Args:
      curves: algorithm name -> float[T, Q] best-so-far curve of each trial.
      budgets: query budgets, each >= 1.
      seed: bootstrap seed.

    Returns:
      One dict per (algorithm, budget), in input order: ``algorithm``, ``budget``,
      ``last_improvement`` (#Q), ``mean``, ``std`` (sample std, ddof=1; NaN for a single
      trial), ``ci_low``, ``ci_high`` and ``num_trials`` (trials with a finite value).

    Raises:
      ValueError: on no curves, a curve that is not a non-empty 2-D array, or a budget < 1.
    """
    if not curves:
        raise ValueError("curves is empty")
    if any(int(b) < 1 for b in budgets):
        raise ValueError(f"budgets must be >= 1, got {tuple(budgets)}")
    rows = []
    for name, curve in curves.items():
        curve = _as_2d(f"curves[{name!r}]", curve)
        kept = [int(b) for b in budgets if int(b) <= curve.shape[1]]
        if not kept:
            continue
        at_budget = curve[:, np.asarray(kept) - 1]  # [T, B]
        last = last_improvements(curve)[np.asarray(kept) - 1]  # [B]
        low, high = bootstrap_ci_columns(at_budget, BUDGET_RESAMPLES, CI_LEVEL, seed)
        for column, budget in enumerate(kept):
            values = at_budget[:, column]
            values = values[np.isfinite(values)]
            rows.append({
                "algorithm": name,
                "budget": budget,
                "last_improvement": int(last[column]),
                "mean": float(values.mean()) if values.size else float("nan"),
                "std": float(values.std(ddof=1)) if values.size > 1 else float("nan"),
                "ci_low": float(low[column]),
                "ci_high": float(high[column]),
                "num_trials": int(values.size),
            })
    return rows


def finite_values(values: ArrayLike, name: str = "values") -> np.ndarray:
    """The finite entries of a 1-D array.

    Args:
      values: float[N] samples, NaN/inf marking missing ones.
      name: the argument's name for error messages.

    Returns:
      float[M] the finite entries, M >= 1.

    Raises:
      ValueError: when ``values`` is not a non-empty 1-D array or holds no finite value.
    """
    values = _as_1d(name, values)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError(f"{name} holds no finite value")
    return values


def finite_pairs(x: ArrayLike, y: ArrayLike,
                 names: tuple[str, str] = ("x", "y")) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (x[i], y[i]) where both entries are finite.

    Args:
      x: float[N] first variable.
      y: float[N] second variable.
      names: the arguments' names for error messages.

    Returns:
      (x_kept, y_kept), each float[M], M >= 1.

    Raises:
      ValueError: on non-1-D, empty or differently shaped input, or no finite pair.
    """
    x, y = _as_1d(names[0], x), _as_1d(names[1], y)
    if x.shape != y.shape:
        raise ValueError(f"{names[0]} has shape {x.shape}, {names[1]} has shape {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    if not keep.any():
        raise ValueError(f"no index where both {names[0]} and {names[1]} are finite")
    return x[keep], y[keep]


def symmetric_intervals(values: ArrayLike,
                        levels: Sequence[float] = INTERVALS) -> dict[float, tuple[float, float]]:
    """Intervals around the median holding a given share of the samples (Cassimon et al. Fig. 8).

    The interval of level p runs from the (50 - 50p)-th to the (50 + 50p)-th percentile, e.g.
    the 50% interval is the 25th..75th percentile. NaN entries are dropped.

    Args:
      values: float[N] samples.
      levels: shares in (0, 1).

    Returns:
      level -> (low, high).

    Raises:
      ValueError: on a non-1-D input without finite values or a level outside (0, 1).
    """
    values = finite_values(values)
    for level in levels:
        _check_level(level)
    return {float(p): (float(np.percentile(values, 50.0 - 50.0 * p)),
                       float(np.percentile(values, 50.0 + 50.0 * p))) for p in levels}


def improvement_stats(initial: ArrayLike, final: ArrayLike, seed: int = 0,
                      intervals: Sequence[float] = INTERVALS,
                      gof_max_samples: int = GOF_MAX_SAMPLES,
                      gof_mc_samples: int = GOF_MC_SAMPLES) -> dict:
    """Distribution of the per-episode improvement ``final - initial`` (Cassimon et al. Fig. 8,
    §4.2.2).

    Episodes where either value is NaN are dropped. The normality test is
    ``scipy.stats.normaltest`` (needs >= 8 episodes, else NaN). The t test is
    ``scipy.stats.goodness_of_fit`` against a fitted Student t (Anderson-Darling statistic)
    with ``gof_mc_samples`` Monte-Carlo samples (1,000 as Cassimon et al., so the smallest
    p-value is 1/1001 = 9.99e-4, the value Cassimon et al. report). Each Monte-Carlo sample refits
    the t distribution, so the test runs on a random subsample of at most ``gof_max_samples``
    episodes (default 1,000: tens of seconds; 250k episodes would take hours). It is skipped
    (NaN) for ``gof_mc_samples = 0``, fewer than 8 episodes or constant improvements.

    Args:
      initial: float[E] value of each episode's initial cell.
      final: float[E] value of each episode's final cell.
      seed: seed of the subsample and the Monte-Carlo samples.
      intervals: levels of the symmetric intervals around the median.
      gof_max_samples: largest number of episodes the goodness-of-fit test sees.
      gof_mc_samples: Monte-Carlo samples of the goodness-of-fit test.

    Returns:
      dict with ``num_episodes``, ``mean``, ``std`` (ddof=0), ``median``, ``intervals``
      (level -> (low, high)), ``skew``, ``normaltest_pvalue``, ``t_gof_pvalue``,
      ``t_gof_num_samples``, ``frac_improved``, ``frac_worse``, ``frac_unchanged``.

    Raises:
      ValueError: on mis-shaped or empty input, no finite pair, or a bad test size.
    """
    if gof_max_samples < 8 or gof_mc_samples < 0:
        raise ValueError(f"need gof_max_samples >= 8 and gof_mc_samples >= 0, "
                         f"got {gof_max_samples}, {gof_mc_samples}")
    initial, final = finite_pairs(initial, final, ("initial", "final"))
    delta = final - initial  # [E]
    constant = bool(np.all(delta == delta[0]))
    testable = delta.size >= 8 and not constant
    normal_p = float(sps.normaltest(delta).pvalue) if testable else float("nan")
    gof_p, gof_n = float("nan"), 0
    if testable and gof_mc_samples > 0:
        rng = np.random.default_rng(seed)
        subset = delta if delta.size <= gof_max_samples else rng.choice(
            delta, gof_max_samples, replace=False)
        if np.ptp(subset) > 0:
            gof_p = float(sps.goodness_of_fit(sps.t, subset, n_mc_samples=gof_mc_samples,
                                              rng=rng).pvalue)
            gof_n = int(subset.size)
    return {
        "num_episodes": int(delta.size),
        "mean": float(delta.mean()),
        "std": float(delta.std()),
        "median": float(np.median(delta)),
        "intervals": symmetric_intervals(delta, intervals),
        "skew": float(sps.skew(delta)) if not constant else float("nan"),
        "normaltest_pvalue": normal_p,
        "t_gof_pvalue": gof_p,
        "t_gof_num_samples": gof_n,
        "frac_improved": float(np.mean(delta > 0)),
        "frac_worse": float(np.mean(delta < 0)),
        "frac_unchanged": float(np.mean(delta == 0)),
    }


def correlations(x: ArrayLike, y: ArrayLike) -> dict:
    """Pearson r and Kendall tau (tau-b) of paired samples, e.g. neighbour count vs accuracy.

    Pairs with a NaN in either array are dropped. For constant input scipy's NaN is returned.

    Args:
      x: float[N] first variable.
      y: float[N] second variable.

    Returns:
      dict with ``pearson_r``, ``pearson_pvalue``, ``kendall_tau``, ``kendall_pvalue``, ``n``.

    Raises:
      ValueError: on mis-shaped input or fewer than two finite pairs.
    """
    x, y = finite_pairs(x, y)
    if x.size < 2:
        raise ValueError(f"need at least two finite pairs, got {x.size}")
    constant = np.ptp(x) == 0 or np.ptp(y) == 0
    if constant:
        nan = float("nan")
        return {"pearson_r": nan, "pearson_pvalue": nan, "kendall_tau": nan,
                "kendall_pvalue": nan, "n": int(x.size)}
    pearson = sps.pearsonr(x, y)
    kendall = sps.kendalltau(x, y)
    return {"pearson_r": float(pearson.statistic), "pearson_pvalue": float(pearson.pvalue),
            "kendall_tau": float(kendall.statistic), "kendall_pvalue": float(kendall.pvalue),
            "n": int(x.size)}
