"""Evaluate agents over the incremental MDP with the protocol of seed 000 (section 4).

  python -m launch.evaluate --config=configs/evaluate.py --workdir=runs/evaluate

Writes ``config.json``, ``initial_states.npz`` (the fixed sets), ``episodes.npz`` (per
agent, per episode: initial, final and best accuracy, steps, queries, neighbour count of
the initial cell; streams in (agent seed, set) order), ``curves.npz`` (best-vs-queries
trials), ``summary.json`` (per agent: median improvement, symmetric intervals, skew,
normality and t tests, Table 1 rows; neighbour-count correlations),
``improvement_hist.png``, ``initial_vs_improvement.png``, ``best_vs_queries.png``,
``neighbours_vs_accuracy.png`` and ``report.md``.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np
from absl import app, flags
from ml_collections import config_flags
from tqdm.auto import tqdm

from nasjax import benchmarks, env
from nasjax.evaluation import episodes as episodes_lib
from nasjax.evaluation import plots, query_curves, report, stats
from nasjax.spaces import nb101, neighbour_table

_CONFIG = config_flags.DEFINE_config_file("config", "configs/evaluate.py", "Evaluation config.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (default runs/evaluate-<time>).")

PER_STEP_QUERIES = {"local_search"}  # agents whose every presented neighbour is a query
EPISODE_FIELDS = ("initial", "final", "best", "initial_val", "final_val", "best_val", "steps",
                  "queries", "num_neighbours")


def initial_sets(config) -> list[nb101.Cell]:
    """The fixed sets of initial states: set s from key ``set_seed + s``."""
    return [nb101.sample(jax.random.key(config.set_seed + s), (config.episodes_per_set,))
            for s in range(config.num_sets)]


def evaluate_agent(agent: str, params: env.EnvParams, sets, config, bar) -> list:
    """Episodes of every (agent seed, set) stream of one agent, as numpy EpisodeStats."""
    streams = []
    size = min(config.episodes_per_chunk, config.episodes_per_set)
    for seed in range(config.agent_seeds):
        for index, cells in enumerate(sets):
            key = jax.random.fold_in(jax.random.key(seed), index)
            chunks = []
            for start in range(0, config.episodes_per_set, size):
                rows = np.arange(start, start + size) % config.episodes_per_set
                stats_chunk = episodes_lib.run_episodes(agent, params, cells[rows],
                                                        jax.random.fold_in(key, start))
                count = min(size, config.episodes_per_set - start)
                chunks.append(jax.tree.map(lambda x: np.asarray(x)[:count], stats_chunk))
                bar.update(count)
            streams.append(jax.tree.map(lambda *x: np.concatenate(x), *chunks))
    return streams


def main(argv):
    del argv
    config = _CONFIG.value
    workdir = Path(_WORKDIR.value or f"runs/evaluate-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir = report.RunDir(workdir)
    run_dir.write_config(config.to_dict())
    data_dir = config.data_dir or None
    bench = benchmarks.load(config.benchmark, data_dir)
    if bench.size < nb101.NUM_CELLS:
        raise app.UsageError(f"{bench.name} covers {bench.size:,} of {nb101.NUM_CELLS:,} cells; "
                             "episodes move anywhere, so evaluate on a full-space benchmark")
    if config.neighbour_mode not in ("table", "on_the_fly"):
        raise app.UsageError(f"neighbour_mode must be 'table' or 'on_the_fly', "
                             f"got {config.neighbour_mode!r}")
    table = neighbour_table.load(data_dir) if config.neighbour_mode == "table" else None
    params = env.make_params(bench, table, max_neighbours=config.max_neighbours,
                             alpha=config.alpha, episode_length=config.episode_length,
                             query_mode=config.query_mode)
    metric = "test accuracy" if params.report == "test" else "validation accuracy"
    label = bench.label
    print(f"benchmark: {label}; reporting {metric}; neighbours: {config.neighbour_mode}")
    sets = initial_sets(config)
    run_dir.save_arrays("initial_states", **{
        f"set{s}/adj_packed": np.asarray(nb101.pack_adjacency(cells.adj)) for s, cells in enumerate(sets)},
        **{f"set{s}/ops": np.asarray(cells.ops) for s, cells in enumerate(sets)})
    agents = [a.strip() for a in config.agents.split(",") if a.strip()]
    total = len(agents) * config.agent_seeds * config.num_sets * config.episodes_per_set
    results, seconds = {}, {}
    with tqdm(total=total, desc="episodes", unit="ep") as bar:
        for agent in agents:
            start = time.perf_counter()
            results[agent] = evaluate_agent(agent, params, sets, config, bar)
            seconds[agent] = time.perf_counter() - start
    summary, curves = summarise(results, seconds, config, label, metric)
    run_dir.save_arrays("episodes", **{
        f"{agent}/{field}": _flat(streams, field)
        for agent, streams in results.items() for field in EPISODE_FIELDS})
    run_dir.save_arrays("curves", **curves)
    run_dir.write_summary(summary)
    write_figures(results, curves, workdir, label, metric, config)
    run_dir.write_report(render_report(summary, config))
    print(render_report(summary, config))
    print(f"run directory: {workdir}")


def _flat(streams, field):
    return np.concatenate([np.asarray(getattr(s, field)) for s in streams])


def _initial_cells_once(results, config):
    """The streams of the first agent's first seed: every initial state exactly once."""
    return next(iter(results.values()))[:config.num_sets]


