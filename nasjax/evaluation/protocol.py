"""The evaluation protocol of Cassimon et al. §4 over the incremental MDP, for any space.

Every agent runs from the same fixed sets of initial architectures (§4.1.1: 5 sets of 10^4,
one stream per agent seed and set); :func:`evaluate_agent` runs the streams in jitted chunks,
:func:`improvements` (Fig. 8), :func:`agent_curves`, :func:`budget_rows` and :func:`summarise`
turn them into the improvement statistics, the best-vs-queries table (Table 1, Fig. 10) and the
neighbour-count correlation (Fig. 11); :func:`write_figures` and :func:`render_report` write
what a person reads.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.agents.base import Policy
from nasjax.evaluation import episodes as episodes_lib
from nasjax.evaluation import interrupts, literature, plots, query_curves, report, stats

EPISODE_FIELDS = ("initial", "final", "best", "initial_val", "final_val", "best_val", "steps",
                  "queries", "num_neighbours")


def initial_sets(space, config) -> list[Any]:
    """The fixed sets of initial architectures: set s from PRNG key ``set_seed + s``."""
    return [space.sample(jax.random.key(config.set_seed + s), (config.episodes_per_set,))
            for s in range(config.num_sets)]


def uniform_architectures(space, bench, count: int, key: jax.Array, data_dir=None):
    """``count`` architectures drawn uniformly (without replacement) from the benchmark's
    architectures, for Fig. 11 over the data set as Cassimon et al. plot it.

    A space registered with an ``enumerate`` function (NAS-Bench-101: all 423,624 cells) is
    drawn from its enumeration, keeping the architectures the benchmark has; a space without
    one (NAS-Bench-301: ~10^18 genotypes, a surrogate) from its sampler, which is uniform.
    """
    from nasjax import registry

    enumerate_fn = registry.entry("space", space.name).info.get("enumerate")
    if enumerate_fn is None:
        return space.sample(key, (count,))
    everything = registry.resolve(enumerate_fn)(data_dir, progress=False)
    present = np.flatnonzero(np.asarray(jax.jit(lambda b, a: b.query(a).valid)(bench,
                                                                               everything)))
    chosen = np.sort(np.asarray(jax.random.choice(key, present, (min(count, len(present)),),
                                                  replace=False)))
    return jax.tree.map(lambda x: x[chosen], everything)


def neighbour_counts(env_params, archs) -> tuple[np.ndarray, np.ndarray]:
    """``(int[K] neighbour count, float[K] reported accuracy)`` of architectures (Fig. 11).

    Both as the environment has them at a state (``EnvState.num_neighbours`` and
    ``report_acc``): the count its neighbourhood gives with a presentation, the accuracy from its
    oracle. One small program (a look-up), where the space's ``num_neighbours`` would generate
    every neighbour.
    """
    counts, accuracy = _counts(env_params, archs)
    return np.asarray(counts), np.asarray(accuracy)


@jax.jit
def _counts(env_params, archs):
    def one(arch):
        neighbourhood = env_params.neighbourhood
        node = neighbourhood.locate(arch)
        count = neighbourhood.present(jnp.uint32(0), node, env_params.max_neighbours)[2]
        metrics = env_params.oracle.metrics(node)
        return count, metrics.test_acc if env_params.report_metric == "test" else metrics.val_acc

    return jax.vmap(one)(archs)


def _correlation(x, y) -> dict:
    found = stats.correlations(x, y)
    return {"pearson": found["pearson_r"], "kendall": found["kendall_tau"],
            "pearson_pvalue": found["pearson_pvalue"], "kendall_pvalue": found["kendall_pvalue"],
            "n": found["n"]}


def evaluate_agent(policies: list[Policy], env_params, sets: list, config, bar=None) -> list:
    """Episodes of every (agent seed, set) stream of one agent, as numpy EpisodeStats.

    Args:
      policies: the agent's episodic policy of each agent seed (PRNG key ``seed``).
      env_params: the environment.
      sets: the initial architectures, one batch per set.
      config: ``episodes_per_set`` and ``episodes_per_chunk``.
      bar: an optional progress bar, advanced by episodes.
    """
    streams = []
    size = min(config.episodes_per_chunk, config.episodes_per_set)
    for seed, policy in enumerate(policies):
        for index, archs in enumerate(sets):
            key = jax.random.fold_in(jax.random.key(seed), index)
            chunks = []
            for start in range(0, config.episodes_per_set, size):
                rows = np.arange(start, start + size) % config.episodes_per_set
                chunk = jax.tree.map(lambda x: x[rows], archs)
                out = episodes_lib.run_episodes(policy, env_params, chunk,
                                                jax.random.fold_in(key, start))
                count = min(size, config.episodes_per_set - start)
                chunks.append(jax.tree.map(lambda x: np.asarray(x)[:count], out))
                if bar is not None:
                    bar.update(count)
                interrupts.check()  # a stop asked for during the chunk takes effect here
            streams.append(jax.tree.map(lambda *x: np.concatenate(x), *chunks))
    return streams


def flat(streams: list, field: str) -> np.ndarray:
    """One field of every episode of an agent's streams, concatenated."""
    return np.concatenate([np.asarray(getattr(s, field)) for s in streams])


