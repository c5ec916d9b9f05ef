"""The papers' numbers that our reports reproduce, typed once, with their source.

Every value is transcribed from the text of Cassimon et al. (§4.1.2 Table 1, Fig. 8's medians
and skews and Fig. 11's correlations as the text states them; §4.2.2 Table 2 and the tests of
Figs. 12-13) and of ReMAADE (§8 Tables 3-6), in the units the paper prints: percent for
accuracies and errors, percentage points for improvements. Nothing is read off a figure.
Reports and figures take the numbers from here (:func:`tables_for`, :func:`improvement_for`,
:func:`correlation_for`); no other module types them.

Which table a run reproduces follows from its setting: the search space, the protocol
(``"episodes"``: ``launch.evaluate``, Cassimon et al.'s episodes over the incremental MDP;
``"search"``: ``launch.search``, query-budget searchers as ReMAADE runs them), the query
budgets, the kind of metric (accuracy or error) and the agents that ran.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

CASSIMON = "Cassimon et al."
REMAADE = "ReMAADE"
EPISODES, SEARCH = "episodes", "search"  # protocols: launch.evaluate, launch.search

_NB101_OFFICIAL = "the official NAS-Bench-101 tabular data"
_CASSIMON_NB101_EPISODES = ("2.5×10^5 episodes per algorithm (5 agents × 5 sets of 10^4 "
                            "initial states, §4.1.1)")
_CASSIMON_NB301_EPISODES = ("2.5×10^5 episodes per algorithm (5 agents × 5 sets of 10^4 "
                            "initial states, §4.1.1, §4.2.1)")
_REMAADE_TRIALS = "500 trials per algorithm (§8)"
_CASSIMON_INTERVAL = ("mean ± std [95% CI: bootstrap for its own rows, normal closed form for "
                      "the others]")


@dataclasses.dataclass(frozen=True)
class Cell:
    """One printed cell: mean ± std (percent) and, where printed, the 95% CI and #Q."""

    mean: float  # percent
    std: float  # percent
    ci: tuple[float, float] | None = None  # percent; None where the paper prints none
    queries: int | None = None  # the #Q the paper prints, when it differs from the column


@dataclasses.dataclass(frozen=True)
class Row:
    """One printed row of a paper's table.

    Attributes:
      method: the row's name as printed ("Random Walk (Ours)", "NASWOT [20]").
      agent: our registered agent that runs the same algorithm, None for a literature baseline
        (a method another publication reports, which we do not run).
      cells: (query budget, cell) pairs, one per column the row fills.
    """

    method: str
    agent: str | None
    cells: tuple[tuple[int, Cell], ...]

    def cell(self, budget: int) -> Cell | None:
        """The cell of column ``budget``, None where the paper prints N/A."""
        return dict(self.cells).get(budget)


@dataclasses.dataclass(frozen=True)
class PaperTable:
    """A table of a paper, the setting it was measured in and where it is printed.

    Attributes:
      paper: "Cassimon et al." or "ReMAADE".
      name: "Table 1" ...; section: where the text gives it ("§4.1.2").
      figures: the figures that draw the same numbers ("Fig. 10").
      space: the search space ("nb101", "nb301"); protocol: :data:`EPISODES` or :data:`SEARCH`.
      benchmark: what the paper queried; metric: what the values are ("test accuracy").
      trials: how many trials or episodes the paper's own rows average, in words.
      interval: what a cell holds ("mean ± std [95% CI: ...]", or "mean ± std" without a CI).
      budgets: the columns (query budgets); rows: in the paper's order.
      note: what else a reader must know about the transcription ('' for nothing).
      references: (mark, publication) of the paper's reference numbers in the row names.
    """

    paper: str
    name: str
    section: str
    figures: str
    space: str
    protocol: str
    benchmark: str
    metric: str
    trials: str
    interval: str
    budgets: tuple[int, ...]
    rows: tuple[Row, ...]
    note: str = ""
    references: tuple[tuple[str, str], ...] = ()

    @property
    def source(self) -> str:
        """"Cassimon et al. Table 1 (§4.1.2)"."""
        return f"{self.paper} {self.name} ({self.section})"


def _cells(budgets: tuple[int, ...], *values: tuple) -> tuple[tuple[int, Cell], ...]:
    """Pairs columns with ``(mean, std, ci_low, ci_high[, #Q])`` tuples; None skips a column."""
    out = []
    for budget, value in zip(budgets, values, strict=True):
        if value is not None:
            mean, std, low, high, *queries = value
            out.append((budget, Cell(mean, std, (low, high), queries[0] if queries else None)))
    return tuple(out)


