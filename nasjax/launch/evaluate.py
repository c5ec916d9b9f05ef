"""Evaluate agents over the incremental MDP with the protocol of Cassimon et al. §4.

  python -m launch.evaluate --config=configs/evaluate.py[:PRESET] --workdir=runs/evaluate
  nasjax evaluate [--config=:PRESET] --workdir=runs/evaluate  # installed

Writes ``config.json``, ``initial_states.npz`` (the fixed sets), ``episodes.npz`` (per agent,
per episode: initial, final and best accuracy, steps, queries, neighbour count of the initial
architecture; streams in (agent seed, set) order), ``curves.npz`` (best-vs-queries trials),
``summary.json`` (per agent: median improvement, symmetric intervals, skew, normality and t
tests, Table 1 rows; neighbour-count correlations), ``improvement_hist.png``,
``initial_vs_improvement.png``, ``best_vs_queries.png``, ``neighbours_vs_accuracy.png`` and
``report.md``.

The ``apex`` agent evaluates complete ``launch.train_apex`` runs only (a run with a ``PARTIAL``
marker is refused unless ``--allow_unfinished_apex``); the report names each run's benchmark,
chunks, environment steps and ``final_params_sha256``.
"""

from __future__ import annotations

import json
import time
from concurrent import futures
from pathlib import Path

import flax.serialization
import jax
import numpy as np
from absl import flags
from tqdm.auto import tqdm

from nasjax import benchmarks, env, paths, registry, spaces
from nasjax.evaluation import protocol
from nasjax.evaluation import report as report_lib
from nasjax.launch import common

_CONFIG = common.define_config("evaluate", "Evaluation config.")
_RUN = common.define_run_dir("evaluate")
# Host bytes per episode, a bound: its records (10 fields, at most 8 bytes each, twice while the
# streams merge), its initial state and its share of the best-vs-queries curves.
BYTES_PER_EPISODE = 256
_ALLOW_UNFINISHED_APEX = flags.DEFINE_bool(
    "allow_unfinished_apex", False, "Evaluate apex_checkpoints runs that are not complete (a "
    "PARTIAL marker: still training, stopped or failed) at their newest checkpoint.")


def check_apex_runs(dirs: list[str], allow_unfinished: bool) -> None:
    """Refuses an unfinished Ape-X training run (one with a ``PARTIAL`` marker).

    Raises:
      common.ConfigError: one line naming the run and the flag that allows it.
    """
    for run in dirs:
        marker = Path(run) / report_lib.RunDir.MARKER
        if marker.is_file() and not allow_unfinished:
            status = (marker.read_text().splitlines() or ["unfinished"])[0]
            raise common.ConfigError(
                f"--config.apex_checkpoints: {run} is an unfinished Ape-X training run "
                f"({marker.name}: {status}); finish it with python -m nasjax.launch.train_apex, or "
                "pass --allow_unfinished_apex to evaluate its newest checkpoint")


def apex_provenance(dirs: list[str], policies: list, benchmark: str) -> list[dict]:
    """What each evaluated Ape-X policy was trained as: run, benchmark, chunks, environment
    steps, whether the run is complete, and the digest of the parameters evaluated."""
    from nasjax.agents.apex import checkpoint
    from nasjax.evaluation import apex_training as apex_report

    found = []
    for seed, (run, policy) in enumerate(zip(dirs, policies)):
        run = Path(run).parent if Path(run).name == "checkpoints" else Path(run)
        trained = json.loads((run / "config.json").read_text())["benchmark"]
        store = checkpoint.Checkpointer(run / "checkpoints", read_only=True)
        chunks = store.latest()
        store.close()
        metrics = run / "metrics.csv"
        rows = apex_report.read_csv(metrics) if metrics.is_file() else []
        steps = [row["env_steps"] for row in rows if row["chunk"] == chunks]
        found.append({"seed": seed, "run": str(run), "benchmark": trained,
                      "evaluated_on": benchmark, "chunks": chunks,
                      "env_steps": int(steps[-1]) if steps else None,
                      "complete": not (run / report_lib.RunDir.MARKER).exists(),
                      "final_params_sha256": checkpoint.params_sha256(policy.params)})
    return found