def _initial_once(results: dict, config) -> list:
    """The streams of the first agent's first seed: every initial state exactly once."""
    return next(iter(results.values()))[:config.num_sets]


def compile_improvements(episodes: dict, config) -> None:
    """Compiles the t tests :func:`improvements` will run for agents with these numbers of
    episodes (agent -> count), ahead of it (:func:`stats.compile_improvement_tests`)."""
    stats.compile_improvement_tests(episodes, config.gof_max_samples, config.gof_mc_samples)


def agent_curves(results: dict, per_step: dict, config) -> dict:
    """Each agent's best-so-far curves ``float[trials, max_queries]`` (Table 1, Fig. 10).

    Args:
      results: agent -> its streams (:func:`evaluate_agent`).
      per_step: agent -> whether it spends queries at every step (local search).
      config: the evaluation config.
    """
    return {agent: query_curves.agent_curves(streams, per_step[agent], config.max_queries)
            for agent, streams in results.items()}


def improvements(results: dict, config) -> dict:
    """Each agent's improvement statistics (Fig. 8, :func:`stats.improvement_stats_all`):
    every agent's t test in one jitted call, which keeps both cores busy for seconds, so that
    a caller may run it beside the numpy work of the table and the figures."""
    return stats.improvement_stats_all(
        {agent: (flat(streams, "initial"), flat(streams, "final"))
         for agent, streams in results.items()},
        seed=config.seed, gof_max_samples=config.gof_max_samples,
        gof_mc_samples=config.gof_mc_samples)


def budget_rows(curves: dict, config) -> list[dict]:
    """Table 1's rows (:func:`stats.budget_table`) of the agents with a complete trial, at the
    config's budgets up to ``max_queries``; ``curves`` are :func:`agent_curves`."""
    complete = _with_trials(curves)
    return stats.budget_table(complete, [b for b in config.budgets if b <= config.max_queries],
                              seed=config.seed) if complete else []


def summarise(results: dict, curves: dict, rows: list[dict], improvement: dict, seconds: dict,
              config, label: str, metric: str, uniform: tuple[np.ndarray, np.ndarray]) -> dict:
    """The run's JSON summary. Per agent: improvement statistics, Table-1 rows, timings; plus
    the neighbour-count correlations (Fig. 11) over uniform architectures of the benchmark and
    over the initial states.

    Args:
      results: agent -> its streams (:func:`evaluate_agent`).
      curves: :func:`agent_curves` of ``results``.
      rows: :func:`budget_rows` of ``curves``.
      improvement: :func:`improvements` of ``results``.
      seconds: agent -> wall-clock seconds.
      config: the evaluation config.
      label: the benchmark's label; metric: the reported accuracy's name.
      uniform: :func:`neighbour_counts` of :func:`uniform_architectures`.
    """
    complete = _with_trials(curves)
    agents = {}
    for agent, streams in results.items():
        agents[agent] = {
            "episodes": int(len(flat(streams, "final"))),
            "seconds": seconds[agent],
            "mean_steps": float(flat(streams, "steps").mean()),
            "mean_queries": float(flat(streams, "queries").mean()),
            "improvement": improvement[agent],
            "trials": int(len(curves[agent])),
        }
    once = _initial_once(results, config)
    correlation = {"uniform": _correlation(*uniform),
                   "initial": _correlation(flat(once, "num_neighbours"), flat(once, "initial"))}
    return {"benchmark": label, "metric": metric, "agents": agents, "table": rows,
            "neighbour_correlation": correlation,
            "curves_mean": {agent: np.nanmean(curve, 0) for agent, curve in complete.items()}}


