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

``--sweep`` (:mod:`launch.sweep`): points that differ only in ``seed`` or a searcher's traced
hyperparameters (ReMAADE's ``learning_rate`` and ``ema_decay``) run in one compiled program per
algorithm, each point's numbers bit-identical to its single run's; an algorithm that no swept
field touches (random search in a learning-rate sweep) runs once for all of them.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from tqdm.auto import tqdm

from nasjax import benchmarks, paths, registry, spaces
from nasjax.configs import agents as agent_configs
from nasjax.evaluation import plots, search
from nasjax.launch import common, multihost, sweep

_CONFIG = common.define_config("search", "Search config.")
_RUN = common.define_run_dir("search")
# Host bytes per trial, query and algorithm: the records (9), their merge of chunks (9), then
# the float64 best-so-far curves and their bootstrap bands (62 measured for the records, the
# summary and the figure; 20,000 trials x 150 queries x 2 algorithms).
BYTES_PER_QUERY = 80


def main(argv):
    del argv
    config = _CONFIG.value  # checked against configs/search.py RULES
    names, agents, space, searchers = _searchers(config)
    bench = _benchmark(config)
    with _RUN.open() as run_dir:
        run_dir.write_config(config.to_dict())
        print(f"benchmark: {bench.label} (space {space.name}; reporting {_metric(bench)})")
        key = jax.random.key(config.seed)
        results, seconds = {}, {}
        for index, (name, searcher) in enumerate(searchers.items()):
            start = time.perf_counter()
            with tqdm(total=config.num_trials, desc=name, unit="trial") as bar:
                results[name] = search.run_algorithm(searcher, config, bench,
                                                     jax.random.fold_in(key, index),
                                                     _report_metric(bench), bar)
            seconds[name] = time.perf_counter() - start  # compile included
            _save(run_dir, results)
        tables = _finish(run_dir, config, names, agents, bench, results, seconds)
    print(tables)
    print(f"run directory: {run_dir.path}")


def _searchers(config) -> tuple[list[str], dict, Any, dict]:
    """The algorithms' names, agents, space and searchers, every check of a run's config done.

    Raises:
      ConfigError: one line, before any file.
    """
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
    return names, agents, space, searchers


def _benchmark(config):
    """The config's benchmark (one line, before any file, when it is not converted yet)."""
    data_dir = paths.usable_dir(paths.data_dir(config.data_dir or None))
    with common.missing_data():
        return benchmarks.load(config.benchmark, data_dir)


def _report_metric(bench) -> str:
    return "test" if bench.has_test else "val"


def _metric(bench) -> str:
    return "test error" if bench.has_test else "validation error"


def _save(run_dir, results: dict) -> None:
    """``results.npz``: every algorithm's arrays so far."""
    run_dir.save_arrays("results", **{f"{alg}/{field}": value for alg, arrays in results.items()
                                      for field, value in arrays.items()})


def _finish(run_dir, config, names: list[str], agents: dict, bench, results: dict,
            seconds: dict) -> str:
    """The summary, figure and report of a run whose results are in; returns the tables."""
    metric = _metric(bench)
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
    return tables


def together_fields() -> tuple[str, ...]:
    """Config fields sweep points may differ in and still run in one program: ``seed`` and
    every registered searcher's traced hyperparameters (``Agent.traced``, e.g.
    ``remaade.learning_rate`` and ``remaade.ema_decay``)."""
    fields = {"seed"}
    for name in registry.names("agent"):
        entry = registry.entry("agent", name)
        if entry.info.get("type") in ("searcher", "both") and entry.info.get("config"):
            block = entry.info["config"][0]
            fields.update(f"{block}.{field}" for field in registry.make("agent", name).traced)
    return tuple(sorted(fields))


def points_at_once(count: int) -> int:
    """How many sweep points run vmapped together: all on an accelerator; on CPU one after
    another inside the one compiled program, since the trials of one point already fill the
    cores and ReMAADE's sampling loop (``lax.while_loop``) under ``vmap`` runs every point
    for as many rounds as the slowest needs (``sweep_search``: 3 learning rates took 0.76x
    the time of the points in turn vmapped)."""
    return 1 if jax.default_backend() == "cpu" else count


def run_together(configs: list, workdirs: list[Path], overwrite: bool) -> bool:
    """Runs sweep points that differ only in :func:`together_fields` as one compiled program
    per algorithm (:func:`nasjax.evaluation.search.run_points`; an algorithm that no swept
    field touches runs once, its trials shared by the points), each point into its own run
    directory with a single run's files and numbers.

    Returns:
      False, having touched nothing, over several processes (the caller then runs the
      points one after another).

    Raises:
      ConfigError, report_lib.RunDirError: one line, as a single run, before any file.
    """
    if multihost.settings().enabled:
        return False
    config = configs[0]
    names, agents, space, searchers = _searchers(config)
    for point in configs[1:]:
        _searchers(point)  # every point's checks before any file
    common.check_memory(BYTES_PER_QUERY * config.num_trials * config.budget * len(names)
                        * len(configs), f"{len(configs)} points x {config.num_trials:,} trials "
                        f"x {config.budget:,} queries x {len(names)} algorithms",
                        "config.num_trials or config.budget")
    bench = _benchmark(config)
    at_once = points_at_once(len(configs))
    with contextlib.ExitStack() as stack:
        run_dirs = []
        for point, workdir in zip(configs, workdirs):
            run_dir = common.LockedRunDir(workdir, overwrite=sweep.restart(workdir, overwrite))
            run_dirs.append(stack.enter_context(run_dir))
            run_dir.write_config(point.to_dict())
        how = "vmapped" if at_once > 1 else "one after another inside it"
        print(f"benchmark: {bench.label} (space {space.name}; reporting {_metric(bench)}); "
              f"{len(configs)} points run in one program per algorithm ({how})")
        results = [{} for _ in configs]
        seconds = [{} for _ in configs]
        for index, name in enumerate(names):
            agent = agents[name]
            blocks = [agent.block(point) for point in configs]
            keys = [jax.random.fold_in(jax.random.key(point.seed), index) for point in configs]
            shared = ({repr(block) for block in blocks} == {repr(blocks[0])}
                      and len({point.seed for point in configs}) == 1)
            start = time.perf_counter()
            with tqdm(total=config.num_trials * (1 if shared else len(configs)), desc=name,
                      unit="trial") as bar:
                if shared:  # no swept field touches this algorithm: its single run, shared
                    found = [search.run_algorithm(searchers[name], config, bench, keys[0],
                                                  _report_metric(bench), bar)] * len(configs)
                else:
                    found = search.run_points(_maker(agent, space, blocks, config),
                                              _hypers(agent, blocks), config, bench, keys,
                                              _report_metric(bench), at_once, bar)
            took = time.perf_counter() - start  # all points, compile included
            for point, arrays in enumerate(found):
                results[point][name] = arrays
                seconds[point][name] = took
                _save(run_dirs[point], results[point])
        for point, run_dir in enumerate(run_dirs):
            _finish(run_dir, configs[point], names, agents, bench, results[point],
                    seconds[point])
    for run_dir in run_dirs:
        print(f"run directory: {run_dir.path}")
    return True


def _hypers(agent, blocks: list) -> dict:
    """``{name: float32[P]}``: the points' traced hyperparameters ({} when their blocks agree:
    the points differ in their seeds alone)."""
    if {repr(block) for block in blocks} == {repr(blocks[0])}:
        return {}
    return jax.tree.map(lambda *values: jnp.stack(values),
                        *[agent.hyperparams(block) for block in blocks])


def _maker(agent, space, blocks: list, config):
    """``make(hyper) -> Searcher``: the points' searcher, its traced fields from ``hyper``."""
    fixed = agent.make_searcher(space, blocks[0], duplicates=config.duplicates,
                                budget=config.budget)

    def make(hyper):
        if not hyper:
            return fixed
        return agent.make_searcher(space, blocks[0], duplicates=config.duplicates,
                                   budget=config.budget, hyper=hyper)

    return make


if __name__ == "__main__":
    common.run_main(main, _CONFIG, sweep.Together(together_fields(), run_together))