def _errors(budget: int, *rows: tuple[str, str | None, float, float]) -> tuple[Row, ...]:
    """ReMAADE's one-column rows: (method, agent, mean, std) of the test error, no CI."""
    return tuple(Row(method, agent, ((budget, Cell(mean, std)),))
                 for method, agent, mean, std in rows)


# Cassimon et al.'s reference list, for the numbers in its tables' row names.
_REFERENCES = {
    "[8]": "Han et al. 2023, GPTP (SDM 2023)",
    "[14]": "Li et al. 2022, GraphPNAS (arXiv 2211.15155)",
    "[19]": "Luo et al. 2020, SemiNAS (NeurIPS 2020)",
    "[20]": "Mellor et al. 2021, NASWOT (ICML 2021)",
    "[25]": "Rao et al. 2022, CR-LSO (arXiv 2211.05950)",
}


def _references(*marks: str) -> tuple[tuple[str, str], ...]:
    return tuple((mark, _REFERENCES[mark]) for mark in marks)


_T1 = (50, 100, 150, 300)
CASSIMON_TABLE_1 = PaperTable(
    paper=CASSIMON, name="Table 1", section="§4.1.2", figures="Fig. 10", space="nb101",
    protocol=EPISODES, benchmark=_NB101_OFFICIAL, metric="test accuracy",
    trials=_CASSIMON_NB101_EPISODES,
    interval=_CASSIMON_INTERVAL,
    budgets=_T1, references=_references("[14]", "[19]", "[20]"),
    rows=(
        Row("Random (NASWOT) [20]", None, _cells(_T1, None, (90.38, 5.51, 79.55, 101.21), None,
                                                 None)),
        Row("NASWOT [20]", None, _cells(_T1, None, (91.77, 0.05, 91.67, 91.87), None, None)),
        Row("Random (GraphPNAS) [14]", None, _cells(_T1, None, None, None,
                                                    (93.59, 0.42, 92.63, 94.54))),
        Row("NAO [19]", None, _cells(_T1, None, None, None, (93.69, 0.06, 93.57, 93.81))),
        Row("SemiNAS [19]", None, _cells(_T1, None, None, None, (93.89, 0.06, 93.77, 94.01))),
        Row("GraphPNAS [14]", None, _cells(_T1, None, None, None, (94.19, 0.07, 94.03, 94.36))),
        Row("Random Search (Ours)", "random_search", _cells(
            _T1, (93.48, 0.15, 93.47, 93.50), (93.56, 0.14, 93.55, 93.58),
            (93.61, 0.15, 93.60, 93.63), (93.69, 0.16, 93.68, 93.71))),
        Row("Random Walk (Ours)", "random_walk", _cells(
            _T1, (93.62, 0.20, 93.60, 93.64), (93.73, 0.18, 93.71, 93.74),
            (93.79, 0.17, 93.78, 93.80), (93.88, 0.14, 93.87, 93.89))),
        Row("Local Search (Ours)", "local_search", _cells(
            _T1, (93.61, 0.55, 93.57, 93.66), (93.85, 0.33, 93.81, 93.87),
            (93.95, 0.26, 93.93, 93.97), (94.05, 0.17, 94.04, 94.07))),
        Row("Ape-X (Ours)", "apex", _cells(
            _T1, (93.73, 0.16, 93.71, 93.74), (93.82, 0.15, 93.80, 93.83),
            (93.86, 0.14, 93.85, 93.87), (93.94, 0.13, 93.93, 93.95))),
    ))