def render_apex_provenance(runs: list[dict]) -> str:
    """The report section naming each Ape-X checkpoint evaluated."""
    lines = ["## Ape-X checkpoints", "",
             "| seed | run | trained on | chunks | environment steps | complete | "
             "final_params_sha256 |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for run in runs:
        trained = run["benchmark"] + ("" if run["benchmark"] == run["evaluated_on"]
                                      else f" (evaluated on {run['evaluated_on']})")
        steps = "N/A" if run["env_steps"] is None else f"{run['env_steps']:,}"
        lines.append(f"| {run['seed']} | `{run['run']}` | {trained} | {run['chunks']} | "
                     f"{steps} | {'yes' if run['complete'] else '**no (PARTIAL)**'} | "
                     f"`{run['final_params_sha256']}` |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    config = _CONFIG.value  # checked against configs/evaluate.py RULES
    names = [a.strip() for a in config.agents.split(",") if a.strip()]
    agents = {name: registry.make("agent", name) for name in names}
    common.check_budgets(config.budgets, config.max_queries, "config.max_queries")
    episodes = config.agent_seeds * config.num_sets * config.episodes_per_set * len(agents)
    common.check_memory(BYTES_PER_EPISODE * episodes,
                        f"{episodes:,} episodes ({config.agent_seeds} seeds x {config.num_sets} "
                        f"sets x {config.episodes_per_set:,} episodes x {len(agents)} agents)",
                        "config.episodes_per_set, config.num_sets or config.agent_seeds")
    data_dir = paths.usable_dir(paths.data_dir(config.data_dir or None))
    apex_dirs = []
    if "apex" in agents:
        from nasjax.agents.apex import policy as apex_policy

        apex_dirs = [] if config.apex_checkpoints == apex_policy.UNTRAINED else (
            apex_policy.run_dirs(config.apex_checkpoints))
        check_apex_runs(apex_dirs, _ALLOW_UNFINISHED_APEX.value)
    with common.missing_data():
        bench = benchmarks.load(config.benchmark, data_dir)
        space = spaces.get(bench.space, config.env.neighbourhood, data_dir)
    with common.config_errors():  # before the run directory: a bad value leaves no file
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
    apex_runs = apex_provenance(apex_dirs, policies.get("apex", []), config.benchmark)
    for run in apex_runs:
        print(f"apex seed {run['seed']}: {run['run']} (trained on {run['benchmark']}, "
              f"{run['chunks']} chunks, {run['env_steps']} environment steps"
              f"{'' if run['complete'] else ', UNFINISHED'}; final_params_sha256 "
              f"{run['final_params_sha256']})")
    with _RUN.open() as run_dir:
        run_dir.write_config(config.to_dict())
        metric = "test accuracy" if params.report_metric == "test" else "validation accuracy"
        print(f"benchmark: {bench.label}; reporting {metric}; "
              f"neighbours: {config.env.neighbourhood}")
        # One thread compiles the t tests' program while the episodes are set up and run, then
        # runs the tests (JAX, both cores) while this one computes the bootstraps of the figures
        # and the table (numpy, one core): the same numbers, in less time.
        counts = {name: len(seeds) * config.num_sets * config.episodes_per_set
                  for name, seeds in policies.items()}  # each agent's episodes
        with futures.ThreadPoolExecutor(1) as pool:
            pool.submit(protocol.compile_improvements, counts, config)
            sets = protocol.initial_sets(space, config)
            run_dir.save_arrays("initial_states", **{
                f"set{s}/{field}": np.asarray(value) for s, archs in enumerate(sets)
                for field, value in flax.serialization.to_state_dict(archs).items()})
            results, seconds = {}, {}
            with tqdm(total=sum(counts.values()), desc="episodes", unit="ep") as bar:
                for name, seeds in policies.items():
                    start = time.perf_counter()
                    results[name] = protocol.evaluate_agent(seeds, params, sets, config, bar)
                    seconds[name] = time.perf_counter() - start
            per_step = {name: seeds[0].queries is not None for name, seeds in policies.items()}
            improvements = pool.submit(protocol.improvements, results, config)
            archs = protocol.uniform_architectures(space, bench, config.correlation_samples,
                                                   jax.random.key(config.seed), data_dir)
            uniform = protocol.neighbour_counts(params, archs)
            curves = protocol.agent_curves(results, per_step, config)
            run_dir.save_arrays("episodes", **{
                f"{agent}/{field}": protocol.flat(streams, field)
                for agent, streams in results.items() for field in protocol.EPISODE_FIELDS})
            run_dir.save_arrays("curves", **curves)
            protocol.write_figures(results, curves, run_dir.figure_path, bench.label, metric,
                                   uniform, protocol.paper_points(config, metric))
            rows = protocol.budget_rows(curves, config)
            summary = protocol.summarise(results, curves, rows, improvements.result(), seconds,
                                         config, bench.label, metric, uniform)
        summary["extrapolation"] = report_lib.extrapolation(
            bench.metadata, {agent: protocol.flat(s, "best_val") for agent, s in results.items()})
        if apex_runs:
            summary["apex_checkpoints"] = apex_runs
        text = common.without_missing_figures(protocol.render_report(summary, config),
                                              run_dir.staging)
        if apex_runs:
            text += "\n" + render_apex_provenance(apex_runs)
        run_dir.write_report(text)
        run_dir.write_summary(summary)
    print(text)
    print(f"run directory: {run_dir.path}")


if __name__ == "__main__":
    common.run_main(main, _CONFIG)
