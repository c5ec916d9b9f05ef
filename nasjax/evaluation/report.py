"""Run directories and Markdown reports (Cassimon et al. Table 1 layout).

A run directory holds ``config.json``, raw arrays (``.npz``), ``summary.json``, figures and
``report.md``; it appears only when complete (:class:`RunDir`). JSON is strict: numpy scalars
and arrays become plain numbers and lists, and non-finite floats become ``null``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Self

import numpy as np

from nasjax.evaluation import interrupts, literature
from nasjax.paths import atomic_write

MISSING = "N/A"


def to_jsonable(value: object) -> object:
    """Converts a nested structure to plain JSON types.

    Mappings become dicts with string keys, sequences and arrays lists, numpy scalars Python
    numbers, paths strings, dataclasses dicts; NaN and infinities become None.

    Args:
      value: the structure to convert.

    Returns:
      An equivalent structure of dict, list, str, int, float, bool and None.

    Raises:
      TypeError: for a value of any other type.
    """
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    raise TypeError(f"cannot convert {type(value).__name__} to JSON: {value!r}")


class RunDirError(ValueError):
    """The run directory cannot be used (not empty, not a directory, not creatable)."""


class RunDir:
    """One run's output directory, never left looking complete when it is not.

    Files go to a staging directory beside the target, ``DIR.partial/``, which holds a
    ``PARTIAL`` marker saying why it is not complete (running, interrupted, failed).
    :meth:`finish` removes the marker and moves the directory to ``DIR`` (with ``overwrite``,
    an earlier ``DIR`` is replaced only then), so a ``DIR`` that holds ``summary.json`` is
    complete; after an interruption or a failure ``DIR`` is untouched and ``DIR.partial/``
    keeps what was written. Used as a context manager, the ``with`` block's end finishes the
    run and an exception abandons it (an :class:`interrupts.Interrupted` passing through
    learns where the partial output was kept).

    With ``resume=True`` (continuing a run that keeps checkpoints) files are written in place
    in ``DIR``, with the ``PARTIAL`` marker there until :meth:`finish`.

    Attributes:
      path: the final directory ``DIR``.
      staging: where files are written now (``DIR.partial``, or ``DIR`` when resuming).
    """

    MARKER = "PARTIAL"

    def __init__(self, path: str | Path, *, overwrite: bool = False, resume: bool = False) -> None:
        """Checks the target and opens the staging directory.

        Args:
          path: the run directory ``DIR``.
          overwrite: replace a non-empty ``DIR`` (and an old ``DIR.partial``) at :meth:`finish`.
          resume: write in place into ``DIR``, which may hold an earlier partial run.

        Raises:
          RunDirError: one line when ``path`` is empty, is a file, is not empty (without
            ``overwrite`` or ``resume``), has an old ``DIR.partial`` (without ``overwrite``),
            or cannot be created.
          ValueError: when both ``overwrite`` and ``resume`` are set.
        """
        if not str(path).strip():
            raise RunDirError("--workdir is empty; give a directory")
        if overwrite and resume:
            raise ValueError("overwrite and resume exclude each other")
        self.path = Path(os.path.abspath(Path(path).expanduser()))
        self.staging = self.path if resume else self.path.with_name(self.path.name + ".partial")
        self._overwrite, self._resume, self._closed = overwrite, resume, False
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"--workdir {self.path} is a file, not a directory; pick another "
                              "--workdir")
        if not resume and _entries(self.path) and not overwrite:
            raise RunDirError(f"--workdir {self.path} is not empty (it holds "
                              f"{_entries(self.path)}); pass --overwrite to replace it at the end "
                              "of the run, or pick another --workdir")
        if not resume and self.staging.exists():
            if not overwrite:
                raise RunDirError(f"{self.staging} holds the partial output of an earlier run "
                                  f"({_status(self.staging)}); pass --overwrite to replace it, or "
                                  "pick another --workdir")
            shutil.rmtree(self.staging)
        try:
            self.staging.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunDirError(f"cannot create the run directory {self.staging}: "
                              f"{error.strerror}; pick another --workdir") from None
        if not os.access(self.staging, os.W_OK | os.X_OK):
            raise RunDirError(f"cannot write into the run directory {self.staging}; pick another "
                              "--workdir")
        if resume:
            (self.staging / "summary.json").unlink(missing_ok=True)  # complete only at finish()
        self._mark(f"running (pid {os.getpid()})")
        self._unregister = interrupts.on_abort(self._stopped_at_once)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if self._closed:
            return
        if error is None:
            try:
                self.finish()
            except BaseException as late:  # an interrupt noticed by finish()
                self._abandon_for(late)
                raise
        else:
            self._abandon_for(error)

    def _abandon_for(self, error: BaseException) -> None:
        if isinstance(error, interrupts.Interrupted):
            error.kept.append(self.abandon(f"interrupted by {error.name}"))
        else:
            self.abandon(f"failed: {type(error).__name__}: {error}")

    def _mark(self, status: str) -> None:
        """Writes the PARTIAL marker: why the directory is not complete."""
        with atomic_write(self.staging / self.MARKER, "w") as handle:
            handle.write(f"incomplete run: {status}\n"
                         f"command: {' '.join(sys.argv)}\n"
                         f"time: {time.strftime('%Y-%m-%d %H:%M:%S')}\n")

    def _stopped_at_once(self) -> str:
        """Abort callback: a second signal ends the process now."""
        self._mark("stopped at once by a second signal")
        return f"partial results kept in {self.staging}"

    def _target(self, name: str) -> Path:
        if self._closed:
            raise RuntimeError(f"run directory {self.path} is already finished or abandoned")
        return self.staging / name

    def _write_json(self, name: str, content: Mapping) -> Path:
        text = json.dumps(to_jsonable(content), indent=2, allow_nan=False) + "\n"
        target = self._target(name)
        with atomic_write(target, "w") as handle:
            handle.write(text)
        return target

    def write_config(self, config: Mapping) -> Path:
        """Writes ``config.json``.

        Args:
          config: the run's configuration (numpy values allowed).

        Returns:
          The written path (in the staging directory).

        Raises:
          TypeError: when a value cannot be written as JSON.
        """
        return self._write_json("config.json", config)

    def write_summary(self, summary: Mapping) -> Path:
        """Writes ``summary.json``, the headline numbers of the run.

        Args:
          summary: the numbers (numpy scalars and arrays allowed).

        Returns:
          The written path (in the staging directory).

        Raises:
          TypeError: when a value cannot be written as JSON.
        """
        return self._write_json("summary.json", summary)

    def save_arrays(self, name: str, **arrays: np.ndarray) -> Path:
        """Writes ``<name>.npz`` holding the keyword arrays (uncompressed).

        Args:
          name: file stem, without folder or extension.
          **arrays: array name -> array.

        Returns:
          The written path (in the staging directory).

        Raises:
          ValueError: on a name with a folder part or an extension, or no arrays.
        """
        if not name or Path(name).name != name or Path(name).suffix:
            raise ValueError(f"name must be a bare file stem, got {name!r}")
        if not arrays:
            raise ValueError("no arrays to save")
        target = self._target(f"{name}.npz")
        with atomic_write(target) as handle:
            np.savez(handle, **arrays)
        return target

    def write_report(self, markdown: str) -> Path:
        """Writes ``report.md``.

        Args:
          markdown: the report text.

        Returns:
          The written path (in the staging directory).
        """
        target = self._target("report.md")
        with atomic_write(target, "w") as handle:
            handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
        return target

    def figure_path(self, name: str) -> Path:
        """Where to save the figure ``name`` (e.g. "best_vs_queries.png") now.

        Args:
          name: a bare file name with an extension.

        Returns:
          The path in the staging directory; :meth:`finish` moves it with the rest.

        Raises:
          ValueError: on a name with a folder part or without an extension.
        """
        if Path(name).name != name or not Path(name).suffix:
            raise ValueError(f"figure name must be a bare file name with an extension, got "
                             f"{name!r}")
        return self._target(name)

    def finish(self) -> Path:
        """Completes the run: removes the marker and moves the staging directory to ``DIR``.

        Returns:
          ``DIR``.

        Raises:
          interrupts.Interrupted: when a signal arrived (the output stays partial).
          RunDirError: when ``DIR`` became non-empty meanwhile (without ``overwrite``).
        """
        self._target(self.MARKER)  # not finished or abandoned yet
        interrupts.check()
        with interrupts.critical():
            if not self._resume and _entries(self.path) and not self._overwrite:
                raise RunDirError(f"--workdir {self.path} was filled by something else during "
                                  f"the run; the output stays in {self.staging}")
            (self.staging / self.MARKER).unlink()
            if not self._resume:
                old = self.path.with_name(f"{self.path.name}.old-{os.getpid()}")
                if self.path.exists():
                    self.path.rename(old)
                self.staging.rename(self.path)
                shutil.rmtree(old, ignore_errors=True)
            self._close()
        return self.path

    def abandon(self, reason: str) -> str:
        """Leaves the output partial, saying why in the ``PARTIAL`` marker.

        Args:
          reason: e.g. "interrupted by SIGINT" or "failed: ValueError: ...".

        Returns:
          What was kept, in words ("partial results kept in DIR.partial").
        """
        self._mark(reason)
        self._close()
        return f"partial results kept in {self.staging}"

    def _close(self) -> None:
        self._closed = True
        self._unregister()


def _entries(path: Path) -> str:
    """The first few names in ``path`` ("a, b, c, ..."); '' when it is empty or absent."""
    if not path.is_dir():
        return ""
    names = sorted(entry.name for entry in path.iterdir())
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def _status(staging: Path) -> str:
    """The first line of a partial directory's marker, or "no marker"."""
    marker = staging / RunDir.MARKER
    return marker.read_text().splitlines()[0] if marker.is_file() else f"no {RunDir.MARKER} marker"