_T2 = (150, 200, 300, 400, 800, 1000)
CASSIMON_TABLE_2 = PaperTable(
    paper=CASSIMON, name="Table 2", section="§4.2.2", figures="Figs. 14-15", space="nb301",
    protocol=EPISODES,
    benchmark="the official NAS-Bench-301 v1.0 XGBoost ensemble (mean of its members, §4.2.1)",
    metric="validation accuracy", trials=_CASSIMON_NB301_EPISODES,
    interval=_CASSIMON_INTERVAL,
    budgets=_T2, references=_references("[8]", "[25]"),
    note=("The paper's Table 2 prints the header '1000 Queries' three times, over slightly "
          "different values; the first of these columns is kept."),
    rows=(
        Row("Random Search (GPTP) [8]", None, _cells(
            _T2, None, None, None, None, (94.75, 0.08, 94.53, 94.97), None)),
        Row("Symflow (GPTP) [8]", None, _cells(
            _T2, None, None, None, None, (94.60, 0.11, 94.29, 94.91), None)),
        Row("CL-fine-tune (GPTP) [8]", None, _cells(
            _T2, None, None, None, None, (94.83, 0.06, 94.66, 95.00), None)),
        Row("Random Search (CR-LSO) [25]", None, _cells(
            _T2, None, (94.17, 0.06, 94.00, 94.34), None, (94.23, 0.05, 94.09, 94.37),
            (94.31, 0.06, 94.14, 94.48), None)),
        Row("TPE (CR-LSO) [25]", None, _cells(
            _T2, None, (94.50, 0.06, 94.33, 94.67), None, (94.65, 0.03, 94.57, 94.73),
            (94.76, 0.04, 94.65, 94.87), None)),
        Row("CMA-ES (CR-LSO) [25]", None, _cells(
            _T2, None, (94.37, 0.09, 94.12, 94.62), None, (94.60, 0.06, 94.43, 94.77),
            (94.82, 0.08, 94.60, 95.04), None)),
        Row("NAO (CR-LSO) [25]", None, _cells(
            _T2, None, (94.49, 0.01, 94.46, 94.52), None, (94.55, 0.04, 94.44, 94.66),
            (94.72, 0.08, 94.50, 94.94), None)),
        Row("CR-LSO [25]", None, _cells(
            _T2, None, (94.53, 0.04, 94.32, 94.64), None, (94.80, 0.06, 94.63, 94.97),
            (94.89, 0.06, 94.72, 95.06), None)),
        Row("Random Search (Ours)", "random_search", _cells(
            _T2, (94.26, 0.12, 94.25, 94.28, 149), (94.30, 0.11, 94.29, 94.31, 198),
            (94.34, 0.09, 94.33, 94.35, 297), (94.36, 0.09, 94.35, 94.37),
            (94.41, 0.08, 94.40, 94.42, 798), (94.43, 0.08, 94.42, 94.44))),
        Row("Random Walk (Ours)", "random_walk", _cells(
            _T2, (94.28, 0.12, 94.26, 94.29), (94.31, 0.11, 94.29, 94.32, 198),
            (94.35, 0.11, 94.33, 94.36), (94.37, 0.11, 94.35, 94.38),
            (94.42, 0.10, 94.41, 94.43, 797), (94.44, 0.09, 94.43, 94.45))),
        Row("Local Search (Ours)", "local_search", _cells(
            _T2, (94.71, 0.26, 94.68, 94.74), (94.78, 0.19, 94.75, 94.80),
            (94.85, 0.13, 94.84, 94.87), (94.89, 0.11, 94.87, 94.90),
            (94.94, 0.09, 94.93, 94.96), (94.95, 0.08, 94.93, 94.96))),
        Row("Ape-X (Ours)", "apex", _cells(
            _T2, (94.83, 0.05, 94.83, 94.84), (94.85, 0.05, 94.84, 94.85, 199),
            (94.86, 0.05, 94.86, 94.87), (94.88, 0.04, 94.87, 94.88, 398),
            (94.90, 0.04, 94.90, 94.91), (94.91, 0.04, 94.90, 94.91))),
    ))

_REMAADE_SETTING = dict(
    paper=REMAADE, space="nb101", protocol=SEARCH, figures="",
    benchmark=(f"{_NB101_OFFICIAL} (selection by a random repeat's validation error, "
               "reporting that repeat's test error, §8)"),
    metric="test error", trials=_REMAADE_TRIALS, interval="mean ± std (ReMAADE prints no CI)")

REMAADE_TABLE_3 = PaperTable(
    name="Table 3", section="§8, short term", budgets=(150,), **_REMAADE_SETTING,
    rows=_errors(150, ("TPE", None, 6.43, 0.16), ("BOHB", None, 6.40, 0.12),
                 ("Random Search", "random_search_uniform", 6.36, 0.12),
                 ("Alpha X", None, 6.31, 0.13), ("NASBOT", None, 6.35, 0.10),
                 ("Reg Evolution", "regularized_evolution", 6.20, 0.13),
                 ("ReMAADE", "remaade", 6.15, 0.13), ("BANANAS", None, 5.77, 0.31)))