def _with_trials(curves: dict) -> dict:
    """The agents' curves that hold at least one complete trial of ``max_queries`` queries (an
    agent spending one query an episode needs that many episodes per stream)."""
    return {agent: curve for agent, curve in curves.items() if len(curve)}


def write_figures(results: dict, curves: dict, figure_path, label: str, metric: str,
                  uniform: tuple[np.ndarray, np.ndarray], references=()) -> None:
    """The four figures of Cassimon et al. §4 (Figs. 7, 8, 10, 11; Fig. 11 over uniform
    architectures of the benchmark); ``figure_path(name)`` says where each goes
    (``RunDir.figure_path``); ``references`` are the papers' points of Fig. 10
    (:func:`paper_points`)."""
    improvement = {a: flat(s, "final") - flat(s, "initial") for a, s in results.items()}
    initial = {a: flat(s, "initial") for a, s in results.items()}
    plots.improvement_hist(improvement, figure_path("improvement_hist.png"), label)
    plots.initial_vs_improvement(initial, improvement, figure_path("initial_vs_improvement.png"),
                                 label)
    if _with_trials(curves):
        plots.best_vs_queries(_with_trials(curves), figure_path("best_vs_queries.png"), label,
                              ylabel=f"Best {metric} found (%)", references=references)
    plots.neighbours_vs_accuracy(*uniform, figure_path("neighbours_vs_accuracy.png"), label,
                                 ylabel=f"{metric.capitalize()} (%)")


def _budget_text(summary: dict, config) -> str:
    """The best-vs-queries table, naming the agents without a complete trial."""
    missing = [a for a, info in summary["agents"].items() if not info["trials"]]
    note = (f"No complete trial of {config.max_queries} queries for {', '.join(missing)}: run "
            f"more episodes per set.\n\n" if missing else "")
    if not summary["table"]:
        return note.strip()
    return note + report.format_budget_table(summary["table"], summary["benchmark"],
                                             summary["metric"])


def _correlation_text(uniform: dict, initial: dict, paper: str) -> str:
    """Fig. 11's correlations, or why they are undefined (a constant neighbour count); ``paper``
    is the paper's beside ours ('' where it reports none)."""
    if not np.isfinite([uniform["pearson"], initial["pearson"]]).any():
        return ("Undefined: every architecture of this space has the same number of neighbours "
                "(a constant has no correlation), so Fig. 11 does not apply.")
    return (f"Over {uniform['n']:,} architectures drawn uniformly from the benchmark (the figure): "
            f"Pearson r = {uniform['pearson']:.3f}, Kendall tau = {uniform['kendall']:.3f}. Over "
            f"the {initial['n']:,} initial states (the sampler's): Pearson r = "
            f"{initial['pearson']:.3f}, Kendall tau = {initial['kendall']:.3f}."
            + (f"\n\n{paper}" if paper else ""))


def paper_tables(config, metric: str) -> list[literature.PaperTable]:
    """The paper tables this evaluation reproduces, from its benchmark's space, its budgets,
    agents and metric (:func:`literature.tables_for`)."""
    agents = [name.strip() for name in config.agents.split(",") if name.strip()]
    budgets = [b for b in config.budgets if b <= config.max_queries]
    return literature.tables_for(_space(config), literature.EPISODES, budgets, agents, metric)