def _cell(value: object, fmt: str | Callable | None) -> str:
    """One table cell: MISSING for None, else ``fmt`` applied, with pipes escaped."""
    if value is None:
        return MISSING
    text = fmt(value) if callable(fmt) else (fmt or "{}").format(value)
    return text.replace("|", "\\|")


def synthetic_warning(label: str) -> str:
    """The Markdown warning that opens the report of a run on a SYNTHETIC benchmark ('' else)."""
    if "SYNTHETIC" not in label:
        return ""
    return ("**SYNTHETIC benchmark: a known function of the cell, not measured accuracy. "
            "Numbers test the plumbing only.**\n\n")


def extrapolation(metadata: Mapping, best: Mapping[str, np.ndarray]) -> dict:
    """Where a surrogate's reported results extrapolate: per algorithm, the share of its reported
    best architectures (``best``: their predicted validation accuracies, float[K]) above the
    largest accuracy the surrogate was fitted on (``metadata["train_max_val_acc"]``); {} for a
    benchmark that records none (measured data)."""
    limit = metadata.get("train_max_val_acc")
    if limit is None:
        return {}
    return {"train_max_val_acc": float(limit),
            "share_above": {name: float(np.mean(np.asarray(values) > float(limit)))
                            for name, values in best.items()}}