REMAADE_TABLE_4 = PaperTable(
    name="Table 4", section="§8.1, ablation", budgets=(150,), **_REMAADE_SETTING,
    note="The budget is the short-term one (150): the text calls it 'the short term setting'.",
    rows=_errors(150, ("Random Search", "random_search_uniform", 6.30, 0.25),
                 ("Plain vanilla REINFORCE", "reinforce", 6.26, 0.22),
                 ("REINFORCE with MADE", "reinforce_made", 6.25, 0.22),
                 ("ReMAADE with PPO", "remaade_ppo", 6.17, 0.25),
                 ("ReMAADE w/o PPO", "remaade_reinforce", 6.16, 0.25)))

REMAADE_TABLE_5 = PaperTable(
    name="Table 5", section="§8, medium term", budgets=(3200,), **_REMAADE_SETTING,
    rows=_errors(3200, ("TPE", None, 6.19, 0.83), ("BOHB", None, 6.08, 0.34),
                 ("Random Search", "random_search_uniform", 6.03, 0.23),
                 ("Alpha X", None, 5.94, 0.32), ("NASBOT", None, 6.06, 0.34),
                 ("Reg Evolution", "regularized_evolution", 6.04, 0.23),
                 ("ReMAADE", "remaade", 5.91, 0.19), ("BANANAS", None, 5.34, 0.45)))

REMAADE_TABLE_6 = PaperTable(
    name="Table 6", section="§8.2", budgets=(3200,), **_REMAADE_SETTING,
    note=("The paper states no budget for Table 6; its S = 4 row equals Table 5's ReMAADE, so "
          "it is taken as the medium-term budget (3,200)."),
    rows=_errors(3200, ("S = 1", "remaade_s1", 5.95, 0.18), ("S = 2", "remaade_s2", 5.94, 0.19),
                 ("S = 4", "remaade_s4", 5.91, 0.19), ("S = 6", "remaade_s6", 5.92, 0.19),
                 ("S = 8", "remaade_s8", 5.93, 0.19), ("S = 16", "remaade_s16", 5.92, 0.19),
                 ("S = N!", "remaade_sall", 5.92, 0.19)))

TABLES = (CASSIMON_TABLE_1, CASSIMON_TABLE_2, REMAADE_TABLE_3, REMAADE_TABLE_4, REMAADE_TABLE_5,
          REMAADE_TABLE_6)


@dataclasses.dataclass(frozen=True)
class Improvement:
    """What the text states of one agent's improvement distribution (final - initial).

    Values the text does not state are None. ``normaltest_below`` is an upper bound ("less
    than"), the others are the printed values.
    """

    method: str
    agent: str
    median: float | None = None  # percentage points
    skew: float | None = None
    interval_95: tuple[float, float] | None = None  # pp, as rounded in the text
    normaltest_below: float | None = None  # scipy.stats.normaltest p-value < this
    t_gof_pvalue: float | None = None  # scipy.stats.goodness_of_fit against a Student t


@dataclasses.dataclass(frozen=True)
class ImprovementFigure:
    """The improvement histograms of one space and what the text states of them."""

    paper: str
    name: str
    section: str
    space: str
    benchmark: str
    metric: str
    trials: str
    agents: tuple[Improvement, ...]
    note: str = ""

    @property
    def source(self) -> str:
        """"Cassimon et al. Fig. 8 (§4.1.2 text)"."""
        return f"{self.paper} {self.name} ({self.section} text)"

    def agent(self, name: str) -> Improvement | None:
        """The paper's numbers of our agent ``name``, None when it has none."""
        return next((entry for entry in self.agents if entry.agent == name), None)


CASSIMON_FIG_8 = ImprovementFigure(
    paper=CASSIMON, name="Fig. 8", section="§4.1.2", space="nb101", benchmark=_NB101_OFFICIAL,
    metric="test accuracy", trials=_CASSIMON_NB101_EPISODES,
    agents=(Improvement("Local search", "local_search", median=3.77, skew=-2.091),
            Improvement("Ape-X", "apex", median=1.15, skew=-1.821),
            Improvement("Random Walks", "random_walk", median=0.26, skew=0.091,
                        interval_95=(-5.0, 10.0)),
            Improvement("Random Search", "random_search", median=0.00, skew=0.219)))

