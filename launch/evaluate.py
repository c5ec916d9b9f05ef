"""Evaluate agents over the incremental MDP with the protocol of Cassimon et al. §4.

  python -m launch.evaluate --config=configs/evaluate.py[:PRESET] --workdir=runs/evaluate

Writes ``config.json``, ``initial_states.npz`` (the fixed sets), ``episodes.npz`` (per agent,
per episode: initial, final and best accuracy, steps, queries, neighbour count of the initial
architecture; streams in (agent seed, set) order), ``curves.npz`` (best-vs-queries trials),
``summary.json`` (per agent: median improvement, symmetric intervals, skew, normality and t
tests, Table 1 rows; neighbour-count correlations), ``improvement_hist.png``,
``initial_vs_improvement.png``, ``best_vs_queries.png``, ``neighbours_vs_accuracy.png`` and
``report.md``.
"""

from __future__ import annotations

import time

import flax.serialization
import jax
import numpy as np
from tqdm.auto import tqdm

from launch import common
from nasjax import benchmarks, env, paths, registry, spaces
from nasjax.evaluation import protocol, report

_CONFIG = common.define_config("evaluate", "Evaluation config.")
_RUN = common.define_run_dir("evaluate")


def main(argv):
    del argv
    config = _CONFIG.value  # checked against configs/evaluate.py RULES
    names = [a.strip() for a in config.agents.split(",") if a.strip()]
    agents = {name: registry.make("agent", name) for name in names}
    data_dir = paths.writable_dir(paths.data_dir(config.data_dir or None))
    with _RUN.open() as run_dir:
        run_dir.write_config(config.to_dict())
        bench = benchmarks.load(config.benchmark, data_dir)
        space = spaces.get(bench.space, config.env.neighbourhood, data_dir)
        with common.config_errors():
            params = env.make_params(space, bench, max_neighbours=config.env.max_neighbours,
                                     alpha=config.env.alpha,
                                     episode_length=config.env.eval_episode_length,
                                     query_mode=config.env.query_mode)
            policies = {}
            for name, agent in agents.items():
                block = agent.block(config)
                seeds = (agent.seeds(block) if agent.seeds else None) or config.agent_seeds
                policies[name] = [agent.make_policy(params, block, seed=seed)
                                  for seed in range(seeds)]
        metric = "test accuracy" if params.report == "test" else "validation accuracy"
        print(f"benchmark: {bench.label}; reporting {metric}; "
              f"neighbours: {config.env.neighbourhood}")
        sets = protocol.initial_sets(space, config)
        run_dir.save_arrays("initial_states", **{
            f"set{s}/{field}": np.asarray(value) for s, archs in enumerate(sets)
            for field, value in flax.serialization.to_state_dict(archs).items()})
        total = sum(map(len, policies.values())) * config.num_sets * config.episodes_per_set
        results, seconds = {}, {}
        with tqdm(total=total, desc="episodes", unit="ep") as bar:
            for name, seeds in policies.items():
                start = time.perf_counter()
                results[name] = protocol.evaluate_agent(seeds, params, sets, config, bar)
                seconds[name] = time.perf_counter() - start
        per_step = {name: seeds[0].queries is not None for name, seeds in policies.items()}
        archs = protocol.uniform_architectures(space, bench, config.correlation_samples,
                                               jax.random.key(config.seed), data_dir)
        uniform = protocol.neighbour_counts(space, bench, archs, params.report)
        summary, curves = protocol.summarise(results, per_step, seconds, config, bench.label,
                                             metric, uniform)
        summary["extrapolation"] = report.extrapolation(
            bench.metadata, {agent: protocol.flat(s, "best_val") for agent, s in results.items()})
        run_dir.save_arrays("episodes", **{
            f"{agent}/{field}": protocol.flat(streams, field)
            for agent, streams in results.items() for field in protocol.EPISODE_FIELDS})
        run_dir.save_arrays("curves", **curves)
        protocol.write_figures(results, curves, run_dir.figure_path, bench.label, metric,
                               uniform, protocol.paper_points(config, metric))
        text = protocol.render_report(summary, config)
        run_dir.write_report(text)
        run_dir.write_summary(summary)
    print(text)
    print(f"run directory: {run_dir.path}")


if __name__ == "__main__":
    common.run_main(main, _CONFIG)
