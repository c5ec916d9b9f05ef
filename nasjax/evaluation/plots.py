"""Figures of the evaluation (Cassimon et al. Figs. 7, 8, 10-11, 14-16), written as PNG files.

Each function takes host arrays and an output path, draws on a standalone Agg figure (no pyplot
state, no display needed), writes the PNG and returns its path. Accuracies come in as fractions
in [0, 1] and are drawn in percent; improvements in percentage points (pp). matplotlib and
scipy.stats are imported on first use: 0.7 s that a launch refused on its config does not pay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from nasjax.evaluation import literature, stats

if TYPE_CHECKING:
    from matplotlib.figure import Figure

BAND_RESAMPLES = 1000  # bootstrap resamples per query for the CI band (Table 1 uses 5,000)
HIST_RANGE_PP = 12.5  # Fig. 8 shows improvements in [-12.5, +12.5] pp
FINAL_ACCURACY_LINES = (85.0, 90.0, 95.0)  # Fig. 7 dashed diagonals, percent
MAX_SCATTER_POINTS = 20_000  # points drawn per agent in Fig. 7
_DPI = 120
_MARKERS = ("s", "D", "^", "v", "<", ">", "P", "X", "*", "h")  # literature baselines, in order
_SIDE_STEP = 0.01  # papers' points at one #Q step aside by this fraction of the largest #Q


def figure(width: float, height: float) -> Figure:
    """A standalone figure of ``width`` x ``height`` inches with constrained layout."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save(fig: Figure, path: str | Path) -> Path:
    """Writes ``fig`` as PNG to ``path`` (parent folders created) and returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=_DPI)
    return path


def _check_nonempty(name: str, mapping: Mapping) -> None:
    if not mapping:
        raise ValueError(f"{name} is empty")


def _panels(count: int, width: float = 4.5, height: float = 3.6) -> tuple[Figure, list]:
    """A figure with ``count`` side-by-side axes."""
    fig = figure(width * count, height)
    return fig, list(fig.subplots(1, count, squeeze=False)[0])


def best_vs_queries(curves: Mapping[str, ArrayLike], path: str | Path, benchmark: str,
                    ylabel: str = "Best test accuracy found (%)",
                    num_resamples: int = BAND_RESAMPLES, seed: int = 0,
                    references: Sequence[literature.Point] = ()) -> Path:
    """Mean best-so-far accuracy vs number of queries with a 95% bootstrap band (Cassimon et al.
    Fig. 10, Figs. 14-15), with the papers' values as points.

    The band is the percentile bootstrap of the mean over trials at every query count, with
    ``num_resamples`` resamples (default 1,000, fewer than Table 1's 5,000 since it is drawn
    for every query; see :func:`stats.bootstrap_ci_columns`). ``references`` are drawn as the
    papers draw their baselines: a point at the query number with its interval as an error
    bar; literature baselines in black (one marker each), a paper's own value of an agent we
    ran as an open marker in that agent's colour. The y range keeps every point's mean in view
    (long bars are cut at the edge).

    Args:
      curves: algorithm -> float[T, Q] best-so-far accuracy (fraction) of each trial.
      path: output PNG path.
      benchmark: benchmark name for the title.
      ylabel: y-axis label.
      num_resamples: bootstrap resamples of the band.
      seed: bootstrap seed.
      references: the papers' values (:func:`literature.points`), fractions like ``curves``.

    Returns:
      The written path.

    Raises:
      ValueError: on no curves or a curve that is not a non-empty 2-D array.
    """
    _check_nonempty("curves", curves)
    fig = figure(9.5 if references else 7.0, 4.5)
    ax = fig.subplots()
    colours = {}
    for name, curve in curves.items():
        curve = 100.0 * np.asarray(curve, dtype=np.float64)  # [T, Q] percent
        low, high = stats.bootstrap_ci_columns(curve, num_resamples, stats.CI_LEVEL, seed)
        finite = np.isfinite(curve)
        counts = finite.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(finite, curve, 0.0).sum(axis=0) / counts  # NaN before any valid query
        queries = np.arange(1, curve.shape[1] + 1)
        (line,) = ax.plot(queries, mean, label=f"{name} (n={curve.shape[0]})")
        ax.fill_between(queries, low, high, color=line.get_color(), alpha=0.25, linewidth=0)
        colours[name] = line.get_color()
    _draw_references(ax, references, colours)
    ax.set_xlabel("Number of queries")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{benchmark}:\nbest architecture found vs queries (mean, 95% CI)",
                 fontsize=10)
    ax.grid(alpha=0.3)
    if references:
        sources = "; ".join(dict.fromkeys(point.source for point in references))
        fig.legend(loc="outside right upper", fontsize=7, title_fontsize=7,
                   title=f"Papers ({sources}):\nblack = other publications, open = the "
                         f"paper's own runs,\nbars = 95% CI (± std where none is printed)")
    else:
        ax.legend()
    return save(fig, path)


def _draw_references(ax, references: Sequence[literature.Point], colours: Mapping[str, str]):
    """The papers' points with error bars; the y range grows to every point's mean."""
    drawn = [point for point in references if point.agent is None or point.agent in colours]
    if not drawn:
        return
    y_low, y_high = ax.get_ylim()
    values = [100.0 * point.value for point in drawn]
    margin = 0.05 * (max(y_high, *values) - min(y_low, *values))
    labels = list(dict.fromkeys(point.label for point in drawn if point.agent is None))
    seen_at: dict[int, int] = {}
    labelled: set[str] = set()
    width = _SIDE_STEP * max(point.queries for point in drawn)
    for point in drawn:
        step = seen_at.get(point.queries, 0)
        seen_at[point.queries] = step + 1
        x = point.queries + width * step
        y, low, high = (100.0 * v for v in (point.value, point.low, point.high))
        literature_baseline = point.agent is None
        style = (dict(color="black", marker=_MARKERS[labels.index(point.label) % len(_MARKERS)],
                      markerfacecolor="black") if literature_baseline else
                 dict(color=colours[point.agent], marker="o", markerfacecolor="white"))
        label = "_nolegend_" if point.label in labelled else point.label
        labelled.add(point.label)
        ax.errorbar([x], [y], yerr=[[y - low], [high - y]], linestyle="none", capsize=3,
                    markersize=5, elinewidth=1, label=label, **style)
    ax.set_ylim(min(y_low, min(values) - margin), max(y_high, max(values) + margin))


def improvement_hist(improvements: Mapping[str, ArrayLike], path: str | Path, benchmark: str,
                     bins: int = 50) -> Path:
    """Histogram of per-episode improvement, one panel per agent (Cassimon et al. Fig. 8).

    Shown range is [-12.5, +12.5] pp; samples outside are left out (not piled into the end
    bins), but bar heights are percent of all episodes. The solid black line is the median,
    dashed lines the edges of the symmetric 50/80/90/95/99% intervals around it.

    Args:
      improvements: agent -> float[E] improvement (fraction; final minus initial accuracy).
      path: output PNG path.
      benchmark: benchmark name for the title.
      bins: number of histogram bins over the shown range.

    Returns:
      The written path.

    Raises:
      ValueError: on no agents or an agent without finite improvements.
    """
    from scipy import stats as sps

    _check_nonempty("improvements", improvements)
    fig, axes = _panels(len(improvements))
    colours = ("tab:red", "tab:orange", "tab:green", "tab:blue", "tab:purple")
    for ax, (name, values) in zip(axes, improvements.items()):
        values = 100.0 * stats.finite_values(values, f"improvements[{name!r}]")  # [E] pp
        median = float(np.median(values))
        ax.hist(values, bins=bins, range=(-HIST_RANGE_PP, HIST_RANGE_PP),
                weights=np.full(values.size, 100.0 / values.size), color="0.7")
        ax.axvline(median, color="black", linewidth=1.5, label=f"median {median:+.2f} pp")
        levels = stats.symmetric_intervals(values, stats.INTERVALS)
        for colour, (level, (low, high)) in zip(colours, sorted(levels.items())):
            ax.axvline(low, color=colour, linestyle="--", linewidth=1, label=f"{level:.0%}")
            ax.axvline(high, color=colour, linestyle="--", linewidth=1)
        outside = int(np.sum(np.abs(values) > HIST_RANGE_PP))
        skew = sps.skew(values) if np.ptp(values) > 0 else float("nan")
        ax.set_title(f"{name}: skew {skew:.3f}, {outside} outside", fontsize=10)
        ax.set_xlim(-HIST_RANGE_PP, HIST_RANGE_PP)
        ax.set_xlabel("Improvement in accuracy (pp)")
        ax.set_ylabel("Episodes (%)")
        ax.legend(fontsize=7)
    fig.suptitle(f"{benchmark}: improvement over an episode")
    return save(fig, path)


def _subsample(rng: np.random.Generator, size: int, limit: int) -> np.ndarray:
    """Sorted indices of at most ``limit`` of ``size`` items, drawn without replacement."""
    if size <= limit:
        return np.arange(size)
    return np.sort(rng.choice(size, limit, replace=False))


def initial_vs_improvement(initial: Mapping[str, ArrayLike], improvement: Mapping[str, ArrayLike],
                           path: str | Path, benchmark: str, max_points: int = MAX_SCATTER_POINTS,
                           seed: int = 0) -> Path:
    """Initial accuracy vs improvement over the episode, one panel per agent (Cassimon et al.
    Fig. 7).

    Dashed diagonals mark final accuracies of 85, 90 and 95%; the shaded region above the
    100% diagonal is unreachable. At most ``max_points`` random episodes are drawn per agent.

    Args:
      initial: agent -> float[E] accuracy (fraction) of the initial cell.
      improvement: agent -> float[E] improvement (fraction) over the episode; same keys.
      path: output PNG path.
      benchmark: benchmark name for the title.
      max_points: largest number of points per panel.
      seed: seed of the subsample.

    Returns:
      The written path.

    Raises:
      ValueError: on no agents, mismatched keys or shapes, or no finite pair.
    """
    _check_nonempty("initial", initial)
    if list(initial) != list(improvement):
        raise ValueError(f"initial and improvement name different agents: "
                         f"{list(initial)} vs {list(improvement)}")
    if max_points < 1:
        raise ValueError(f"max_points must be >= 1, got {max_points}")
    rng = np.random.default_rng(seed)
    fig, axes = _panels(len(initial))
    for ax, name in zip(axes, initial):
        x, y = stats.finite_pairs(initial[name], improvement[name],
                                  (f"initial[{name!r}]", f"improvement[{name!r}]"))
        keep = _subsample(rng, x.size, max_points)
        x, y = 100.0 * x[keep], 100.0 * y[keep]  # [P] percent, pp
        ax.scatter(x, y, s=2, alpha=0.3, linewidths=0, rasterized=True)
        x_lo = min(float(x.min()), min(FINAL_ACCURACY_LINES)) - 1.0
        y_lo, y_hi = float(min(y.min(), 0.0)) - 1.0, float(max(y.max(), 100.0 - x_lo)) + 1.0
        grid = np.array([x_lo, 100.0])
        for final in FINAL_ACCURACY_LINES:
            ax.plot(grid, final - grid, color="black", linestyle="--", linewidth=0.8)
        ax.fill_between(grid, 100.0 - grid, y_hi, color="tab:red", alpha=0.2,
                        label="final accuracy > 100%")
        ax.plot([], [], color="black", linestyle="--", linewidth=0.8,
                label="final accuracy " + "/".join(f"{f:.0f}" for f in FINAL_ACCURACY_LINES) + "%")
        ax.set_xlim(x_lo, 100.0)
        ax.set_ylim(y_lo, y_hi)
        ax.set_title(f"{name} ({x.size} episodes shown)", fontsize=10)
        ax.set_xlabel("Initial accuracy (%)")
        ax.set_ylabel("Improvement in accuracy (pp)")
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"{benchmark}: initial accuracy vs improvement")
    return save(fig, path)


def neighbours_vs_accuracy(num_neighbours: ArrayLike, accuracy: ArrayLike, path: str | Path,
                           benchmark: str,
                           ylabel: str = "Test accuracy (%)") -> Path:
    """Hexbin of an architecture's neighbour count vs its accuracy (Cassimon et al. Fig. 11).

    The title gives Pearson's r and Kendall's tau (:func:`stats.correlations`).

    Args:
      num_neighbours: int[E] number of neighbours of each architecture.
      accuracy: float[E] accuracy (fraction) of each architecture.
      path: output PNG path.
      benchmark: benchmark name for the title.
      ylabel: y-axis label.

    Returns:
      The written path.

    Raises:
      ValueError: on mis-shaped input or fewer than two finite pairs.
    """
    corr = stats.correlations(num_neighbours, accuracy)
    x, y = stats.finite_pairs(num_neighbours, accuracy, ("num_neighbours", "accuracy"))
    fig = figure(6.5, 4.5)
    ax = fig.subplots()
    cells = ax.hexbin(x, 100.0 * y, gridsize=60, bins="log", mincnt=1, cmap="viridis")
    fig.colorbar(cells, ax=ax, label="Architectures (count, log scale)")
    ax.plot([], [], " ", label=f"n = {corr['n']}")
    ax.set_xlabel("Number of neighbours")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{benchmark}: neighbours vs accuracy "
                 f"(Pearson r = {corr['pearson_r']:.3f}, Kendall tau = {corr['kendall_tau']:.3f})",
                 fontsize=10)
    ax.legend(loc="lower right")
    return save(fig, path)


def throughput(records: Sequence[Mapping], path: str | Path,
               title: str = "Environment throughput") -> Path:
    """Steps per second vs number of parallel environments, log-log, one line per mode (Fig. 16).

    Args:
      records: dicts with ``mode`` (str), ``num_envs`` (> 0) and ``steps_per_second`` (> 0).
      path: output PNG path.
      title: figure title (name the benchmark and device).

    Returns:
      The written path.

    Raises:
      ValueError: on no records, a record missing a key or a non-positive value.
    """
    if not records:
        raise ValueError("records is empty")
    lines: dict[str, list[tuple[float, float]]] = {}
    for record in records:
        missing = {"mode", "num_envs", "steps_per_second"} - set(record)
        if missing:
            raise ValueError(f"record {dict(record)} lacks {sorted(missing)}")
        envs, rate = float(record["num_envs"]), float(record["steps_per_second"])
        if not (envs > 0 and rate > 0):
            raise ValueError(f"num_envs and steps_per_second must be positive: {dict(record)}")
        lines.setdefault(str(record["mode"]), []).append((envs, rate))
    fig = figure(6.5, 4.5)
    ax = fig.subplots()
    for mode, points in lines.items():
        envs, rate = np.array(sorted(points)).T
        ax.plot(envs, rate, marker="o", label=mode)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Parallel environments")
    ax.set_ylabel("Throughput (environment steps/s)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return save(fig, path)
