"""Run query-budget search trials on a benchmark and write a run directory.

  python -m launch.search --config=configs/search.py[:PRESET] --workdir=runs/search
  nasjax search [--config=:PRESET] --workdir=runs/search  # installed, from any directory

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

import jax
from tqdm.auto import tqdm

from nasjax import benchmarks, paths, registry, spaces
from nasjax.configs import agents as agent_configs
from nasjax.evaluation import plots, search
from nasjax.launch import common

_CONFIG = common.define_config("search", "Search config.")
_RUN = common.define_run_dir("search")
# Host bytes per trial, query and algorithm: the records (9), their merge of chunks (9), then
# the float64 best-so-far curves and their bootstrap bands (62 measured for the records, the
# summary and the figure; 20,000 trials x 150 queries x 2 algorithms).
BYTES_PER_QUERY = 80


def main(argv):
    del argv
    config = _CONFIG.value  # checked against configs/search.py RULES
    names = [name.strip() for name in config.algorithms.split(",") if name.strip()]
    common.check_budgets(config.budgets, config.budget, "config.budget")
    common.check_memory(BYTES_PER_QUERY * config.num_trials * config.budget * len(names),
                        f"{config.num_trials:,} trials x {config.budget:,} queries x "
                        f"{len(names)} algorithms", "config.num_trials or config.budget")
    agents = {name: registry.make("agent", name) for name in names}
    space = spaces.get(registry.entry("benchmark", config.benchmark).info["space"])
    with common.config_errors():  # hyperparameters the rules cannot check alone
        searchers = {name: agent.make_searcher(space, agent.block(config),
                                               duplicates=config.duplicates, budget=config.budget)
                     for name, agent in agents.items()}
    data_dir = paths.usable_dir(paths.data_dir(config.data_dir or None))
    with common.missing_data():  # before the run directory: an unconverted benchmark
        bench = benchmarks.load(config.benchmark, data_dir)
    with _RUN.open() as run_dir:
        run_dir.write_config(config.to_dict())
        report_metric = "test" if bench.has_test else "val"
        metric = "test error" if bench.has_test else "validation error"
        print(f"benchmark: {bench.label} (space {space.name}; reporting {metric})")
        key = jax.random.key(config.seed)
        results, seconds = {}, {}
        for index, (name, searcher) in enumerate(searchers.items()):
            start = time.perf_counter()
            with tqdm(total=config.num_trials, desc=name, unit="trial") as bar:
                results[name] = search.run_algorithm(searcher, config, bench,
                                                     jax.random.fold_in(key, index),
                                                     report_metric, bar)
            seconds[name] = time.perf_counter() - start  # compile included
            run_dir.save_arrays("results", **{
                f"{alg}/{field}": value for alg, arrays in results.items()
                for field, value in arrays.items()})
        curves, tables, summary = search.summarise(results, config, bench, metric, seconds)
        plots.best_vs_queries(curves, run_dir.figure_path("best_vs_queries.png"), bench.label,
                              ylabel=f"Best-so-far {metric} (%)", seed=config.seed,
                              references=search.paper_points(config, bench, metric))
        blocks = {name: (agent.config, agent.block(config)) for name, agent in agents.items()
                  if agent.config is not None}
        hyperparameters = search.hyperparameter_section(config, blocks, agent_configs.our_choice())
        run_dir.write_report(search.render_report(config, bench, metric,
                                                  tables + "\n" + hyperparameters, names))
        run_dir.write_summary(summary)
    print(tables)
    print(f"run directory: {run_dir.path}")


if __name__ == "__main__":
    common.run_main(main, _CONFIG)