def summarise(results, seconds, config, bench_name, metric) -> tuple[dict, dict]:
    """Per agent: improvement statistics, Table-1 rows, timings; plus the neighbour correlation.

    Returns ``(summary, curves)``: the JSON summary and each agent's best-so-far
    curves ``float[trials, max_queries]``.
    """
    curves = {agent: query_curves.agent_curves(streams, agent in PER_STEP_QUERIES,
                                               config.max_queries)
              for agent, streams in results.items()}
    rows = stats.budget_table(curves, [b for b in config.budgets if b <= config.max_queries],
                              seed=config.seed)
    agents = {}
    for agent, streams in results.items():
        improvement = stats.improvement_stats(
            _flat(streams, "initial"), _flat(streams, "final"), seed=config.seed,
            gof_max_samples=config.gof_max_samples, gof_mc_samples=config.gof_mc_samples)
        agents[agent] = {
            "episodes": int(len(_flat(streams, "final"))),
            "seconds": seconds[agent],
            "mean_steps": float(_flat(streams, "steps").mean()),
            "mean_queries": float(_flat(streams, "queries").mean()),
            "improvement": improvement,
            "trials": int(len(curves[agent])),
        }
    once = _initial_cells_once(results, config)
    correlation = stats.correlations(_flat(once, "num_neighbours"), _flat(once, "initial"))
    summary = {"benchmark": bench_name, "metric": metric, "agents": agents, "table": rows,
               "neighbours_vs_accuracy": correlation,
               "curves_mean": {agent: np.nanmean(curve, 0) for agent, curve in curves.items()}}
    return summary, curves


def write_figures(results, curves, workdir, bench_name, metric, config) -> None:
    """The four figures of seed 000's section 4."""
    improvement = {a: _flat(s, "final") - _flat(s, "initial") for a, s in results.items()}
    initial = {a: _flat(s, "initial") for a, s in results.items()}
    plots.improvement_hist(improvement, workdir / "improvement_hist.png", bench_name)
    plots.initial_vs_improvement(initial, improvement, workdir / "initial_vs_improvement.png",
                                 bench_name)
    plots.best_vs_queries(curves, workdir / "best_vs_queries.png", bench_name,
                          ylabel=f"Best {metric} found (%)")
    once = _initial_cells_once(results, config)
    plots.neighbours_vs_accuracy(_flat(once, "num_neighbours"), _flat(once, "initial"),
                                 workdir / "neighbours_vs_accuracy.png", bench_name,
                                 ylabel=f"{metric.capitalize()} (%)")


def render_report(summary, config) -> str:
    """report.md: the improvement table, Table 1, the correlation, the figures."""
    rows = []
    for agent, info in summary["agents"].items():
        imp = info["improvement"]
        low, high = imp["intervals"][0.95]
        rows.append({"agent": agent, "episodes": info["episodes"],
                     "median": 100 * imp["median"], "interval": (100 * low, 100 * high),
                     "improved": 100 * imp["frac_improved"], "skew": imp["skew"],
                     "normaltest": imp["normaltest_pvalue"], "t_gof": imp["t_gof_pvalue"],
                     "steps": info["mean_steps"], "queries": info["mean_queries"],
                     "seconds": info["seconds"]})
    improvement_table = report.markdown_table(
        rows, ["agent", "episodes", "median", "interval", "improved", "skew", "normaltest",
               "t_gof", "steps", "queries", "seconds"],
        {"median": "{:+.2f} pp", "interval": lambda v: f"[{v[0]:+.2f}, {v[1]:+.2f}] pp",
         "improved": "{:.1f}%", "skew": "{:.3f}", "normaltest": "{:.3g}", "t_gof": "{:.3g}",
         "steps": "{:.2f}", "queries": "{:.1f}", "seconds": "{:.1f}"})
    corr = summary["neighbours_vs_accuracy"]
    warning = report.synthetic_warning(summary["benchmark"])
    return (
        f"# Evaluation on {summary['benchmark']}\n\n{warning}"
        f"{config.agent_seeds} agent seeds x {config.num_sets} sets x {config.episodes_per_set} "
        f"initial states, episodes of up to {config.episode_length} steps, N = "
        f"{config.max_neighbours} neighbours, reward shaping alpha = {config.alpha}; "
        f"accuracies are {summary['metric']} ({config.query_mode} of the recorded values).\n\n"
        f"## Improvement over an episode (final - initial)\n\n"
        f"Median, the 95% interval around it, share of improved episodes, skewness, the p-values "
        f"of `scipy.stats.normaltest` and of `goodness_of_fit` against a Student t "
        f"(seed Fig. 8); mean steps and queries per episode.\n\n{improvement_table}\n\n"
        f"![improvement histogram](improvement_hist.png)\n\n"
        f"![initial vs improvement](initial_vs_improvement.png)\n\n"
        f"## Best accuracy vs queries\n\n"
        f"{report.format_budget_table(summary['table'], summary['benchmark'], summary['metric'])}\n\n"
        f"![best vs queries](best_vs_queries.png)\n\n"
        f"## Neighbours vs accuracy\n\nOver the {corr['n']:,} initial states: "
        f"Pearson r = {corr['pearson_r']:.3f}, Kendall tau = {corr['kendall_tau']:.3f}.\n\n"
        f"![neighbours vs accuracy](neighbours_vs_accuracy.png)\n")


if __name__ == "__main__":
    app.run(main)
