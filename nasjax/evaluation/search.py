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
      ``observed``, ``reported`` (float32[T, budget]) and ``valid`` (bool[T, budget]).
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
    return {"observed": merged.observed, "reported": merged.reported, "valid": merged.valid}


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
    }
    tables = (f"### {metric.capitalize()} after {config.budget} queries\n\n"
              f"{final_table(rows, config.budget, metric)}\n"
              f"{report.extrapolation_line(summary['extrapolation'])}"
              f"### By number of queries\n\n"
              f"{report.format_budget_table(rows, bench.label, metric)}")
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