def extrapolation_line(found: Mapping) -> str:
    """The report's line for :func:`extrapolation` ('' when it found nothing to say)."""
    if not found:
        return ""
    shares = ", ".join(f"{name} {100 * share:.1f}%" for name, share in found["share_above"].items())
    return (f"Extrapolation: share of reported best architectures whose predicted accuracy "
            f"exceeds the largest accuracy the surrogate was fitted on "
            f"({100 * found['train_max_val_acc']:.2f}%): {shares}.\n\n")


def markdown_table(rows: Sequence[Mapping], columns: Sequence[str],
                   formats: Mapping[str, str | Callable] | None = None) -> str:
    """Renders rows as a GitHub-flavoured Markdown table.

    A row without a column, or with None there, shows "N/A".

    Args:
      rows: one mapping per table row.
      columns: keys to show, in order; they are also the header.
      formats: column -> format string (e.g. "{:.2f}") or callable; "{}" by default.

    Returns:
      The table, one line per row after the header and separator, ending in a newline.

    Raises:
      ValueError: on no columns, or a column that no row has (a likely typo).
    """
    if not columns:
        raise ValueError("no columns")
    formats = formats or {}
    unknown = [c for c in columns if rows and not any(c in row for row in rows)]
    if unknown:
        raise ValueError(f"columns {unknown} appear in no row")
    lines = ["| " + " | ".join(_cell(c, None) for c in columns) + " |",
             "|" + "|".join(" --- " for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c), formats.get(c)) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def _percent(value: float) -> str:
    return "nan" if not math.isfinite(value) else f"{100.0 * value:.2f}%"


