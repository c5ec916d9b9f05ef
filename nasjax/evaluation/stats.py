"""Host-side statistics of search results (Cassimon et al. §4: Table 1, Figs. 8, 10, 11).

Numpy/scipy, except the Student-t goodness-of-fit test of Fig. 8, which runs in JAX (float64)
so that all its Monte-Carlo refits of all agents run in one jitted call. Accuracies are
fractions in [0, 1]; every statistic is returned in the units of its input (formatting to
percent happens in :mod:`plots` and :mod:`report`). NaN marks a missing value (an invalid
query, a trial without any valid query yet) and is ignored, never propagated into a mean.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy import special as jsp
from numpy.typing import ArrayLike

from nasjax.evaluation import t_draws

BUDGETS = (50, 100, 150, 300)  # Table 1 query budgets
BUDGET_RESAMPLES = 5000  # bootstrap resamples behind Table 1 and Fig. 10 ("5x10^3")
CI_LEVEL = 0.95
INTERVALS = (0.5, 0.8, 0.9, 0.95, 0.99)  # Fig. 8 symmetric intervals around the median
GOF_MC_SAMPLES = 1000  # Monte-Carlo samples of the paper's t goodness-of-fit test
GOF_MAX_SAMPLES = 1000  # subsample size for that test (seconds per 1k points, not hours)
MIN_TESTED = 8  # episodes the normality and t tests need (scipy.stats.normaltest's minimum)
_BOOTSTRAP_CHUNK = 1 << 22  # resample-weight entries materialised at once
# Student-t maximum likelihood (the fit scipy.stats.t.fit performs by Nelder-Mead): damped
# Newton steps on (1 / df, loc, log scale) of data standardised by its median and std.
T_FIT_STEPS = 30  # Newton steps per fit (25 reach float64 resolution on t(2..inf) samples)
T_DF_RANGE = (1e-2, 1e6)  # df is kept in this range; 1e6 is the normal within ~1e-6 of a CDF
_T_SERIES_DF = 100.0  # above this df the t's log normaliser is its 1/df series (no cancellation)
_T_CDF_TERMS = 40  # continued-fraction terms of the t CDF (converged for every df in the range)


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
    partial = ~finite.all(axis=0)  # [B] columns with a NaN: their counts vary by resample
    finite_f = finite[:, partial].astype(np.float64)
    zeroed = np.where(finite, samples, 0.0)  # [T, B]
    rng = np.random.default_rng(seed)
    chunk = min(max(1, _BOOTSTRAP_CHUNK // num_rows), num_resamples)
    buffer = np.empty((chunk, num_rows))  # reused: a fresh one per chunk costs page faults
    means = np.empty((num_resamples, samples.shape[1]))
    for start in range(0, num_resamples, chunk):
        rows = min(chunk, num_resamples - start)
        picks = rng.integers(0, num_rows, size=(rows, num_rows))
        weights = buffer[:rows]  # [rows, T] draw counts, a row at a time (it stays in cache)
        for row, drawn in enumerate(picks):
            weights[row] = np.bincount(drawn, minlength=num_rows)
        counts = np.full((rows, samples.shape[1]), float(num_rows))  # a resample draws T rows
        counts[:, partial] = weights @ finite_f  # [rows, B]: the finite ones among them
        with np.errstate(invalid="ignore", divide="ignore"):
            means[start:start + rows] = (weights @ zeroed) / counts  # NaN: no finite entry
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


def _t_log_norm(df: jax.Array) -> jax.Array:
    """log of the Student-t density's normaliser Gamma((df+1)/2) / (Gamma(df/2) sqrt(df pi)).

    Above ``_T_SERIES_DF`` it is the asymptotic series -log(2 pi)/2 - 1/(4 df) + 1/(24 df^3)
    (error < 1e-11), which the difference of two large log-gammas would lose to cancellation;
    the fit then still sees the likelihood rise towards the normal (df -> infinity).
    """
    exact = jsp.gammaln((df + 1) / 2) - jsp.gammaln(df / 2) - 0.5 * jnp.log(df * jnp.pi)
    big = jnp.maximum(df, _T_SERIES_DF)
    series = -0.5 * jnp.log(2 * jnp.pi) - 1 / (4 * big) + 1 / (24 * big**3)
    return jnp.where(df > _T_SERIES_DF, series, exact)


def _t_nll(theta: jax.Array, u: jax.Array) -> jax.Array:
    """Mean negative log-likelihood of u (float[n]) under t(df, loc, scale), theta = (1 / df,
    loc, log scale)."""
    df, loc, log_scale = 1 / theta[0], theta[1], theta[2]
    z = (u - loc) * jnp.exp(-log_scale)
    return log_scale - _t_log_norm(df) + jnp.mean((df + 1) / 2 * jnp.log1p(z * z / df))


def _t_nll_derivatives(theta: jax.Array,
                       u: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(value, float[3] gradient, float[3, 3] Hessian) of :func:`_t_nll` in theta.

    In closed form from six means over the data (one pass, no autodiff through the data): with
    z = (u - loc) / scale, q = z^2 / df, w = 1 / (1 + q) and k = df + 1, the per-point term
    k/2 log1p(q) has the derivatives written below in (log df, loc, log scale), then moved to
    theta = (1 / df, loc, log scale) by the chain rule (d/d(1/df) = -df d/d(log df)).
    """
    df, loc, log_scale = 1 / theta[0], theta[1], theta[2]
    inv_scale, k = jnp.exp(-log_scale), df + 1
    z = (u - loc) * inv_scale
    q = z * z / df
    w = 1 / (1 + q)
    mean_wz, mean_wq, mean_w2z, mean_w2q, mean_w2, mean_log = (
        jnp.mean(v) for v in (w * z, w * q, w * w * z, w * w * q, w * w, jnp.log1p(q)))
    log_df = jnp.log(df)
    first = jax.grad(lambda t: _t_log_norm(jnp.exp(t)))
    norm_1, norm_2 = first(log_df), jax.grad(first)(log_df)
    value = log_scale - _t_log_norm(df) + k / 2 * mean_log
    g_df = df * mean_log / 2 - k * mean_wq / 2 - norm_1  # 1 - w = w q
    g_loc = -k * inv_scale / df * mean_wz
    g_scale = 1 - k * mean_wq
    h_df = df * mean_log / 2 - df * mean_wq + k * mean_w2q / 2 - norm_2
    h_df_loc = inv_scale / df * (mean_wz - k * (mean_wz - mean_w2z))
    h_df_scale = -df * mean_wq + k * mean_w2q
    h_loc = k * inv_scale**2 / df * (2 * mean_w2 - (1 - mean_wq))
    h_loc_scale = 2 * k * inv_scale / df * mean_w2z
    grad = jnp.stack([-df * g_df, g_loc, g_scale])
    hessian = jnp.array([[df * df * (g_df + h_df), -df * h_df_loc, -df * h_df_scale],
                         [-df * h_df_loc, h_loc, h_loc_scale],
                         [-df * h_df_scale, h_loc_scale, 2 * k * mean_w2q]])
    return value, grad, hessian


