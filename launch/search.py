"""Run query-budget search trials on a benchmark and write a run directory.

  python -m launch.search --config=configs/search.py[:PRESET] --workdir=runs/search

Every algorithm of the preset runs ``num_trials`` trials of ``budget`` queries (in jitted
chunks of trials, so long budgets stay small in memory). Writes, side by side for all
algorithms:

- ``config.json``;
- ``results.npz``: per algorithm, what the searcher saw (``<alg>/observed``), the reported
  accuracy of every queried cell (``<alg>/reported``) and whether it was in the table;
- ``summary.json``: per algorithm and budget, the error (100 - accuracy, in %) of the cell with
  the best observed validation accuracy so far: mean, std and 95% bootstrap CI over trials
  (5,000 resamples), at the final budget (``final``) and at ``config.budgets`` (``table``);
- ``best_vs_queries.png``: best-so-far error vs queries with 95% CI bands;
- ``report.md``: both tables, naming the benchmark and the metric.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from ml_collections import config_flags
from tqdm.auto import tqdm

from nasjax import benchmarks
from nasjax.agents import base as agents_base
from nasjax.agents.registry import make_searcher
from nasjax.evaluation import plots, report, stats

_CONFIG = config_flags.DEFINE_config_file("config", "configs/search.py", "Search config.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (default runs/search-<time>).")


def run_algorithm(searcher: agents_base.Searcher, config, bench, key,
                  report_metric: str) -> dict[str, np.ndarray]:
    """All trials of one algorithm, in jitted chunks of trials with a progress bar.

    Returns:
      ``observed``, ``reported`` (float32[T, budget]) and ``valid`` (bool[T, budget]).
    """
    chunks = []
    keys = jax.random.split(key, config.num_trials)
    size = min(config.trials_per_chunk, config.num_trials)
    with tqdm(total=config.num_trials, desc=searcher.name, unit="trial") as bar:
        for start in range(0, config.num_trials, size):
            chunk = keys[start:start + size]
            if len(chunk) < size:  # keep one compiled shape
                chunk = jnp.concatenate([chunk, keys[: size - len(chunk)]])
            result = agents_base._trials(searcher, config.budget, config.mode, report_metric,
                                         bench, chunk)
            count = min(size, config.num_trials - start)
            chunks.append(jax.tree.map(lambda x: np.asarray(x)[:count], result))
            bar.update(count)
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
    """The seed's Tables 3-6 layout: one line per algorithm, error at the final budget (%)."""
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
        "selection": f"cell with the best {config.mode} validation accuracy observed so far",
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
    }
    tables = (f"### {metric.capitalize()} after {config.budget} queries\n\n"
              f"{final_table(rows, config.budget, metric)}\n"
              f"### By number of queries\n\n"
              f"{report.format_budget_table(rows, bench.label, metric)}")
    return curves, tables, summary


def main(argv):
    del argv
    config = _CONFIG.value
    workdir = Path(_WORKDIR.value or f"runs/search-{time.strftime('%Y%m%d-%H%M%S')}")
    algorithms = [name.strip() for name in config.algorithms.split(",") if name.strip()]
    searchers = {name: make_searcher(name, config) for name in algorithms}  # fail fast on names
    run_dir = report.RunDir(workdir)
    run_dir.write_config(config.to_dict())
    bench = benchmarks.load(config.benchmark, config.data_dir or None)
    report_metric = "test" if bench.has_test else "val"
    metric = "test error" if bench.has_test else "validation error"
    print(f"benchmark: {bench.label} ({bench.size:,} cells; reporting {metric})")
    key = jax.random.key(config.seed)
    results, seconds = {}, {}
    for index, (name, searcher) in enumerate(searchers.items()):
        start = time.perf_counter()
        results[name] = run_algorithm(searcher, config, bench, jax.random.fold_in(key, index),
                                      report_metric)
        seconds[name] = time.perf_counter() - start  # compile included
        run_dir.save_arrays("results", **{f"{alg}/{field}": value for alg, arrays in results.items()
                                          for field, value in arrays.items()})
    curves, tables, summary = summarise(results, config, bench, metric, seconds)
    run_dir.write_summary(summary)
    label = bench.label
    plots.best_vs_queries(curves, workdir / "best_vs_queries.png", label,
                          ylabel=f"Best-so-far {metric} (%)", seed=config.seed)
    noisy = ("one noisy draw (a random repeat or ensemble member) per query"
             if config.mode == "noisy" else "the mean over repeats / ensemble members")
    test_note = ("the mean test accuracy over repeats of the selected cell (seed 004 reports "
                 "one random repeat: the same expectation, a little less spread)"
                 if bench.has_test else
                 f"the mean validation accuracy of the selected cell: {bench.name} has no test "
                 "accuracy, so the tables show validation error, not the seed's test error")
    warning = report.synthetic_warning(label)
    run_dir.write_report(
        f"# Search on {label}: {', '.join(algorithms)}\n\n{warning}"
        f"Preset `{config.preset}`. {config.num_trials} trials x {config.budget} queries per "
        f"algorithm. Searchers see the validation accuracy of {noisy}. After each query the "
        f"cell with the best observed validation accuracy so far is selected; the tables report "
        f"its **{metric}** = 100 - accuracy (%), from {test_note}. Mean +- std over trials and "
        f"the 95% percentile-bootstrap CI of the mean ({stats.BUDGET_RESAMPLES:,} resamples)."
        f"\n\n{tables}\n![best vs queries](best_vs_queries.png)\n")
    print(tables)
    print(f"run directory: {workdir}")


if __name__ == "__main__":
    app.run(main)
