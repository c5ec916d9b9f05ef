"""Specification of nasjax.evaluation.stats on hand-computed examples."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from nasjax.evaluation import stats

NAN = np.nan
# scipy.stats.goodness_of_fit's results on T_DATA, written by the script beside the file.
SCIPY_GOF = Path(__file__).parents[1] / "fixtures" / "t_goodness_of_fit" / "scipy_reference.npz"


# --- best_so_far -------------------------------------------------------------------------------

VALUES = np.array([[NAN, 0.5, 0.4, 0.5, 0.7, NAN],
                   [0.3, NAN, 0.6, 0.2, 0.6, 0.9]])
REPORTED = np.array([[9.0, 1.0, 2.0, 3.0, 4.0, 5.0],
                     [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]])


def test_best_so_far_is_the_running_max_skipping_invalid_queries():
    best, _ = stats.best_so_far(VALUES, REPORTED)
    np.testing.assert_array_equal(best, [[NAN, 0.5, 0.5, 0.5, 0.7, 0.7],
                                         [0.3, 0.3, 0.6, 0.6, 0.6, 0.9]])


def test_best_so_far_reports_the_cell_of_the_last_strict_improvement():
    # Row 0: the tie at query 3 (0.5) keeps query 1's report; row 1: the tie at query 4 keeps 12.
    _, reported = stats.best_so_far(VALUES, REPORTED)
    np.testing.assert_array_equal(reported, [[NAN, 1.0, 1.0, 1.0, 4.0, 4.0],
                                             [10.0, 10.0, 12.0, 12.0, 12.0, 15.0]])


def test_best_so_far_without_reported_reports_the_value_itself():
    best, reported = stats.best_so_far(VALUES)
    np.testing.assert_array_equal(reported, best)


def test_best_so_far_of_a_trial_without_valid_query_is_nan():
    best, reported = stats.best_so_far(np.full((1, 3), NAN), np.ones((1, 3)))
    assert np.isnan(best).all() and np.isnan(reported).all()


@pytest.mark.parametrize("values, reported", [
    (np.zeros(3), None),                 # 1-D
    (np.zeros((0, 3)), None),            # empty
    (np.zeros((2, 3)), np.zeros((2, 2))),  # shape mismatch
])
def test_best_so_far_rejects_bad_shapes(values, reported):
    with pytest.raises(ValueError):
        stats.best_so_far(values, reported)


# --- bootstrap ---------------------------------------------------------------------------------

def test_bootstrap_of_two_points_spans_the_three_possible_means():
    # Resample means of {0, 1} are 0, 0.5, 1 with probability 1/4, 1/2, 1/4:
    # the 2.5th percentile is 0, the 97.5th is 1, and the 30th..70th percentiles are 0.5.
    assert stats.bootstrap_ci([0.0, 1.0]) == (0.0, 1.0)
    assert stats.bootstrap_ci([0.0, 1.0], level=0.4) == (0.5, 0.5)


def test_bootstrap_of_constant_sample_is_a_point():
    assert stats.bootstrap_ci([0.93, 0.93, 0.93]) == pytest.approx((0.93, 0.93))


def test_bootstrap_contains_the_mean_and_is_reproducible_per_seed():
    sample = np.random.default_rng(1).normal(0.93, 0.01, size=200)
    low, high = stats.bootstrap_ci(sample, seed=3)
    assert low < sample.mean() < high
    assert stats.bootstrap_ci(sample, seed=3) == (low, high)
    assert stats.bootstrap_ci(sample, seed=4) != (low, high)


def test_bootstrap_interval_shrinks_like_one_over_root_n():
    rng = np.random.default_rng(2)
    small = np.subtract(*stats.bootstrap_ci(rng.normal(size=50))[::-1])
    large = np.subtract(*stats.bootstrap_ci(rng.normal(size=5000))[::-1])
    assert 5 < small / large < 20  # sqrt(5000 / 50) = 10


def test_bootstrap_widens_with_the_level():
    sample = np.random.default_rng(3).normal(size=100)
    low80, high80 = stats.bootstrap_ci(sample, level=0.8)
    low99, high99 = stats.bootstrap_ci(sample, level=0.99)
    assert low99 < low80 < high80 < high99


def test_bootstrap_drops_nan():
    assert stats.bootstrap_ci([0.0, NAN, 1.0]) == stats.bootstrap_ci([0.0, 1.0])


def test_bootstrap_columns_matches_one_column_at_a_time():
    samples = np.random.default_rng(4).normal(size=(30, 3))  # [T, B]
    low, high = stats.bootstrap_ci_columns(samples, num_resamples=500, seed=7)
    for b in range(3):
        expected = stats.bootstrap_ci(samples[:, b], num_resamples=500, seed=7)
        assert (low[b], high[b]) == pytest.approx(expected, rel=1e-12)


def test_bootstrap_columns_counts_the_finite_draws_of_each_column():
    # Columns with and without NaN side by side: each resample mean is over its finite draws.
    samples = np.random.default_rng(5).normal(size=(40, 3))
    samples[::3, 1] = NAN
    low, high = stats.bootstrap_ci_columns(samples, num_resamples=400, seed=2)
    picks = np.random.default_rng(2).integers(0, 40, size=(400, 40))  # the same draws
    means = np.nanmean(samples[picks], axis=1)  # [R, B]
    expected = np.percentile(means, [2.5, 97.5], axis=0)
    np.testing.assert_allclose([low, high], expected, rtol=1e-12)


def test_bootstrap_columns_gives_nan_for_an_all_nan_column():
    samples = np.array([[0.0, NAN], [1.0, NAN]])
    low, high = stats.bootstrap_ci_columns(samples)
    assert (low[0], high[0]) == (0.0, 1.0)
    assert np.isnan(low[1]) and np.isnan(high[1])


@pytest.mark.parametrize("kwargs", [
    dict(samples=[]), dict(samples=[[1.0, 2.0]]), dict(samples=[NAN, NAN]),
    dict(samples=[1.0, 2.0], level=1.0), dict(samples=[1.0, 2.0], num_resamples=0),
])
def test_bootstrap_rejects_bad_input(kwargs):
    with pytest.raises(ValueError):
        stats.bootstrap_ci(**kwargs)


# --- budget_table ------------------------------------------------------------------------------

CURVES = {
    # best-so-far curves [T=3, Q=3]; after 1 query: .90 .92 .94, after 3 queries: .94 .94 .97
    "a": np.array([[0.90, 0.92, 0.94], [0.92, 0.93, 0.94], [0.94, 0.94, 0.97]]),
    # trial 0 has no valid query at budget 1
    "b": np.array([[NAN, 0.90], [0.80, 0.85]]),
}


def test_budget_table_rows_in_input_order_skipping_budgets_beyond_the_curve():
    rows = stats.budget_table(CURVES, budgets=(1, 3))
    assert [(r["algorithm"], r["budget"]) for r in rows] == [("a", 1), ("a", 3), ("b", 1)]


def test_budget_table_mean_and_sample_std():
    rows = stats.budget_table(CURVES, budgets=(1, 2, 3))
    a1, a2, a3, b1, b2 = rows
    assert a1["mean"] == pytest.approx(0.92) and a1["std"] == pytest.approx(0.02)
    # .94 .94 .97: mean .95, squared deviations 1e-4 + 1e-4 + 4e-4 over (3 - 1) -> sqrt(3e-4)
    assert a3["mean"] == pytest.approx(0.95) and a3["std"] == pytest.approx(math.sqrt(3e-4))
    assert a3["num_trials"] == 3
    # b after 1 query: only trial 1 has a value
    assert b1["num_trials"] == 1 and b1["mean"] == pytest.approx(0.80) and math.isnan(b1["std"])
    assert b2["mean"] == pytest.approx(0.875) and b2["std"] == pytest.approx(math.sqrt(2) * 0.025)


def test_last_improvements_are_the_latest_change_of_any_trial():
    # #Q (Cassimon et al. Tables 1-2): trial 0 improves at queries 1 and 3, trial 1 at 1 and 4;
    # nothing changes at queries 2, 5 and 6, whose data is that of queries 1 and 4.
    curves = np.array([[.5, .5, .7, .7, .7, .7], [.6, .6, .6, .8, .8, .8]])
    np.testing.assert_array_equal(stats.last_improvements(curves), [1, 1, 3, 4, 4, 4])
    # No value yet is no data (0); a trial's first valid query is its first improvement.
    np.testing.assert_array_equal(stats.last_improvements(CURVES["b"]), [1, 2])
    np.testing.assert_array_equal(stats.last_improvements([[NAN, NAN, .5]]), [0, 0, 3])


def test_budget_table_prints_the_query_of_the_data_it_uses():
    curves = {"a": np.array([[.5, .5, .7, .7, .7, .7], [.6, .6, .6, .8, .8, .8]])}
    rows = stats.budget_table(curves, budgets=(2, 3, 6))
    assert [(r["budget"], r["last_improvement"]) for r in rows] == [(2, 1), (3, 3), (6, 4)]


def test_budget_table_ci_is_the_5000_resample_bootstrap_of_the_column():
    a1, a3 = stats.budget_table({"a": CURVES["a"]}, budgets=(1, 3), seed=5)
    expected = stats.bootstrap_ci(CURVES["a"][:, 2], num_resamples=5000, level=0.95, seed=5)
    assert (a3["ci_low"], a3["ci_high"]) == pytest.approx(expected, rel=1e-12)
    assert a1["ci_low"] <= a1["mean"] <= a1["ci_high"]


@pytest.mark.parametrize("curves, budgets", [
    ({}, (1,)), ({"a": np.zeros(3)}, (1,)), ({"a": np.zeros((2, 3))}, (0,)),
])
def test_budget_table_rejects_bad_input(curves, budgets):
    with pytest.raises(ValueError):
        stats.budget_table(curves, budgets)


# --- improvement_stats -------------------------------------------------------------------------

def test_improvement_of_0_to_100_has_exact_percentile_intervals():
    # improvements 0, 1, ..., 100: the p-th percentile is exactly p.
    result = stats.improvement_stats(np.zeros(101), np.arange(101.0), gof_mc_samples=0)
    assert result["median"] == 50.0
    assert result["intervals"] == {0.5: (25.0, 75.0), 0.8: (10.0, 90.0), 0.9: (5.0, 95.0),
                                   0.95: (2.5, 97.5), 0.99: (0.5, 99.5)}
    assert result["skew"] == pytest.approx(0.0, abs=1e-12)
    assert result["mean"] == 50.0
    assert result["std"] == pytest.approx(math.sqrt((101**2 - 1) / 12))  # discrete uniform
    assert result["frac_improved"] == pytest.approx(100 / 101)
    assert result["frac_unchanged"] == pytest.approx(1 / 101)
    assert result["frac_worse"] == 0.0


def test_improvement_skew_of_a_right_tail():
    # 0, 0, 0, 3: m2 = 27/16, m3 = 81/32, skew = m3 / m2**1.5 = 2 / sqrt(3)
    result = stats.improvement_stats([1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 4.0])
    assert result["skew"] == pytest.approx(2 / math.sqrt(3))
    assert result["median"] == 0.0
    # too few episodes for the normality and t tests
    assert math.isnan(result["normaltest_pvalue"]) and math.isnan(result["t_gof_pvalue"])


def test_improvement_is_final_minus_initial_and_drops_nan_pairs():
    result = stats.improvement_stats([0.9, NAN, 0.8], [0.8, 0.95, 0.85], gof_mc_samples=0)
    assert result["num_episodes"] == 2
    assert result["mean"] == pytest.approx((-0.1 + 0.05) / 2)
    assert result["frac_improved"] == 0.5 and result["frac_worse"] == 0.5


def test_symmetric_interval_is_the_central_percentile_range():
    values = np.random.default_rng(6).standard_t(3, size=1001)
    intervals = stats.symmetric_intervals(values, (0.5, 0.9))
    assert intervals[0.5] == tuple(np.percentile(values, [25, 75]))
    assert intervals[0.9] == tuple(np.percentile(values, [5, 95]))


# The t tests below see 50 episodes with 19 Monte-Carlo samples: one agent's test is one compiled
# program, shared by the tests that run it.
GOF_TEST = dict(gof_max_samples=50, gof_mc_samples=19)


@pytest.mark.slow  # ~7 CPU-s of its own: out of the fast lane
def test_improvement_tests_match_scipy_and_subsample_the_t_fit():
    rng = np.random.default_rng(7)
    final = rng.normal(size=300)
    result = stats.improvement_stats(np.zeros(300), final, **GOF_TEST)
    assert result["normaltest_pvalue"] == pytest.approx(sps.normaltest(final).pvalue)
    assert result["skew"] == pytest.approx(sps.skew(final))
    assert result["t_gof_num_samples"] == 50
    assert result["t_gof_pvalue"] in {k / 20 for k in range(1, 21)}  # (hits + 1) / (19 + 1)
    again = stats.improvement_stats(np.zeros(300), final, **GOF_TEST)
    assert again["t_gof_pvalue"] == result["t_gof_pvalue"]


@pytest.mark.slow  # ~7 CPU-s of its own: out of the fast lane
def test_improvement_stats_all_tests_every_agent_as_alone():
    # The agents' t tests run in one call, each with the seed's Monte-Carlo draws: an agent's
    # p-value does not depend on the other agents.
    rng = np.random.default_rng(9)
    episodes = {"t": (np.zeros(60), rng.standard_t(4, size=60)),
                "skewed": (np.zeros(80), rng.exponential(size=80))}
    together = stats.improvement_stats_all(episodes, seed=3, **GOF_TEST)
    for agent, (initial, final) in episodes.items():
        alone = stats.improvement_stats(initial, final, seed=3, **GOF_TEST)
        assert together[agent] == alone
        assert together[agent]["t_gof_num_samples"] == 50


# --- t goodness of fit (Cassimon et al. Fig. 8's t test) ----------------------------------------

T_DATA = {  # fixed data: a Student t sample and a skewed one (no t fits it)
    "t": sps.t.rvs(5, loc=0.02, scale=0.03, size=500, random_state=np.random.default_rng(11)),
    "skewed": sps.skewnorm.rvs(4, loc=0.01, scale=0.05, size=500,
                               random_state=np.random.default_rng(12)),
}


@pytest.mark.parametrize("name", sorted(T_DATA))
def test_t_fit_is_scipys_maximum_likelihood_fit(name):
    data = T_DATA[name]
    ours = stats.t_fit(data[None])[0]
    theirs = np.asarray(sps.t.fit(data))  # Nelder-Mead, stops within 1e-4 of the optimum
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)
    assert sps.t.nnlf(ours, data) <= sps.t.nnlf(theirs, data) + 1e-9  # at least as likely


def test_t_fit_of_normal_data_reaches_the_largest_df():
    # The likelihood of these data keeps rising towards the normal: df ends at its bound and
    # loc, scale at the normal's maximum-likelihood estimates.
    data = np.random.default_rng(13).normal(0.3, 2.0, size=(4, 2000))
    data = (data - data.mean(1, keepdims=True)) / data.std(1, keepdims=True)  # exact moments
    data = np.concatenate([data, -data], axis=1)  # zero skew; kurtosis of a normal sample
    fitted = stats.t_fit(data)
    leptokurtic = sps.kurtosis(data, axis=1) > 0  # these have a finite maximum-likelihood df
    assert np.all(fitted[~leptokurtic, 0] == stats.T_DF_RANGE[1])
    np.testing.assert_allclose(fitted[~leptokurtic, 1], 0.0, atol=1e-9)
    np.testing.assert_allclose(fitted[~leptokurtic, 2], 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(T_DATA))
def test_t_anderson_darling_is_scipys_statistic(name):
    data = T_DATA[name]
    params = np.array([3.5, 0.01, 0.04])
    theirs = sps.goodness_of_fit(sps.t, data, known_params=dict(zip(("df", "loc", "scale"),
                                                                    params)),
                                 n_mc_samples=1, rng=0).statistic
    ours = stats.t_anderson_darling(data[None], params[None])[0]
    assert ours == pytest.approx(theirs, rel=1e-9)


def _agree_within_monte_carlo_error(ours: float, theirs: float, mc_samples: int) -> bool:
    """Two independent Monte-Carlo p-values of the same test differ by less than 4 binomial
    standard errors of their difference (plus one count of each)."""
    p = (ours + theirs) / 2
    return abs(ours - theirs) <= 4 * math.sqrt(2 * p * (1 - p) / mc_samples) + 2 / mc_samples


@pytest.fixture(scope="module")
def scipy_gof() -> dict:
    """scipy's goodness of fit on this module's data, stored by the kept script (it refits the t
    once per Monte-Carlo sample: minutes on 2 cores)."""
    with np.load(SCIPY_GOF) as stored:
        return {key: stored[key] for key in stored.files}


@pytest.mark.slow  # ~8 CPU-s of its own: out of the fast lane
@pytest.mark.parametrize("name", sorted(T_DATA))
def test_t_goodness_of_fit_reproduces_scipy(name, scipy_gof):
    data = T_DATA[name]
    np.testing.assert_array_equal(scipy_gof[f"{name}/data"], data)  # the data scipy was given
    theirs_statistic, theirs_pvalue = scipy_gof[f"{name}/statistic"], scipy_gof[f"{name}/pvalue"]
    assert scipy_gof[f"{name}/mc_samples"] == 200 and scipy_gof[f"{name}/rng"] == 0
    statistic, pvalue = stats.t_goodness_of_fit(data[None], seed=0, mc_samples=200)
    assert statistic[0] == pytest.approx(theirs_statistic, rel=1e-4)
    assert _agree_within_monte_carlo_error(pvalue[0], theirs_pvalue, 200)
    assert pvalue[0] == stats.t_goodness_of_fit(data[None], seed=0, mc_samples=200)[1][0]


@pytest.mark.slow  # nasjax's side: 1,000 Monte-Carlo refits of 2 samples (compiled once)
def test_t_goodness_of_fit_reproduces_scipy_with_the_papers_1000_samples(scipy_gof):
    data = T_DATA["t"][:300]  # p-value near the middle: the largest Monte-Carlo error
    name = "t_300_papers_1000"
    np.testing.assert_array_equal(scipy_gof[f"{name}/data"], data)
    assert scipy_gof[f"{name}/mc_samples"] == 1000 and scipy_gof[f"{name}/rng"] == 1
    statistic, pvalue = stats.t_goodness_of_fit(np.stack([data, T_DATA["skewed"][:300]]),
                                                seed=1, mc_samples=1000)
    assert statistic[0] == pytest.approx(scipy_gof[f"{name}/statistic"], rel=1e-4)
    assert _agree_within_monte_carlo_error(pvalue[0], scipy_gof[f"{name}/pvalue"], 1000)
    assert pvalue[1] < 0.05  # the skewed sample is rejected


@pytest.mark.parametrize("samples, mc_samples", [(np.zeros(5), 10), (np.zeros((1, 0)), 10),
                                                 (np.arange(10.0)[None], 0)])
def test_t_goodness_of_fit_rejects_bad_input(samples, mc_samples):
    with pytest.raises(ValueError):
        stats.t_goodness_of_fit(samples, seed=0, mc_samples=mc_samples)


@pytest.mark.parametrize("initial, final", [([], []), ([0.1, 0.2], [0.1]), ([NAN], [0.1])])
def test_improvement_rejects_bad_input(initial, final):
    with pytest.raises(ValueError):
        stats.improvement_stats(initial, final)


# --- correlations ------------------------------------------------------------------------------

def test_correlations_by_hand():
    # x = 1 2 3, y = 1 3 2: cov = 1, var = 2 each -> r = 0.5; 2 concordant, 1 discordant -> 1/3
    result = stats.correlations([1, 2, 3], [1, 3, 2])
    assert result["pearson_r"] == pytest.approx(0.5)
    assert result["kendall_tau"] == pytest.approx(1 / 3)
    assert result["n"] == 3


def test_correlations_match_scipy_after_dropping_nan_pairs():
    rng = np.random.default_rng(8)
    x = rng.integers(10, 60, size=200).astype(float)
    y = 0.9 + 0.001 * x + rng.normal(0, 0.02, size=200)
    x_nan, y_nan = np.append(x, NAN), np.append(y, 0.5)
    result = stats.correlations(x_nan, y_nan)
    assert result["n"] == 200
    assert result["pearson_r"] == pytest.approx(sps.pearsonr(x, y).statistic)
    assert result["pearson_pvalue"] == pytest.approx(sps.pearsonr(x, y).pvalue)
    assert result["kendall_tau"] == pytest.approx(sps.kendalltau(x, y).statistic)
    assert result["kendall_pvalue"] == pytest.approx(sps.kendalltau(x, y).pvalue)


def test_correlations_of_constant_input_are_nan():
    assert math.isnan(stats.correlations([1, 1, 1], [1, 2, 3])["pearson_r"])


@pytest.mark.parametrize("x, y", [([1.0], [1.0]), ([1.0, 2.0], [1.0]), ([], [])])
def test_correlations_reject_bad_input(x, y):
    with pytest.raises(ValueError):
        stats.correlations(x, y)
