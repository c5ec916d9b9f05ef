"""Compare Ape-X training runs in one figure, as Cassimon et al. Figs. 17-19 compare ablations.

  python -m launch.compare_apex --runs=runs/apex,runs/apex-g95,runs/apex-g99 --workdir=runs/fig17
  nasjax compare_apex --runs=... --workdir=...  # installed

Each run is a complete ``launch.train_apex`` workdir (it holds ``summary.json``), all on the
same benchmark. A run is labelled by the config fields in which the runs differ (e.g.
``gamma=0.95``; the preset's name only when nothing else differs). Writes
``training_curves.png`` (mean final validation accuracy of training episodes vs environment
steps, a moving average of 10 chunks as in the paper's figures), ``summary.json`` (per run: the
label, the last and best smoothed accuracy, the final parameters' digest) and ``report.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from absl import flags

from nasjax.evaluation import apex_training as apex_report
from nasjax.evaluation import report as report_lib
from nasjax.launch import common

_RUNS = flags.DEFINE_list("runs", None, "Comma-separated launch.train_apex workdirs.")
_RUN = common.define_run_dir("compare_apex")


def load_run(path: str) -> tuple[dict, dict, list[dict]]:
    """``(config, summary, metrics rows)`` of a complete training run.

    Raises:
      common.ConfigError: one line when ``path`` is not a complete Ape-X training run (a file
        missing, or a ``PARTIAL`` marker: still running, stopped or failed).
    """
    run = Path(path)
    marker = run / report_lib.RunDir.MARKER
    if marker.is_file():
        status = marker.read_text().splitlines()[0] if marker.stat().st_size else "unfinished"
        raise common.ConfigError(
            f"--runs: {run} is not a complete Ape-X training run ({marker.name}: {status}); "
            "finish it with python -m nasjax.launch.train_apex")
    files = [run / name for name in ("config.json", "summary.json", "metrics.csv")]
    missing = [file.name for file in files if not file.is_file()]
    if missing:
        raise common.ConfigError(
            f"--runs: {run} is not a complete Ape-X training run (no {', '.join(missing)}); "
            "train or finish it with python -m nasjax.launch.train_apex")
    try:
        config, summary = (json.loads(file.read_text()) for file in files[:2])
        rows = apex_report.read_csv(files[2])
    except (ValueError, KeyError) as error:
        raise common.ConfigError(f"--runs: {run}: {error}") from None
    return config, summary, rows


def render(runs: Sequence[Mapping], benchmark: str) -> str:
    """``report.md``: the figure and one row per run."""
    lines = [f"# Ape-X training runs compared on {benchmark}", "",
             "Mean final validation accuracy of training episodes, moving average of "
             f"{apex_report.SMOOTHING} chunks (Cassimon et al. Figs. 17-19).", "",
             "![training curves](training_curves.png)", "",
             "| run | label | environment steps | last (smoothed) | best (smoothed) |",
             "| --- | --- | --- | --- | --- |"]
    for run in runs:
        lines.append(f"| `{run['run']}` | {run['label']} | {run['env_steps']:,} | "
                     f"{run['last_val_acc']:.2f}% | {run['best_val_acc']:.2f}% |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    names = [name.strip() for name in _RUNS.value or [] if name.strip()]
    if not names:
        raise common.ConfigError("--runs names no run; give launch.train_apex workdirs, "
                                 "comma-separated")
    loaded = [load_run(name) for name in names]
    benchmarks = sorted({summary["benchmark"] for _, summary, _ in loaded})
    if len(benchmarks) > 1:
        raise common.ConfigError(f"--runs were trained on different benchmarks "
                                 f"({', '.join(benchmarks)}); compare runs of one benchmark")
    runs, curves = [], {}
    labels = apex_report.run_labels([config for config, _, _ in loaded], names)
    for name, label, (_, summary, rows) in zip(names, labels, loaded):
        _, acc = apex_report.accuracy_percent(rows)
        smoothed = apex_report.moving_average(acc, apex_report.SMOOTHING)
        if not np.isfinite(smoothed).any():
            raise common.ConfigError(f"--runs: {name} finished no training episode")
        curves[label] = rows
        runs.append({"run": name, "label": label, "env_steps": int(rows[-1]["env_steps"]),
                     "last_val_acc": float(smoothed[np.isfinite(smoothed)][-1]),
                     "best_val_acc": float(np.nanmax(smoothed)),
                     "final_params_sha256": summary.get("final_params_sha256")})
    if len(set(curves)) < len(names):
        raise common.ConfigError("--runs names a run twice")
    with _RUN.open() as run_dir:
        run_dir.write_config({"runs": names})
        apex_report.comparison_curves(curves, run_dir.figure_path("training_curves.png"),
                                      f"Ape-X training episodes, {benchmarks[0]}")
        run_dir.write_report(render(runs, benchmarks[0]))
        run_dir.write_summary({"benchmark": benchmarks[0], "runs": runs})
    for run in runs:
        print(f"{run['label']}: last {run['last_val_acc']:.2f}%, best {run['best_val_acc']:.2f}%")
    print(f"run directory: {run_dir.path}")


if __name__ == "__main__":
    common.run_main(main)