def paper_points(config, metric: str) -> list[literature.Point]:
    """The points of :func:`paper_tables` on the best-vs-queries figure."""
    return literature.points(paper_tables(config, metric), config.max_queries)


def _space(config) -> str:
    """The search space of the config's benchmark (from the registry; nothing is loaded)."""
    from nasjax import registry

    return registry.entry("benchmark", config.benchmark).info["space"]


def _setting(summary: dict, config, trials: str) -> report.RunSetting:
    """The run's side of the setting line: its benchmark, the registry's description of it,
    its metric and ``trials``."""
    from nasjax import registry

    info = registry.entry("benchmark", config.benchmark).info
    return report.RunSetting(summary["benchmark"], info.get("description", ""),
                             summary["metric"], trials)


def _beside_paper(summary: dict, config) -> tuple[str, str, str]:
    """The paper's numbers beside ours: Fig. 8 (Figs. 12-13), Table 1 (2) and Fig. 11; '' for
    each the run does not reproduce."""
    agents = summary["agents"]
    episodes = report.trials_text([info["episodes"] for info in agents.values()], "episodes")
    figure = literature.improvement_for(_space(config))
    if figure is not None and not any(figure.agent(name) for name in agents):
        figure = None  # the paper has none of these agents
    improvement = "" if figure is None else report.improvement_beside_paper(
        figure, {a: info["improvement"] for a, info in agents.items()},
        _setting(summary, config, f"{episodes} per agent"))
    counts = [int(row["num_trials"]) for row in summary["table"]]
    tables = "" if not counts else report.paper_tables(
        paper_tables(config, summary["metric"]), summary["table"],
        _setting(summary, config, f"{report.trials_text(counts)} of {config.max_queries} "
                                  f"queries per agent (cut from {episodes} each)"))
    paper = literature.correlation_for(_space(config))
    uniform = summary["neighbour_correlation"]["uniform"]
    correlation = "" if paper is None or not np.isfinite(uniform["pearson"]) else (
        report.correlation_beside_paper(
            paper, uniform["pearson"], uniform["kendall"],
            _setting(summary, config, f"{uniform['n']:,} architectures drawn uniformly")))
    return improvement, tables, correlation


def render_report(summary: dict, config) -> str:
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
    uniform, initial = (summary["neighbour_correlation"][k] for k in ("uniform", "initial"))
    paper_improvement, paper_table, paper_correlation = _beside_paper(summary, config)
    paper_improvement += "\n\n" * bool(paper_improvement)
    paper_table += "\n" * bool(paper_table)
    warning = report.synthetic_warning(summary["benchmark"])
    env = config.env
    return (
        f"# Evaluation on {summary['benchmark']}\n\n{warning}"
        f"{config.agent_seeds} agent seeds x {config.num_sets} sets x {config.episodes_per_set} "
        f"initial states, episodes of up to {env.eval_episode_length} steps, N = "
        f"{env.max_neighbours} neighbours, reward shaping alpha = {env.alpha}; "
        f"accuracies are {summary['metric']} ({env.query_mode} of the recorded values).\n\n"
        f"## Improvement over an episode (final - initial)\n\n"
        f"Median, the 95% interval around it, share of improved episodes, skewness, the p-values "
        f"of `scipy.stats.normaltest` and of `goodness_of_fit` against a Student t "
        f"(Cassimon et al. Fig. 8); mean steps and queries per episode.\n\n{improvement_table}\n\n"
        f"{paper_improvement}"
        f"![improvement histogram](improvement_hist.png)\n\n"
        f"![initial vs improvement](initial_vs_improvement.png)\n\n"
        f"## Best accuracy vs queries\n\n"
        f"{_budget_text(summary, config)}\n\n"
        f"{paper_table}"
        f"{report.extrapolation_line(summary.get('extrapolation', {}))}"
        f"![best vs queries](best_vs_queries.png)\n\n"
        f"## Neighbours vs accuracy (Fig. 11)\n\n"
        f"{_correlation_text(uniform, initial, paper_correlation)}\n\n"
        f"![neighbours vs accuracy](neighbours_vs_accuracy.png)\n")