def format_budget_table(rows: Sequence[Mapping], benchmark: str, metric: str) -> str:
    """Renders :func:`stats.budget_table` rows like Cassimon et al. Table 1, in percent.

    One line per algorithm (first-seen order) and, per budget, the columns "#Q" (the query
    number of the data used, ``last_improvement``), "mean ± std" and "95% CI"; a budget an
    algorithm lacks shows "N/A". A caption naming the benchmark, the metric, the trial counts
    and how #Q is computed precedes the table.

    Args:
      rows: dicts with ``algorithm``, ``budget``, ``last_improvement``, ``mean``, ``std``,
        ``ci_low``, ``ci_high``, ``num_trials``; values are fractions.
      benchmark: benchmark name, e.g. "NAS-Bench-101".
      metric: what the values measure, e.g. "test accuracy".

    Returns:
      Caption and table in Markdown.

    Raises:
      ValueError: on no rows or a row missing a key.
    """
    # Imported here: scipy (through stats) would add half a second to every launch's start.
    from nasjax.evaluation.stats import BUDGET_RESAMPLES, CI_LEVEL

    if not rows:
        raise ValueError("no rows")
    keys = {"algorithm", "budget", "last_improvement", "mean", "std", "ci_low", "ci_high",
            "num_trials"}
    for row in rows:
        if not keys <= set(row):
            raise ValueError(f"row {dict(row)} lacks {sorted(keys - set(row))}")
    budgets = sorted({int(row["budget"]) for row in rows})
    table: dict[str, dict[str, str]] = {}
    for row in rows:
        line = table.setdefault(str(row["algorithm"]), {"Algorithm": str(row["algorithm"])})
        b = int(row["budget"])
        line[f"#Q ({b})"] = str(row["last_improvement"])
        line[f"mean ± std ({b})"] = f"{_percent(row['mean'])} ± {_percent(row['std'])}"
        line[f"95% CI ({b})"] = f"[{_percent(row['ci_low'])}, {_percent(row['ci_high'])}]"
    columns = ["Algorithm"] + [f"{name} ({b})" for b in budgets
                               for name in ("#Q", "mean ± std", "95% CI")]
    trials = sorted({int(row["num_trials"]) for row in rows})
    count = f"{trials[0]}" if len(trials) == 1 else f"{trials[0]}-{trials[-1]}"
    caption = (f"**Table.** Best {metric} found on {benchmark} after a given number of queries: "
               f"mean ± std over {count} trials and the {CI_LEVEL:.0%} percentile-bootstrap "
               f"confidence interval of the mean ({BUDGET_RESAMPLES:,} resamples). Without data "
               f"at a query number, the last preceding improvement is used; #Q is the query "
               f"number of that data: the last query within the budget at which some trial's "
               f"best-so-far improved (the latest over trials of each trial's last improvement).")
    return caption + "\n\n" + markdown_table(list(table.values()), columns)


@dataclasses.dataclass(frozen=True)
class RunSetting:
    """What a run measured, for the line that compares its setting with a paper's.

    Attributes:
      benchmark: the benchmark's label ("nb101-surrogate").
      description: the registry's description of it (what the numbers are).
      metric: what the run reports ("validation accuracy", "test error").
      trials: how many trials or episodes the run averaged, in words.
    """

    benchmark: str
    description: str
    metric: str
    trials: str


