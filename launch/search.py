"""Run query-budget search trials on a benchmark and write a run directory.

  python -m launch.search --config=configs/search.py --workdir=runs/search

Writes ``config.json``, ``results.npz`` (per algorithm: what the searcher saw and the
reported accuracy of every query), ``summary.json`` (per algorithm and budget: mean,
std and 95% bootstrap CI over trials of the best found so far), ``best_vs_queries.png``
and ``report.md``.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
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


def run_algorithm(name: str, config, bench, key) -> dict[str, np.ndarray]:
    """All trials of one algorithm, in jitted chunks with a progress bar."""
    searcher = make_searcher(name, config)
    report_metric = "test" if bench.has_test else "val"
    chunks = []
    keys = jax.random.split(key, config.num_trials)
    size = min(config.trials_per_chunk, config.num_trials)
    with tqdm(total=config.num_trials, desc=name, unit="trial") as bar:
        for start in range(0, config.num_trials, size):
            chunk = keys[start:start + size]
            if len(chunk) < size:  # keep one compiled shape
                chunk = np.concatenate([chunk, keys[: size - len(chunk)]])
            result = agents_base._trials(searcher, config.budget, config.mode, report_metric,
                                         bench, chunk)
            count = min(size, config.num_trials - start)
            chunks.append(jax.tree.map(lambda x: np.asarray(x)[:count], result))
            bar.update(count)
    merged = jax.tree.map(lambda *x: np.concatenate(x), *chunks)
    return {"observed": merged.observed, "reported": merged.reported, "valid": merged.valid}


def summarise(results: dict, config, bench_name: str, metric: str) -> tuple[dict, list, dict]:
    """Best-so-far curves, the budget table, and the summary dict."""
    best_val, best_reported = {}, {}
    for name, arrays in results.items():
        best_val[name], best_reported[name] = stats.best_so_far(arrays["observed"], arrays["reported"])
    budgets = [b for b in config.budgets if b <= config.budget]
    rows = stats.budget_table(best_reported, budgets, seed=config.seed)
    val_rows = stats.budget_table(best_val, budgets, seed=config.seed)
    summary = {
        "benchmark": bench_name,
        "metric": metric,
        "selection": f"best {config.mode} validation accuracy found so far",
        "num_trials": config.num_trials,
        "budget": config.budget,
        "table": rows,
        "best_validation_table": val_rows,
    }
    return best_reported, rows, summary


def main(argv):
    del argv
    config = _CONFIG.value
    workdir = Path(_WORKDIR.value or f"runs/search-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir = report.RunDir(workdir)
    run_dir.write_config(config.to_dict())
    bench = benchmarks.load(config.benchmark, config.data_dir or None)
    metric = "test accuracy" if bench.has_test else "validation accuracy"
    print(f"benchmark: {bench.name} ({bench.size:,} cells; reporting {metric})")
    algorithms = [name.strip() for name in config.algorithms.split(",") if name.strip()]
    key = jax.random.key(config.seed)
    results = {}
    for index, name in enumerate(algorithms):
        results[name] = run_algorithm(name, config, bench, jax.random.fold_in(key, index))
        run_dir.save_arrays("results", **{f"{alg}/{field}": value for alg, arrays in results.items()
                                          for field, value in arrays.items()})
    curves, rows, summary = summarise(results, config, bench.name, metric)
    summary["benchmark_info"] = bench.metadata
    run_dir.write_summary(summary)
    plots.best_vs_queries(curves, workdir / "best_vs_queries.png", bench.name,
                          ylabel=f"Best {metric} found (%)")
    table = report.format_budget_table(rows, bench.name, metric)
    run_dir.write_report(
        f"# Search on {bench.name}\n\n"
        f"{config.num_trials} trials x {config.budget} queries per algorithm; searchers see "
        f"{config.mode} validation accuracy; the table reports the {metric} of the cell with the "
        f"best validation accuracy found so far.\n\n{table}\n\n![best vs queries](best_vs_queries.png)\n")
    print(table)
    print(f"run directory: {workdir}")


if __name__ == "__main__":
    app.run(main)