CASSIMON_FIGS_12_13 = ImprovementFigure(
    paper=CASSIMON, name="Figs. 12-13", section="§4.2.2", space="nb301",
    benchmark=CASSIMON_TABLE_2.benchmark, metric="validation accuracy",
    trials=_CASSIMON_NB301_EPISODES,
    note="The text states no median or skew for NAS-Bench-301, only the tests' p-values.",
    agents=(Improvement("Ape-X", "apex", normaltest_below=1e-6, t_gof_pvalue=9.99e-4),
            Improvement("Local Search", "local_search", normaltest_below=1e-6,
                        t_gof_pvalue=9.99e-4),
            Improvement("Random Walks", "random_walk", normaltest_below=1e-6,
                        t_gof_pvalue=9.99e-4),
            Improvement("Random Search", "random_search", normaltest_below=1e-6,
                        t_gof_pvalue=1.998e-3)))

IMPROVEMENT_FIGURES = (CASSIMON_FIG_8, CASSIMON_FIGS_12_13)


@dataclasses.dataclass(frozen=True)
class Correlation:
    """Neighbour count vs accuracy over a benchmark's architectures (Cassimon et al. Fig. 11)."""

    paper: str
    name: str
    section: str
    space: str
    benchmark: str
    metric: str
    population: str  # which architectures the paper correlates over
    pearson: float
    kendall: float

    @property
    def source(self) -> str:
        """"Cassimon et al. Fig. 11 (§4.1.2 text)"."""
        return f"{self.paper} {self.name} ({self.section} text)"


CASSIMON_FIG_11 = Correlation(paper=CASSIMON, name="Fig. 11", section="§4.1.2", space="nb101",
                              benchmark=_NB101_OFFICIAL, metric="test accuracy",
                              population="NAS-Bench-101 architectures (no count stated)",
                              pearson=-0.014, kendall=-0.157)

CORRELATIONS = (CASSIMON_FIG_11,)


def metric_kind(metric: str) -> str:
    """"accuracy" or "error": the last word of a metric's name ("test error" -> "error")."""
    kind = metric.split()[-1]
    if kind not in ("accuracy", "error"):
        raise ValueError(f"metric {metric!r} is neither an accuracy nor an error")
    return kind


def tables_for(space: str, protocol: str, budgets: Iterable[int], agents: Iterable[str],
               metric: str) -> list[PaperTable]:
    """The paper tables a run reproduces.

    A table is reproduced when the run has its space and protocol, shares a query budget
    with it, measures the same kind of metric (accuracy or error) and ran at least one agent
    of the table's own rows.

    Args:
      space: the run's search space ("nb101").
      protocol: :data:`EPISODES` (``launch.evaluate``) or :data:`SEARCH` (``launch.search``).
      budgets: the query budgets the run reports.
      agents: the registered agents that ran.
      metric: what the run reports ("validation accuracy", "test error").
    """
    budgets, agents, kind = {int(b) for b in budgets}, set(agents), metric_kind(metric)
    return [table for table in TABLES
            if table.space == space and table.protocol == protocol
            and budgets & set(table.budgets) and metric_kind(table.metric) == kind
            and agents & {row.agent for row in table.rows}]


def improvement_for(space: str) -> ImprovementFigure | None:
    """The improvement figure of ``space`` (Cassimon et al. Fig. 8 or Figs. 12-13), if any."""
    return next((fig for fig in IMPROVEMENT_FIGURES if fig.space == space), None)


def correlation_for(space: str) -> Correlation | None:
    """The neighbour-count correlation the paper reports on ``space`` (Fig. 11), if any."""
    return next((entry for entry in CORRELATIONS if entry.space == space), None)


@dataclasses.dataclass(frozen=True)
class Point:
    """A paper's value drawn on a best-vs-queries figure, as a fraction (like our curves).

    ``agent`` names our agent for the paper's own rows, None for a literature baseline;
    ``label`` names the row and its table, ``source`` the paper and what it measured.
    """

    label: str
    source: str
    agent: str | None
    queries: int
    value: float
    low: float
    high: float


def points(tables: Iterable[PaperTable], max_queries: int) -> list[Point]:
    """Every filled cell of ``tables`` up to ``max_queries`` as a figure point.

    The point sits at the paper's #Q (the column's budget where it prints none); its bar is
    the printed 95% CI, or mean ± std where the paper prints no CI (ReMAADE). Values are
    fractions (percent / 100) so that they share the axes of our curves.
    """
    out = []
    for table in tables:
        for row in table.rows:
            for budget, cell in row.cells:
                queries = cell.queries or budget
                if queries > max_queries:
                    continue
                low, high = cell.ci or (cell.mean - cell.std, cell.mean + cell.std)
                out.append(Point(f"{row.method} ({table.name})",
                                 f"{table.paper}, {table.metric}", row.agent, queries,
                                 cell.mean / 100, low / 100, high / 100))
    return out