def trials_text(counts: Sequence[int], unit: str = "trials") -> str:
    """"100 trials", or "6-753 trials" when the counts differ."""
    low, high = min(counts), max(counts)
    return f"{low:,} {unit}" if low == high else f"{low:,}-{high:,} {unit}"


def setting_line(ours: RunSetting, benchmark: str, metric: str, trials: str) -> str:
    """The one line above a paper comparison that says what differs in the setting.

    Args:
      ours: the run's setting.
      benchmark, metric, trials: the paper's (see :class:`literature.PaperTable`).
    """
    metric_text = (f"{metric} in both" if ours.metric == metric
                   else f"{ours.metric} here, {metric} in the paper")
    return (f"Setting: benchmark `{ours.benchmark}` ({ours.description}) here, {benchmark} in "
            f"the paper; metric {metric_text}; {ours.trials} here, {trials} in the paper.")


def _pp(value: float) -> str:
    return f"{value:+.2f} pp"


def _paper_value(cell: literature.Cell | None, budget: int) -> str | None:
    """"12.34 ± 0.56 [12.30, 12.38]" (percent, as printed), with the paper's #Q if it differs."""
    if cell is None:
        return None
    text = f"{cell.mean:.2f} ± {cell.std:.2f}"
    text += f" [{cell.ci[0]:.2f}, {cell.ci[1]:.2f}]" if cell.ci else ""
    return text + (f" (#Q {cell.queries})" if cell.queries not in (None, budget) else "")


def _our_value(row: Mapping | None) -> str | None:
    """A :func:`stats.budget_table` row (fractions) as "93.40 ± 0.20 [93.30, 93.50]" percent."""
    if row is None:
        return None
    return (f"{100 * row['mean']:.2f} ± {100 * row['std']:.2f} "
            f"[{100 * row['ci_low']:.2f}, {100 * row['ci_high']:.2f}]")


def paper_table(table: literature.PaperTable, rows: Sequence[Mapping], ours: RunSetting) -> str:
    """A paper's table beside ours: the paper's rows (literature baselines included), and under
    each of its own rows that one of our agents reproduces, our row and "ours − paper".

    Args:
      table: the paper's table (:func:`literature.tables_for`).
      rows: our :func:`stats.budget_table` rows (fractions; ``algorithm``, ``budget``,
        ``mean``, ``std``, ``ci_low``, ``ci_high``).
      ours: the run's setting, for the line above the table.

    Returns:
      A bold title, the setting line, the table (percent; ours − paper in percentage points
      of the mean) and the transcription note, in Markdown.
    """
    found = {(str(row["algorithm"]), int(row["budget"])): row for row in rows}
    budgets = list(table.budgets)
    header = {b: f"{b} queries (%)" for b in budgets}
    lines = []
    for paper_row in table.rows:
        lines.append({"Method": paper_row.method,
                      **{header[b]: _paper_value(paper_row.cell(b), b) for b in budgets}})
        if paper_row.agent is None or not any((paper_row.agent, b) in found for b in budgets):
            continue
        mine = {b: found.get((paper_row.agent, b)) for b in budgets}
        lines.append({"Method": f"↳ {paper_row.agent} (this run)",
                      **{header[b]: _our_value(mine[b]) for b in budgets}})
        lines.append({"Method": "↳ ours − paper", **{
            header[b]: _pp(100 * mine[b]["mean"] - paper_row.cell(b).mean)
            for b in budgets if mine[b] is not None and paper_row.cell(b) is not None}})
    cited = "; ".join(f"{mark} {name}" for mark, name in table.references)
    cited = f"{table.paper}'s references: {cited}." if cited else ""
    note = " ".join(filter(None, [table.note, cited]))
    note = f"\n{note}\n" if note else ""
    return (f"**Beside {table.source}**: the paper's cells are {table.interval}; ours are "
            f"mean ± std [95% bootstrap CI]; ours − paper compares the means.\n\n"
            f"{setting_line(ours, table.benchmark, table.metric, table.trials)}\n\n"
            f"{markdown_table(lines, ['Method', *header.values()])}{note}")