def _t_fit_one(x: jax.Array) -> jax.Array:
    """float[3] (df, loc, scale): maximum-likelihood Student t of x (float[n], not constant).

    Levenberg-Marquardt damped Newton steps on theta = (1 / df, loc, log scale) of the data
    standardised by its median and std, from scipy's starting df = 1; a step is taken only if
    it lowers the likelihood's negative, else the damping grows tenfold. df stays in
    ``T_DF_RANGE`` (held at a bound the gradient pushes against); in 1 / df the likelihood is
    smooth up to the normal (1 / df = 0), so data nearer the normal than any t reach the
    largest df in a few steps.
    """
    center, spread = jnp.median(x), jnp.std(x)
    u = (x - center) / spread
    low, high = 1 / T_DF_RANGE[1], 1 / T_DF_RANGE[0]

    def step(_, state):
        theta, damping = state
        value, grad, hessian = _t_nll_derivatives(theta, u)
        # At a bound of df that the gradient pushes against, df stays put (a projected step).
        held = ((theta[0] <= low) & (grad[0] > 0)) | ((theta[0] >= high) & (grad[0] < 0))
        free = jnp.where(held, jnp.array([0.0, 1.0, 1.0]), 1.0)
        hessian = hessian * free[:, None] * free[None, :] + jnp.diag(1 - free)
        proposal = theta - jnp.linalg.solve(hessian + damping * jnp.eye(3), grad * free)
        proposal = proposal.at[0].set(jnp.clip(proposal[0], low, high))
        better = _t_nll(proposal, u) < value  # False for a NaN proposal
        return jnp.where(better, proposal, theta), jnp.where(better, damping / 10, damping * 10)

    start = jnp.array([1, 0, 0], x.dtype)  # df = 1, loc = median, scale = std
    theta, _ = jax.lax.fori_loop(0, T_FIT_STEPS, step, (start, jnp.asarray(1e-3, x.dtype)))
    return jnp.stack([1 / theta[0], center + spread * theta[1], spread * jnp.exp(theta[2])])


