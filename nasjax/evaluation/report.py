"""Run directories and Markdown reports (DESIGN.md "Outputs"; seed 000 Table 1 layout).

A run directory holds ``config.json``, raw arrays (``.npz``), ``summary.json``, figures and
``report.md``. JSON is strict: numpy scalars and arrays become plain numbers and lists, and
non-finite floats become ``null``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from nasjax.evaluation.stats import BUDGET_RESAMPLES, CI_LEVEL

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


class RunDir:
    """One run's output directory; created (with parents) on construction.

    Attributes:
      path: the directory.
    """

    def __init__(self, path: str | Path) -> None:
        """Creates the directory ``path`` if it does not exist."""
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def _write_json(self, name: str, content: Mapping) -> Path:
        target = self.path / name
        target.write_text(json.dumps(to_jsonable(content), indent=2, allow_nan=False) + "\n")
        return target

    def write_config(self, config: Mapping) -> Path:
        """Writes ``config.json``.

        Args:
          config: the run's configuration (numpy values allowed).

        Returns:
          The written path.

        Raises:
          TypeError: when a value cannot be written as JSON.
        """
        return self._write_json("config.json", config)

    def write_summary(self, summary: Mapping) -> Path:
        """Writes ``summary.json``, the headline numbers of the run.

        Args:
          summary: the numbers (numpy scalars and arrays allowed).

        Returns:
          The written path.

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
          The written path.

        Raises:
          ValueError: on a name with a folder part or an extension, or no arrays.
        """
        if not name or Path(name).name != name or Path(name).suffix:
            raise ValueError(f"name must be a bare file stem, got {name!r}")
        if not arrays:
            raise ValueError("no arrays to save")
        target = self.path / f"{name}.npz"
        np.savez(target, **arrays)
        return target

    def write_report(self, markdown: str) -> Path:
        """Writes ``report.md``.

        Args:
          markdown: the report text.

        Returns:
          The written path.
        """
        target = self.path / "report.md"
        target.write_text(markdown if markdown.endswith("\n") else markdown + "\n")
        return target


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
    """Renders :func:`stats.budget_table` rows like seed Table 1, in percent.

    One line per algorithm (first-seen order) and, per budget, the columns "#Q",
    "mean ± std" and "95% CI"; a budget an algorithm lacks shows "N/A". A caption naming the
    benchmark, the metric and the trial counts precedes the table.

    Args:
      rows: dicts with ``algorithm``, ``budget``, ``mean``, ``std``, ``ci_low``, ``ci_high``,
        ``num_trials``; values are fractions.
      benchmark: benchmark name, e.g. "NAS-Bench-101".
      metric: what the values measure, e.g. "test accuracy".

    Returns:
      Caption and table in Markdown.

    Raises:
      ValueError: on no rows or a row missing a key.
    """
    if not rows:
        raise ValueError("no rows")
    keys = {"algorithm", "budget", "mean", "std", "ci_low", "ci_high", "num_trials"}
    for row in rows:
        if not keys <= set(row):
            raise ValueError(f"row {dict(row)} lacks {sorted(keys - set(row))}")
    budgets = sorted({int(row["budget"]) for row in rows})
    table: dict[str, dict[str, str]] = {}
    for row in rows:
        line = table.setdefault(str(row["algorithm"]), {"Algorithm": str(row["algorithm"])})
        b = int(row["budget"])
        line[f"#Q ({b})"] = str(b)
        line[f"mean ± std ({b})"] = f"{_percent(row['mean'])} ± {_percent(row['std'])}"
        line[f"95% CI ({b})"] = f"[{_percent(row['ci_low'])}, {_percent(row['ci_high'])}]"
    columns = ["Algorithm"] + [f"{name} ({b})" for b in budgets
                               for name in ("#Q", "mean ± std", "95% CI")]
    trials = sorted({int(row["num_trials"]) for row in rows})
    count = f"{trials[0]}" if len(trials) == 1 else f"{trials[0]}-{trials[-1]}"
    caption = (f"**Table.** Best {metric} found on {benchmark} after a given number of queries "
               f"(#Q): mean ± std over {count} trials and the {CI_LEVEL:.0%} percentile-bootstrap "
               f"confidence interval of the mean ({BUDGET_RESAMPLES:,} resamples). Without data "
               f"at a query number, the last preceding improvement is used.")
    return caption + "\n\n" + markdown_table(list(table.values()), columns)