def paper_tables(tables: Sequence[literature.PaperTable], rows: Sequence[Mapping],
                 ours: RunSetting) -> str:
    """:func:`paper_table` of each table, separated by blank lines ('' for none)."""
    return "\n".join(paper_table(table, rows, ours) for table in tables)


def _span(digits: int, suffix: str = "") -> Callable:
    return lambda v: f"[{v[0]:+.{digits}f}, {v[1]:+.{digits}f}]{suffix}"


_IMPROVEMENT_STATS = (  # paper field, column, ours from improvement_stats, ours/paper format,
    # and whether "ours − paper" follows
    ("median", "median (pp)", lambda imp: 100 * imp["median"], "{:+.2f}", "{:+.2f}", True),
    ("skew", "skew", lambda imp: imp["skew"], "{:.3f}", "{:.3f}", True),
    ("interval_95", "95% interval (pp)", lambda imp: [100 * v for v in _interval(imp, 0.95)],
     _span(2), _span(0, " (rounded)"), False),
    ("normaltest_below", "normaltest p", lambda imp: imp["normaltest_pvalue"], "{:.4g}",
     "< {:.0e}", False),
    ("t_gof_pvalue", "t goodness-of-fit p", lambda imp: imp["t_gof_pvalue"], "{:.4g}", "{:.4g}",
     False),
)


def _formatted(value: object, fmt: str | Callable) -> str | None:
    """``value`` through a format string or callable; None stays None (shown as N/A)."""
    if value is None:
        return None
    return fmt(value) if callable(fmt) else fmt.format(value)


def improvement_beside_paper(figure: literature.ImprovementFigure, agents: Mapping[str, Mapping],
                             ours: RunSetting) -> str:
    """What the paper's text states of its improvement histograms beside ours, per agent.

    Only the statistics the text states appear; "ours − paper" follows the median and the
    skew. Every agent of the paper's figure has a row (ours N/A where it did not run).

    Args:
      figure: the paper's figure (:func:`literature.improvement_for`).
      agents: our agent -> its :func:`stats.improvement_stats` dict (fractions).
      ours: the run's setting.
    """
    stated = [stat for stat in _IMPROVEMENT_STATS
              if any(getattr(entry, stat[0]) is not None for entry in figure.agents)]
    lines = []
    for entry in figure.agents:
        mine = agents.get(entry.agent)
        line = {"agent": f"{entry.agent} ({entry.method})"}
        for field, column, read, our_fmt, paper_fmt, compare in stated:
            paper, our = getattr(entry, field), None if mine is None else read(mine)
            line[f"{column} ours"] = _formatted(our, our_fmt)
            line[f"{column} paper"] = _formatted(paper, paper_fmt)
            if compare:
                line[f"{column} ours − paper"] = (None if our is None or paper is None
                                                  else our_fmt.format(our - paper))
        lines.append(line)
    note = f" {figure.note}" if figure.note else ""
    return (f"**Beside {figure.source}.**{note}\n\n"
            f"{setting_line(ours, figure.benchmark, figure.metric, figure.trials)}\n\n"
            f"{markdown_table(lines, list(lines[0]))}")


def _interval(improvement: Mapping, level: float) -> tuple[float, float]:
    """The symmetric interval of ``level`` around the median; keys may be floats or strings."""
    intervals = improvement["intervals"]
    return tuple(intervals[level] if level in intervals else intervals[str(level)])


def correlation_beside_paper(paper: literature.Correlation, pearson: float, kendall: float,
                             ours: RunSetting) -> str:
    """The paper's neighbour-count correlations (Fig. 11) beside ours, with ours − paper."""
    return (f"{setting_line(ours, paper.benchmark, paper.metric, paper.population)}\n\n"
            f"{paper.source}: Pearson r = {paper.pearson:.3f}, Kendall tau = "
            f"{paper.kendall:.3f}; ours − paper: Pearson {pearson - paper.pearson:+.3f}, Kendall "
            f"{kendall - paper.kendall:+.3f}.")