def _t_log_cdf_sf(z: jax.Array, df: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(log F(z), log(1 - F(z))) of the standard Student t with ``df`` degrees of freedom.

    Both come from the smaller tail P(T < -|z|) = I_x(df/2, 1/2) / 2, x = df / (df + z^2),
    the regularised incomplete beta by its continued fraction (modified Lentz, Numerical
    Recipes' betacf: ``_T_CDF_TERMS`` terms, switched to 1 - I_{1-x}(1/2, df/2) where that
    converges faster), so that far tails keep their relative precision as scipy's ``logcdf``.
    """
    tiny = jnp.finfo(z.dtype).tiny
    zz = z * z
    x, y = df / (df + zz), zz / (df + zz)  # y = 1 - x without cancellation
    flip = x >= (df / 2 + 1) / (df / 2 + 2.5)
    a, b = jnp.where(flip, 0.5, df / 2), jnp.where(flip, df / 2, 0.5)
    x, y = jnp.where(flip, y, x), jnp.where(flip, x, y)

    def guard(v):
        return jnp.where(jnp.abs(v) < tiny, tiny, v)

    def terms(m, state):
        c, d, h = state
        m2 = 2 * m
        for coef in (m * (b - m) * x / ((a - 1 + m2) * (a + m2)),
                     -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1 + m2))):
            d = 1 / guard(1 + coef * d)
            c = guard(1 + coef / c)
            h = h * d * c
        return c, d, h

    d = 1 / guard(1 - (a + b) * x / (a + 1))
    _, _, h = jax.lax.fori_loop(1, _T_CDF_TERMS + 1, terms, (jnp.ones_like(x), d, d))
    log_beta = jsp.gammaln(a) + jsp.gammaln(b) - jsp.gammaln(a + b)
    log_ix = a * jnp.log(x) + b * jnp.log(y) - log_beta - jnp.log(a) + jnp.log(h)
    log_tail = jnp.log(0.5) + jnp.where(flip, jnp.log1p(-jnp.exp(log_ix)), log_ix)
    log_body = jnp.log1p(-jnp.exp(log_tail))
    return jnp.where(z < 0, log_tail, log_body), jnp.where(z < 0, log_body, log_tail)


def _t_anderson_darling_one(x: jax.Array, params: jax.Array) -> jax.Array:
    """Anderson-Darling statistic of x (float[n]) against t(df, loc, scale) = params (float[3]),
    as scipy's: -n - sum_i (2i - 1)/n (log F(x_(i)) + log(1 - F(x_(n+1-i))))."""
    n = x.shape[-1]
    log_cdf, log_sf = _t_log_cdf_sf((jnp.sort(x) - params[1]) / params[2], params[0])
    weights = (2 * jnp.arange(1, n + 1) - 1) / n
    return -n - jnp.sum(weights * log_cdf + weights[::-1] * log_sf)


_t_fit_batch = jax.jit(jax.vmap(_t_fit_one))
_t_anderson_darling_batch = jax.jit(jax.vmap(_t_anderson_darling_one))


@functools.partial(jax.jit, static_argnames="mc_samples")
def _t_goodness_of_fit(samples: jax.Array, key: jax.Array,
                       mc_samples: int) -> tuple[jax.Array, jax.Array]:
    """(statistic, p-value), each float[A], of the Monte-Carlo t test of every row of samples
    (float[A, n]); every row's null samples are drawn with the same ``key``."""
    fit, statistic_of = jax.vmap(_t_fit_one), jax.vmap(_t_anderson_darling_one)
    params = fit(samples)  # [A, 3]
    statistic = statistic_of(samples, params)  # [A]
    size = samples.shape[-1]

    def null(p, t):  # p: float[3], t: float[mc_samples, size] -> float[mc_samples]
        draws = p[1] + p[2] * t
        return statistic_of(draws, fit(draws))

    # jax.random.t's draws for every row's df, bit for bit (t_draws: its loop on pending lanes)
    nulls = jax.vmap(null)(params, t_draws.t(key, params[:, 0], (mc_samples, size)))  # [A, mc]
    tolerance = jnp.abs(statistic) * 100 * jnp.finfo(samples.dtype).eps  # as scipy's
    hits = jnp.sum(nulls >= (statistic - tolerance)[:, None], axis=1)
    return statistic, (hits + 1) / (mc_samples + 1)


def t_fit(samples: ArrayLike) -> np.ndarray:
    """Maximum-likelihood Student t (df, loc, scale) of every row of ``samples``, in float64.

    The fit ``scipy.stats.t.fit`` performs (it maximises the same likelihood by Nelder-Mead,
    which stops within its 1e-4 tolerances of this optimum), for many rows at once. Data whose
    likelihood keeps rising towards the normal get df = ``T_DF_RANGE[1]``.

    Args:
      samples: float[B, n] B samples of n values, none constant.

    Returns:
      float[B, 3] the fitted (df, loc, scale) of each row.
    """
    with jax.enable_x64(True):
        return np.asarray(_t_fit_batch(jnp.asarray(samples, jnp.float64)))


def t_anderson_darling(samples: ArrayLike, params: ArrayLike) -> np.ndarray:
    """Anderson-Darling statistic of every row of ``samples`` against its Student t, as
    ``scipy.stats.goodness_of_fit(..., statistic="ad")`` computes it, in float64.

    Args:
      samples: float[B, n] B samples of n values.
      params: float[B, 3] the (df, loc, scale) of each row's t (e.g. :func:`t_fit`).

    Returns:
      float[B] the statistics.
    """
    with jax.enable_x64(True):
        return np.asarray(_t_anderson_darling_batch(jnp.asarray(samples, jnp.float64),
                                                    jnp.asarray(params, jnp.float64)))


def t_goodness_of_fit(samples: ArrayLike, seed: int,
                      mc_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Monte-Carlo goodness-of-fit test of a fitted Student t on every row of ``samples``.

    Reproduces ``scipy.stats.goodness_of_fit(scipy.stats.t, row, statistic="ad",
    n_mc_samples=mc_samples)`` (Cassimon et al. Fig. 8's t test): the t is fitted by maximum
    likelihood (:func:`t_fit`, all of df, loc and scale), the statistic is the Anderson-Darling
    statistic against it (:func:`t_anderson_darling`); ``mc_samples`` samples of the row's size
    are drawn from the fitted t, each refitted and its statistic computed; the p-value is
    (#{null >= statistic} + 1) / (mc_samples + 1) with scipy's tolerance. The statistic equals
    scipy's up to its Nelder-Mead tolerance, the p-value up to Monte-Carlo error (the draws
    differ). All rows and all their Monte-Carlo samples run in one jitted float64 call (seconds,
    where scipy refits one sample at a time: about a minute per 1,000 samples of 1,000).

    Args:
      samples: float[A, n] one sample of n values per row (e.g. per agent), none constant.
      seed: the Monte-Carlo draws come from ``jax.random.key(seed)``, the same for every row,
        so a row's p-value does not depend on the other rows.
      mc_samples: number of Monte-Carlo samples, >= 1.

    Returns:
      (statistic, pvalue), each float[A].

    Raises:
      ValueError: when ``samples`` is not a non-empty 2-D array or ``mc_samples < 1``.
    """
    samples = _as_2d("samples", samples)
    if mc_samples < 1:
        raise ValueError(f"mc_samples must be at least 1, got {mc_samples}")
    with jax.enable_x64(True):
        statistic, pvalue = _t_goodness_of_fit(jnp.asarray(samples), jax.random.key(seed),
                                               int(mc_samples))
        return np.asarray(statistic), np.asarray(pvalue)


def t_test_size(count: int, gof_max_samples: int) -> int:
    """Values the t test of :func:`improvement_stats_all` sees of an agent with ``count``
    finite episodes: all of them, at most ``gof_max_samples`` (a subsample), and none (no
    test) below ``MIN_TESTED``."""
    return min(count, gof_max_samples) if count >= MIN_TESTED else 0


def compile_improvement_tests(counts: Mapping[str, int], gof_max_samples: int = GOF_MAX_SAMPLES,
                              gof_mc_samples: int = GOF_MC_SAMPLES) -> None:
    """Compiles the t tests :func:`improvement_stats_all` will run on agents with these numbers
    of episodes (agent -> count), ahead of it (e.g. in a thread while other work runs): the
    agents whose improvements vary are tested together per :func:`t_test_size`, and each
    call then finds its program in JAX's compilation cache. The same programs, the same
    numbers."""
    if gof_mc_samples < 1:
        return
    sizes = collections.Counter(t_test_size(count, gof_max_samples) for count in counts.values())
    sizes.pop(0, None)
    with jax.enable_x64(True):
        for size, rows in sorted(sizes.items()):
            _t_goodness_of_fit.lower(jax.ShapeDtypeStruct((rows, size), jnp.float64),
                                     jax.random.key(0), int(gof_mc_samples)).compile()


def improvement_stats(initial: ArrayLike, final: ArrayLike, seed: int = 0,
                      intervals: Sequence[float] = INTERVALS,
                      gof_max_samples: int = GOF_MAX_SAMPLES,
                      gof_mc_samples: int = GOF_MC_SAMPLES) -> dict:
    """Distribution of the per-episode improvement ``final - initial`` of one agent (Cassimon et
    al. Fig. 8, §4.2.2): :func:`improvement_stats_all` of that agent alone.

    Args:
      initial: float[E] value of each episode's initial cell.
      final: float[E] value of each episode's final cell.
      seed, intervals, gof_max_samples, gof_mc_samples: as :func:`improvement_stats_all`.

    Returns:
      The agent's dict of :func:`improvement_stats_all`.

    Raises:
      ValueError: on mis-shaped or empty input, no finite pair, or a bad test size.
    """
    return improvement_stats_all({"": (initial, final)}, seed, intervals, gof_max_samples,
                                 gof_mc_samples)[""]


def improvement_stats_all(episodes: Mapping[str, tuple[ArrayLike, ArrayLike]], seed: int = 0,
                          intervals: Sequence[float] = INTERVALS,
                          gof_max_samples: int = GOF_MAX_SAMPLES,
                          gof_mc_samples: int = GOF_MC_SAMPLES) -> dict[str, dict]:
    """Distribution of the per-episode improvement ``final - initial`` of every agent (Cassimon
    et al. Fig. 8, §4.2.2).

    Episodes where either value is NaN are dropped. The normality test is
    ``scipy.stats.normaltest`` (needs >= 8 episodes, else NaN). The t test is the Monte-Carlo
    goodness-of-fit test of a fitted Student t (Anderson-Darling statistic) with
    ``gof_mc_samples`` samples (1,000 as Cassimon et al., so the smallest p-value is 1/1001 =
    9.99e-4, the value Cassimon et al. report), :func:`t_goodness_of_fit`, which reproduces
    ``scipy.stats.goodness_of_fit`` up to Monte-Carlo error; the agents' tests run in one call.
    It sees a random subsample of at most ``gof_max_samples`` episodes (numpy's
    ``default_rng(seed)``), and is skipped (NaN) for ``gof_mc_samples = 0``, fewer than 8
    episodes or constant improvements.

    Args:
      episodes: agent -> (initial, final), float[E] values of each episode's initial and final
        cell.
      seed: seed of the subsample and of the Monte-Carlo samples (the same for every agent).
      intervals: levels of the symmetric intervals around the median.
      gof_max_samples: largest number of episodes the goodness-of-fit test sees.
      gof_mc_samples: Monte-Carlo samples of the goodness-of-fit test.

    Returns:
      agent -> dict with ``num_episodes``, ``mean``, ``std`` (ddof=0), ``median``,
      ``intervals`` (level -> (low, high)), ``skew``, ``normaltest_pvalue``,
      ``t_gof_pvalue``, ``t_gof_num_samples``, ``frac_improved``, ``frac_worse``,
      ``frac_unchanged``.

    Raises:
      ValueError: on mis-shaped or empty input, no finite pair, or a bad test size.
    """
    if gof_max_samples < MIN_TESTED or gof_mc_samples < 0:
        raise ValueError(f"need gof_max_samples >= {MIN_TESTED} and gof_mc_samples >= 0, "
                         f"got {gof_max_samples}, {gof_mc_samples}")
    from scipy import stats as sps  # imported on first use: 0.5 s

    results, subsets = {}, {}
    for agent, (initial, final) in episodes.items():
        initial, final = finite_pairs(initial, final, ("initial", "final"))
        delta = final - initial  # [E]
        constant = bool(np.all(delta == delta[0]))
        testable = delta.size >= MIN_TESTED and not constant
        if testable and gof_mc_samples > 0:
            size = t_test_size(delta.size, gof_max_samples)
            subset = delta if size == delta.size else np.random.default_rng(seed).choice(
                delta, size, replace=False)
            if np.ptp(subset) > 0:
                subsets[agent] = subset
        results[agent] = {
            "num_episodes": int(delta.size),
            "mean": float(delta.mean()),
            "std": float(delta.std()),
            "median": float(np.median(delta)),
            "intervals": symmetric_intervals(delta, intervals),
            "skew": float(sps.skew(delta)) if not constant else float("nan"),
            "normaltest_pvalue": float(sps.normaltest(delta).pvalue) if testable
            else float("nan"),
            "t_gof_pvalue": float("nan"),
            "t_gof_num_samples": 0,
            "frac_improved": float(np.mean(delta > 0)),
            "frac_worse": float(np.mean(delta < 0)),
            "frac_unchanged": float(np.mean(delta == 0)),
        }
    for size in sorted({subset.size for subset in subsets.values()}):  # one call per size
        agents = [agent for agent, subset in subsets.items() if subset.size == size]
        _, pvalues = t_goodness_of_fit(np.stack([subsets[a] for a in agents]), seed,
                                       gof_mc_samples)
        for agent, pvalue in zip(agents, pvalues):
            results[agent]["t_gof_pvalue"] = float(pvalue)
            results[agent]["t_gof_num_samples"] = int(size)
    return results


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
    from scipy import stats as sps  # imported on first use: 0.5 s

    pearson = sps.pearsonr(x, y)
    kendall = sps.kendalltau(x, y)
    return {"pearson_r": float(pearson.statistic), "pearson_pvalue": float(pearson.pvalue),
            "kendall_tau": float(kendall.statistic), "kendall_pvalue": float(kendall.pvalue),
            "n": int(x.size)}
