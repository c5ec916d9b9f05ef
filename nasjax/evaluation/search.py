"""Query-budget search trials and their tables (ReMAADE §8, Tables 3-6), for any searcher.

:func:`run_algorithm` runs all trials of one searcher in jitted chunks (vmapped and sharded
over devices); :func:`summarise` turns the per-query records into best-so-far error curves and
the tables; :func:`render_report` writes what a person reads.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.agents import base as agents_base
from nasjax.evaluation import interrupts, literature, report, stats


def run_algorithm(searcher: agents_base.Searcher, config, bench, key: jax.Array,
                  report_metric: str, bar=None) -> dict[str, np.ndarray]:
    """All ``config.num_trials`` trials of one searcher, in chunks of ``trials_per_chunk``.

    Args:
      searcher: the algorithm.
      config: ``num_trials``, ``trials_per_chunk``, ``budget``, ``mode``.
      bench: the benchmark.
      key: PRNG key of the algorithm; trial ``i`` uses ``split(key, num_trials)[i]``.
      report_metric: ``"test"`` or ``"val"`` (see :func:`agents_base.run_trial`).
      bar: an optional progress bar, advanced by trials.
    Returns:
      ``observed``, ``reported`` (float32[T, budget]), ``valid`` (bool[T, budget]) and
      ``unique`` (int32[T]: distinct architectures queried per trial, by the space's hash).
    """
    chunks = []
    keys = jax.random.split(key, config.num_trials)
    size = min(config.trials_per_chunk, config.num_trials)
    for start in range(0, config.num_trials, size):
        chunk = keys[start:start + size]
        if len(chunk) < size:  # keep one compiled shape
            chunk = jnp.concatenate([chunk, keys[: size - len(chunk)]])
        result = agents_base.run_trials(searcher, bench, chunk, config.budget, config.mode,
                                        report_metric)
        count = min(size, config.num_trials - start)
        chunks.append(jax.tree.map(lambda x: np.asarray(x)[:count], result))
        if bar is not None:
            bar.update(count)
        interrupts.check()  # a stop asked for during the chunk takes effect here
    merged = jax.tree.map(lambda *x: np.concatenate(x), *chunks)
    return {"observed": merged.observed, "reported": merged.reported, "valid": merged.valid,
            "unique": unique_per_trial(merged.arch_hash, merged.valid)}


def run_points(make, hypers: dict, config, bench, keys: list[jax.Array], report_metric: str,
               points_at_once: int = 1, bar=None) -> list[dict[str, np.ndarray]]:
    """:func:`run_algorithm` for several sweep points of one searcher in one compiled program
    (:func:`agents_base.run_point_trials`), the same chunks of trials: each point's arrays as
    its single run's.

    Args:
      make: builds a point's searcher from its traced hyperparameters (hashable).
      hypers: ``{name: float32[P]}`` (may be empty: the points differ only in their keys).
      config: ``num_trials``, ``trials_per_chunk``, ``budget``, ``mode``.
      bench: the benchmark.
      keys: each point's PRNG key of the algorithm (as :func:`run_algorithm`'s ``key``).
      report_metric: ``"test"`` or ``"val"``.
      points_at_once: points vmapped together (1: one after another inside the program).
      bar: an optional progress bar, advanced by trials of all points.
    """
    trial_keys = jnp.stack([jax.random.split(key, config.num_trials) for key in keys], 1)
    chunks = []
    size = min(config.trials_per_chunk, config.num_trials)
    for start in range(0, config.num_trials, size):
        chunk = trial_keys[start:start + size]  # [size, P]
        if len(chunk) < size:  # keep one compiled shape
            chunk = jnp.concatenate([chunk, trial_keys[: size - len(chunk)]])
        result = agents_base.run_point_trials(make, hypers, bench, chunk, config.budget,
                                              config.mode, report_metric, points_at_once)
        count = min(size, config.num_trials - start)
        chunks.append(jax.tree.map(lambda x: np.asarray(x)[:, :count], result))
        if bar is not None:
            bar.update(count * len(keys))
        interrupts.check()
    merged = jax.tree.map(lambda *x: np.concatenate(x, 1), *chunks)
    return [{"observed": merged.observed[p], "reported": merged.reported[p],
             "valid": merged.valid[p],
             "unique": unique_per_trial(merged.arch_hash[p], merged.valid[p])}
            for p in range(len(keys))]


def unique_per_trial(hashes: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """int32[T]: distinct valid architectures per trial.

    Args:
      hashes: [T, Q, H] the space's (isomorphism-invariant) hash of each query.
      valid: bool[T, Q].
    """
    return np.asarray([len(np.unique(h[v], axis=0)) for h, v in zip(hashes, valid)], np.int32)


def headroom(bench, metric: str) -> dict | None:
    """The benchmark's best error and its top 1% / 0.1% quantiles over every architecture it
    holds (fractions; the mean over repeats or members, of the tables' ``metric``), or None
    for a benchmark without a table."""
    means = getattr(bench, "means", None)
    if means is None:
        return None
    column = 1 if metric.startswith("test") else 0  # TableBenchmark.means: val, test, ...
    error = 1.0 - np.asarray(means)[:, column]
    error = error[np.isfinite(error)]
    if not error.size:
        return None
    return {"num_architectures": int(error.size), "best": float(error.min()),
            **{f"top_{share}%": float(np.quantile(error, float(share) / 100))
               for share in HEADROOM_SHARES}}


HEADROOM_SHARES = ("1", "0.1")  # the top shares of the benchmark the report locates


def sampling_rows(results: dict, curves: dict, window: int, room: dict | None) -> list[dict]:
    """Per algorithm: unique architectures per trial, the mean error of its first and last
    ``window`` queries (what it samples, not its best) and, with the benchmark's headroom,
    the share of trials whose final selection lies in each top share."""
    rows = []
    for name, arrays in results.items():
        error = np.where(arrays["valid"], 1.0 - arrays["reported"], np.nan)
        unique = arrays["unique"]
        row = {"algorithm": name, "unique_mean": float(unique.mean()),
               "unique_std": float(unique.std()), "queries": int(error.shape[1]),
               "window": int(min(window, error.shape[1])),
               "first_mean_error": float(np.nanmean(error[:, :window])),
               "last_mean_error": float(np.nanmean(error[:, -window:]))}
        if room is not None:
            final = curves[name][:, -1]
            for share in HEADROOM_SHARES:
                row[f"trials_in_top_{share}%"] = float((final <= room[f"top_{share}%"]).mean())
        rows.append(row)
    return rows


def sampling_section(rows: list[dict], room: dict | None, bench, metric: str) -> str:
    """Markdown: unique architectures, what each method samples, and the benchmark's headroom
    (why gaps between methods are small)."""
    window = rows[0]["window"]
    lines = [{"Algorithm": row["algorithm"],
              "unique / trial": f"{row['unique_mean']:.1f} ± {row['unique_std']:.1f} "
                                f"(of {row['queries']})",
              f"mean {metric}, first {window} queries":
                  f"{100 * row['first_mean_error']:.2f}%",
              f"mean {metric}, last {window} queries": f"{100 * row['last_mean_error']:.2f}%",
              **{f"trials ending in top {share}%":
                 f"{100 * row[f'trials_in_top_{share}%']:.0f}%"
                 for share in (HEADROOM_SHARES if room is not None else ())}}
             for row in rows]
    text = ("### What the searchers sample\n\n"
            "Unique = distinct architectures queried per trial (by the space's "
            "isomorphism-invariant hash), mean ± std over trials; the mean error of the "
            "queried architectures shows what a method samples, not the best it finds.\n\n"
            f"{report.markdown_table(lines, list(lines[0]))}\n")
    if room is None:
        return text + f"Headroom: {bench.label} has no table of every architecture.\n"
    return text + (
        f"**Headroom.** Over all {room['num_architectures']:,} architectures of "
        f"{bench.label} (mean over repeats or members), the best has {metric} "
        f"{100 * room['best']:.2f}%; the top 1% lie at or below "
        f"{100 * room['top_1%']:.2f}% and the top 0.1% at or below "
        f"{100 * room['top_0.1%']:.2f}%.{_random_search_share(rows)} A method that lowers the "
        "mean error of what it samples (first against last queries above) need not lower the "
        "best it finds by much when random search already reaches the benchmark's top: the "
        "gaps between methods are then small.\n")


def _random_search_share(rows: list[dict]) -> str:
    """A sentence: the share of random-search trials whose final selection is in the top 0.1%
    (empty without a random search among the algorithms)."""
    return "".join(f" {row['algorithm']} ends in the top 0.1% in "
                   f"{100 * row['trials_in_top_0.1%']:.0f}% of its trials."
                   for row in rows if row["algorithm"].startswith("random_search"))



def error_curves(results: dict) -> tuple[dict, dict]:
    """Best-so-far error curves (fractions, 1 - accuracy): reported and observed validation."""
    reported, observed = {}, {}
    for name, arrays in results.items():
        best_val, best_reported = stats.best_so_far(arrays["observed"], arrays["reported"])
        reported[name], observed[name] = 1.0 - best_reported, 1.0 - best_val
    return reported, observed


def final_table(rows: list[dict], budget: int, metric: str) -> str:
    """ReMAADE's Tables 3-6 layout: one line per algorithm, error at the final budget (%)."""
    lines = [{"Algorithm": row["algorithm"],
              f"{metric.capitalize()} (in %)": f"{100 * row['mean']:.2f} +- {100 * row['std']:.2f}",
              "95% CI": f"[{100 * row['ci_low']:.2f}, {100 * row['ci_high']:.2f}]",
              "trials": row["num_trials"]}
             for row in rows if row["budget"] == budget]
    return report.markdown_table(lines, list(lines[0]))


def summarise(results: dict, config, bench, metric: str,
              seconds: dict) -> tuple[dict, str, dict]:
    """Error curves, the summary dict and the Markdown tables."""
    curves, observed = error_curves(results)
    budgets = sorted({b for b in config.budgets if b < config.budget} | {config.budget})
    rows = stats.budget_table(curves, budgets, seed=config.seed)
    final = [row for row in rows if row["budget"] == config.budget]
    room = headroom(bench, metric)
    sampling = sampling_rows(results, curves, config.window, room)
    summary = {
        "benchmark": bench.label,
        "metric": metric,
        "units": "fraction (error = 1 - accuracy); the report shows percent",
        "selection": f"architecture with the best {config.mode} validation accuracy so far",
        "mode": config.mode,
        "algorithms": list(results),
        "num_trials": config.num_trials,
        "budget": config.budget,
        "final": {row["algorithm"]: row for row in final},
        "table": rows,
        "best_observed_validation_error_table": stats.budget_table(observed, budgets,
                                                                   seed=config.seed),
        "seconds": seconds,
        "benchmark_info": bench.metadata,
        "extrapolation": report.extrapolation(bench.metadata, {  # the selected architectures
            name: stats.best_so_far(a["observed"], a["reported"])[1][:, -1]
            for name, a in results.items()}),
        "duplicates": config.duplicates,
        "headroom": room,
        "sampling": {row["algorithm"]: row for row in sampling},
    }
    tables = (f"### {metric.capitalize()} after {config.budget} queries\n\n"
              f"{final_table(rows, config.budget, metric)}\n"
              f"{report.extrapolation_line(summary['extrapolation'])}"
              f"### By number of queries\n\n"
              f"{report.format_budget_table(rows, bench.label, metric)}\n"
              f"{sampling_section(sampling, room, bench, metric)}")
    return curves, tables + _beside_paper(rows, config, bench, metric), summary


def paper_tables(config, bench, metric: str) -> list[literature.PaperTable]:
    """The paper tables this search reproduces: ReMAADE's tables report the final budget, so
    they are matched on it, the benchmark's space, the algorithms and the metric."""
    algorithms = [name.strip() for name in config.algorithms.split(",") if name.strip()]
    return literature.tables_for(bench.space, literature.SEARCH, [config.budget], algorithms,
                                 metric)


def paper_points(config, bench, metric: str) -> list[literature.Point]:
    """The points of :func:`paper_tables` on the best-vs-queries figure."""
    return literature.points(paper_tables(config, bench, metric), config.budget)


def _beside_paper(rows: list[dict], config, bench, metric: str) -> str:
    """The paper's tables beside ours, under their own heading ('' when none is reproduced)."""
    from nasjax import registry

    tables = paper_tables(config, bench, metric)
    if not tables:
        return ""
    ours = report.RunSetting(bench.label,
                             registry.entry("benchmark", bench.name).info.get("description", ""),
                             metric, f"{config.num_trials:,} trials per algorithm")
    return f"\n### Beside the paper\n\n{report.paper_tables(tables, rows, ours)}"


def render_report(config, bench, metric: str, tables: str, algorithms: list[str]) -> str:
    """report.md of a search run: what was selected and reported, then the tables."""
    noisy = ("one noisy draw (a random repeat or ensemble member) per query"
             if config.mode == "noisy" else "the mean over repeats / ensemble members")
    if not bench.has_test:
        shown = (f"the mean validation accuracy of the selected architecture: {bench.name} has "
                 "no test accuracy, so the tables show validation error, not ReMAADE's test "
                 "error")
    elif config.mode == "noisy":
        shown = ("the test accuracy of the same repeat whose noisy validation accuracy was "
                 "selected (ReMAADE §8: \"the corresponding random test error\")")
    else:
        shown = "the mean test accuracy over repeats of the selected architecture"
    return (
        f"# Search on {bench.label}: {', '.join(algorithms)}\n\n"
        f"{report.synthetic_warning(bench.label)}"
        f"Preset `{config.preset}`. {config.num_trials} trials x {config.budget} queries per "
        f"algorithm. Searchers see the validation accuracy of {noisy}. After each query the "
        f"architecture with the best observed validation accuracy so far is selected; the "
        f"tables report its **{metric}** = 100 - accuracy (%), from {shown}. Mean +- std over "
        f"trials and the 95% percentile-bootstrap CI of the mean "
        f"({stats.BUDGET_RESAMPLES:,} resamples).\n\n{tables}\n"
        f"![best vs queries](best_vs_queries.png)\n")


def hyperparameter_section(config, blocks: dict[str, tuple[str, object]],
                           our_choice: dict[str, tuple[str, ...]]) -> str:
    """Markdown: the hyperparameters each algorithm ran with, values the papers do not give
    marked "our choice".

    Args:
      config: the search config (``duplicates``).
      blocks: algorithm -> (its config block's name, the block with its overrides applied);
        algorithms without hyperparameters are left out.
      our_choice: block name -> the fields whose values the papers do not give.
    """
    rule = {"query": "every proposal is a query, as in the papers",
            "resample": "a repeat of an architecture already queried in the trial is redrawn "
                        "(our choice; the papers query it)"}[config.duplicates]
    lines = ["### Hyperparameters\n", f"- every searcher: duplicates = `{config.duplicates}` "
             f"({rule})"]
    for name, (block_name, block) in blocks.items():
        ours = our_choice.get(block_name, ())
        fields = ", ".join(f"{field} = {value!r}" + (" (our choice)" if field in ours else "")
                           for field, value in sorted(block.items()))
        lines.append(f"- {name} (`{block_name}`): {fields}")
    return "\n".join(lines) + "\n"
