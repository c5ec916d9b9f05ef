"""Compare Ape-X training runs in one figure, as Cassimon et al. Figs. 17-19 compare ablations.

  python -m launch.compare_apex --runs=runs/apex,runs/apex-g95,runs/apex-g99 --workdir=runs/fig17

Each run is a complete ``launch.train_apex`` workdir (it holds ``summary.json``), all on the
same benchmark. A run is labelled by the config fields in which the runs differ (e.g.
``gamma=0.95``; the preset's name only when nothing else differs). Writes
``training_curves.png`` (mean final validation accuracy of training episodes vs environment
steps, a moving average of 10 chunks as in the paper's figures), ``summary.json`` (per run: the
label, the last and best smoothed accuracy, the final parameters' digest) and ``report.md``.
"""

from __future__ import annotations

from absl import flags

from nasjax.evaluation import apex_training as apex_report
from nasjax.launch import common

_RUNS = flags.DEFINE_list("runs", None, "Comma-separated launch.train_apex workdirs.")
_RUN = common.define_run_dir("compare_apex")


def main(argv):
    del argv
    names = [name.strip() for name in _RUNS.value or [] if name.strip()]
    if not names:
        raise common.ConfigError("--runs names no run; give launch.train_apex workdirs, "
                                 "comma-separated")
    benchmark, runs, curves = apex_report.compare_runs(names, "--runs")
    with _RUN.open() as run_dir:
        run_dir.write_config({"runs": names})
        apex_report.comparison_curves(curves, run_dir.figure_path("training_curves.png"),
                                      f"Ape-X training episodes, {benchmark}")
        run_dir.write_report(apex_report.render_comparison(runs, benchmark))
        run_dir.write_summary({"benchmark": benchmark, "runs": runs})
    for run in runs:
        print(f"{run['label']}: last {run['last_val_acc']:.2f}%, best {run['best_val_acc']:.2f}%")
    print(f"run directory: {run_dir.path}")


if __name__ == "__main__":
    common.run_main(main)
