"""Run query-budget search trials on a benchmark and write a run directory.

  python -m launch.search --config=configs/search.py[:PRESET] --workdir=runs/search

Every algorithm of the preset runs ``num_trials`` trials of ``budget`` queries (in jitted
chunks of trials, so long budgets stay small in memory). Writes, side by side for all
algorithms: ``config.json``; ``results.npz`` (per algorithm what the searcher saw
``<alg>/observed``, the reported accuracy of every query ``<alg>/reported`` and whether it was
valid); ``summary.json`` (per algorithm and budget the error of the architecture with the best
observed validation accuracy so far: mean, std and 95% bootstrap CI over trials);
``best_vs_queries.png``; ``report.md``.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
from absl import app, flags
from ml_collections import config_flags
from tqdm.auto import tqdm

from nasjax import benchmarks, registry, spaces
from nasjax.evaluation import plots, report, search

_CONFIG = config_flags.DEFINE_config_file("config", "configs/search.py", "Search config.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (default runs/search-<time>).")


def main(argv):
    del argv
    config = _CONFIG.value
    workdir = Path(_WORKDIR.value or f"runs/search-{time.strftime('%Y%m%d-%H%M%S')}")
    names = [name.strip() for name in config.algorithms.split(",") if name.strip()]
    agents = {name: registry.make("agent", name) for name in names}  # fail fast on names
    space_name = registry.entry("benchmark", config.benchmark).info["space"]
    space = spaces.get(space_name)
    searchers = {name: agent.make_searcher(space, agent.block(config))
                 for name, agent in agents.items()}
    run_dir = report.RunDir(workdir)
    run_dir.write_config(config.to_dict())
    bench = benchmarks.load(config.benchmark, config.data_dir or None)
    report_metric = "test" if bench.has_test else "val"
    metric = "test error" if bench.has_test else "validation error"
    print(f"benchmark: {bench.label} (space {space.name}; reporting {metric})")
    key = jax.random.key(config.seed)
    results, seconds = {}, {}
    for index, (name, searcher) in enumerate(searchers.items()):
        start = time.perf_counter()
        with tqdm(total=config.num_trials, desc=name, unit="trial") as bar:
            results[name] = search.run_algorithm(searcher, config, bench,
                                                 jax.random.fold_in(key, index), report_metric,
                                                 bar)
        seconds[name] = time.perf_counter() - start  # compile included
        run_dir.save_arrays("results", **{f"{alg}/{field}": value for alg, arrays in results.items()
                                          for field, value in arrays.items()})
    curves, tables, summary = search.summarise(results, config, bench, metric, seconds)
    run_dir.write_summary(summary)
    plots.best_vs_queries(curves, workdir / "best_vs_queries.png", bench.label,
                          ylabel=f"Best-so-far {metric} (%)", seed=config.seed)
    run_dir.write_report(search.render_report(config, bench, metric, tables, names))
    print(tables)
    print(f"run directory: {workdir}")


if __name__ == "__main__":
    app.run(main)
