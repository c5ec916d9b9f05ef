"""Host-side outputs of an Ape-X training run: metrics rows, the training curve, the report."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from nasjax import sweep
from nasjax.config_rules import ConfigError
from nasjax.evaluation import plots
from nasjax.evaluation import report as report_lib

COLUMNS = ("chunk", "env_steps", "episodes", "final_val_acc", "loss", "mean_q",
           "env_steps_per_s", "trained_samples", "learner_steps", "seconds")
UNLEARNED_FIELDS = ("data_dir",)  # config fields that do not change what a run learns
SMOOTHING = 10  # moving-average window of the curve (Cassimon et al. Figs. 17-19 use N = 10)


def metrics_row(chunk: int, metrics: Mapping, seconds: float, env_steps: int) -> dict:
    """One row of ``metrics.csv`` from a chunk's metrics (NaN becomes None)."""
    row = {"chunk": chunk, "seconds": round(seconds, 4),
           "env_steps_per_s": env_steps / seconds if seconds > 0 else None}
    for name in COLUMNS:
        if name in metrics:
            value = float(np.asarray(metrics[name]))
            row[name] = (int(value) if name in ("env_steps", "episodes", "trained_samples",
                                                "learner_steps") else value)
    return {name: (None if isinstance(value, float) and not math.isfinite(value) else value)
            for name, value in row.items()}


def write_csv(rows: Sequence[Mapping], path: str | Path) -> None:
    """Writes the rows as CSV (empty cells for missing values), atomically."""
    from nasjax.paths import atomic_write

    with atomic_write(path, "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({name: "" if row.get(name) is None else row[name]
                             for name in COLUMNS})


def read_csv(path: str | Path) -> list[dict]:
    """The rows of a ``metrics.csv`` that :func:`write_csv` wrote (empty cells become None).

    Raises:
      ValueError: one line naming the file when it lacks the columns of :data:`COLUMNS`.
    """
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [name for name in COLUMNS if name not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path} is not an Ape-X metrics file (no column "
                             f"{', '.join(missing)})")
        return [{name: None if row[name] == "" else float(row[name]) for name in COLUMNS}
                for row in reader]


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over up to ``window`` finite values (NaN ignored)."""
    out = np.full(len(values), np.nan)
    for i in range(len(values)):
        part = values[max(0, i - window + 1):i + 1]
        part = part[np.isfinite(part)]
        if part.size:
            out[i] = part.mean()
    return out


def training_curve(rows: Sequence[Mapping], path: str | Path, benchmark: str) -> Path:
    """Mean final validation accuracy of training episodes vs environment steps (the quantity
    of Cassimon et al. Figs. 17-19), raw and smoothed."""
    steps, acc = accuracy_percent(rows)
    fig = plots.figure(6.0, 4.0)
    ax = fig.subplots()
    ax.plot(steps, acc, color="0.7", lw=0.8, label="per chunk")
    ax.plot(steps, moving_average(acc, SMOOTHING), color="C0", lw=1.6,
            label=f"moving average ({SMOOTHING} chunks)")
    return _save_accuracy_figure(fig, ax, f"Ape-X training episodes, {benchmark}", path)


def accuracy_percent(rows: Sequence[Mapping]) -> tuple[np.ndarray, np.ndarray]:
    """``(env_steps, mean final validation accuracy in %)`` per chunk (NaN where a chunk
    finished no episode)."""
    steps = np.array([row["env_steps"] for row in rows], float)
    acc = np.array([np.nan if row.get("final_val_acc") is None else 100 * row["final_val_acc"]
                    for row in rows])
    return steps, acc


def comparison_curves(runs: Mapping[str, Sequence[Mapping]], path: str | Path,
                      title: str) -> Path:
    """The training curves of several runs in one figure, as Cassimon et al. Figs. 17-19
    compare the ablations: mean final validation accuracy of training episodes vs
    environment steps, a moving average of :data:`SMOOTHING` chunks per run.

    Args:
      runs: label -> the run's metrics rows.
      path: the PNG to write.
      title: the figure's title (the benchmark, what varies).
    """
    fig = plots.figure(6.0, 4.0)
    ax = fig.subplots()
    for label, rows in runs.items():
        steps, acc = accuracy_percent(rows)
        ax.plot(steps, moving_average(acc, SMOOTHING), lw=1.6, label=label)
    return _save_accuracy_figure(fig, ax, f"{title}; moving average of {SMOOTHING} chunks",
                                 path)


def _save_accuracy_figure(fig, ax, title: str, path: str | Path) -> Path:
    """Labels the accuracy-vs-steps axes, writes the figure as PNG and returns its path."""
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean final validation accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return plots.save(fig, path)


def run_labels(configs: Sequence[Mapping], names: Sequence[str]) -> list[str]:
    """One label per run: ``field=value`` of the fields in which the configs differ (the
    preset's name only when nothing else differs; a field some configs lack differs only
    where the others disagree), else the run's directory name."""
    flat = [sweep.flat(config) for config in configs]
    fields = sorted({key for config in flat for key in config} - set(UNLEARNED_FIELDS))
    # A field some runs lack (written by an older nasjax) differs only if the runs that have
    # it disagree.
    differ = [key for key in fields
              if len({json.dumps(c[key]) for c in flat if key in c}) > 1]
    if len(differ) > 1 and "preset" in differ:
        differ.remove("preset")
    if not differ:
        return list(names)
    return [", ".join(f"{key}={config.get(key)}" for key in differ) for config in flat]




def render(config: Mapping, summary: Mapping, rows: Sequence[Mapping]) -> str:
    """``report.md`` of a training run."""
    label = summary["benchmark"]
    last = rows[-10:]
    lines = [report_lib.synthetic_warning(label) + f"# Ape-X training: preset `{config['preset']}`",
             "",
             f"Benchmark: {label}. Seed {config['seed']}; {summary['env_steps']:,} environment "
             f"steps, {summary['episodes']:,} episodes, {summary['trained_samples']:,} trained "
             f"samples in {summary['chunks']} chunks.",
             "",
             f"- final parameters sha256: `{summary['final_params_sha256']}`",
             f"- mean final validation accuracy of the last chunks' training episodes: "
             f"{_percent(summary['final_val_acc_last'])}",
             f"- throughput: {_rate(summary['env_steps_per_s'])} env steps/s with learning "
             "(median over chunks that did not compile)",
             f"- resumed from checkpoints: {summary['resumed_at_chunks'] or 'no'}",
             "",
             "![training curve](training_curve.png)",
             "",
             "## Last chunks",
             "",
             report_lib.markdown_table(last, COLUMNS, {
                 "final_val_acc": _percent, "loss": "{:.4g}", "mean_q": "{:.4g}",
                 "env_steps_per_s": "{:.1f}", "seconds": "{:.2f}"})]
    return "\n".join(lines)


def _rate(value) -> str:
    return "N/A (every chunk compiled)" if value is None else f"{value:.1f}"


def _percent(value) -> str:
    return "N/A" if value is None else f"{100 * value:.2f}%"


def load_run(path: str | Path, flag: str = "--runs") -> tuple[dict, dict, list[dict]]:
    """``(config, summary, metrics rows)`` of a complete ``launch.train_apex`` run.

    Args:
      path: the run directory.
      flag: the command-line flag that named it, for the message.

    Raises:
      ConfigError: one line when ``path`` is not a complete Ape-X training run (a file
        missing, or a ``PARTIAL`` marker: still running, stopped or failed).
    """
    run = Path(path)
    marker = run / report_lib.RunDir.MARKER
    if marker.is_file():
        status = marker.read_text().splitlines()[0] if marker.stat().st_size else "unfinished"
        raise ConfigError(
            f"{flag}: {run} is not a complete Ape-X training run ({marker.name}: {status}); "
            "finish it with python -m nasjax.launch.train_apex")
    files = [run / name for name in ("config.json", "summary.json", "metrics.csv")]
    missing = [file.name for file in files if not file.is_file()]
    if missing:
        raise ConfigError(
            f"{flag}: {run} is not a complete Ape-X training run (no {', '.join(missing)}); "
            "train or finish it with python -m nasjax.launch.train_apex")
    try:
        config, summary = (json.loads(file.read_text()) for file in files[:2])
        rows = read_csv(files[2])
    except (ValueError, KeyError) as error:
        raise ConfigError(f"{flag}: {run}: {error}") from None
    return config, summary, rows


def compare_runs(names: Sequence[str], flag: str = "--runs") -> tuple[str, list[dict], dict]:
    """Complete training runs compared as Figs. 17-19 compare the ablations.

    Args:
      names: the run directories, all trained on one benchmark.
      flag: the command-line flag that named them, for messages.

    Returns:
      ``(benchmark, one row per run, label -> metrics rows)``: each run labelled by the config
      fields in which the runs differ (:func:`run_labels`), with its last and best smoothed
      accuracy and its final parameters' digest.

    Raises:
      ConfigError: one line when a run is not complete, the runs were trained on different
        benchmarks, a run finished no training episode or is named twice.
    """
    loaded = [load_run(name, flag) for name in names]
    benchmarks = sorted({summary["benchmark"] for _, summary, _ in loaded})
    if len(benchmarks) > 1:
        raise ConfigError(f"{flag} were trained on different benchmarks "
                          f"({', '.join(benchmarks)}); compare runs of one benchmark")
    runs, curves = [], {}
    labels = run_labels([config for config, _, _ in loaded], names)
    for name, label, (_, summary, rows) in zip(names, labels, loaded):
        _, acc = accuracy_percent(rows)
        smoothed = moving_average(acc, SMOOTHING)
        if not np.isfinite(smoothed).any():
            raise ConfigError(f"{flag}: {name} finished no training episode")
        curves[label] = rows
        runs.append({"run": str(name), "label": label, "env_steps": int(rows[-1]["env_steps"]),
                     "last_val_acc": float(smoothed[np.isfinite(smoothed)][-1]),
                     "best_val_acc": float(np.nanmax(smoothed)),
                     "final_params_sha256": summary.get("final_params_sha256")})
    if len(set(curves)) < len(names):
        raise ConfigError(f"{flag} names a run twice")
    return benchmarks[0], runs, curves


def render_comparison(runs: Sequence[Mapping], benchmark: str) -> str:
    """The report of compared runs (:func:`compare_runs`): the figure and one row per run."""
    lines = [f"# Ape-X training runs compared on {benchmark}", "",
             "Mean final validation accuracy of training episodes, moving average of "
             f"{SMOOTHING} chunks (Cassimon et al. Figs. 17-19).", "",
             "![training curves](training_curves.png)", "",
             "| run | label | environment steps | last (smoothed) | best (smoothed) |",
             "| --- | --- | --- | --- | --- |"]
    for run in runs:
        lines.append(f"| `{run['run']}` | {run['label']} | {run['env_steps']:,} | "
                     f"{run['last_val_acc']:.2f}% | {run['best_val_acc']:.2f}% |")
    return "\n".join(lines) + "\n"
