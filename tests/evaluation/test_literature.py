"""Specification of nasjax.evaluation.literature: the papers' numbers, typed once, as printed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nasjax.evaluation import literature

ROOT = Path(__file__).resolve().parents[2]

# Lines of Cassimon et al. Table 1 (§4.1.2) and Table 2 (§4.2.2), quoted from the paper's text:
# "Algorithm  50 Queries ... #Q  μ ± σ  95% CI ...", N/A for an empty column.
TABLE_1_TEXT = """\
Random (NASWOT) [20]	N/A			100	90.38% $\\pm 5.51\\%$	[79.55%, 101.21%]	N/A			N/A
NASWOT [20]	N/A			100	91.77% $\\pm 0.05\\%$	[91.67%, 91.87%]	N/A			N/A
Random (GraphPNAS) [14]	N/A			N/A			N/A			300	93.59% $\\pm 0.42\\%$	[92.63%, 94.54%]
NAO [19]	N/A			N/A			N/A			300	93.69% $\\pm 0.06\\%$	[93.57%, 93.81%]
SemiNAS [19]	N/A			N/A			N/A			300	93.89% $\\pm 0.06\\%$	[93.77%, 94.01%]
GraphPNAS [14]	N/A			N/A			N/A			300	94.19% $\\pm 0.07\\%$	[94.03%, 94.36%]
Random Search (Ours)	50	93.48% $\\pm 0.15\\%$	[93.47%, 93.50%]	100	93.56% $\\pm 0.14\\%$	[93.55%, 93.58%]	150	93.61% $\\pm 0.15\\%$	[93.60%, 93.63%]	300	93.69% $\\pm 0.16\\%$	[93.68%, 93.71%]
Random Walk (Ours)	50	93.62% $\\pm 0.20\\%$	[93.60%, 93.64%]	100	93.73% $\\pm 0.18\\%$	[93.71%, 93.74%]	150	93.79% $\\pm 0.17\\%$	[93.78%, 93.80%]	300	93.88% $\\pm 0.14\\%$	[93.87%, 93.89%]
Local Search (Ours)	50	93.61% $\\pm 0.55\\%$	[93.57%, 93.66%]	100	93.85% $\\pm 0.33\\%$	[93.81%, 93.87%]	150	93.95% $\\pm 0.26\\%$	[93.93%, 93.97%]	300	94.05% $\\pm 0.17\\%$	[94.04%, 94.07%]
Ape-X (Ours)	50	93.73% $\\pm 0.16\\%$	[93.71%, 93.74%]	100	93.82% $\\pm 0.15\\%$	[93.80%, 93.83%]	150	93.86% $\\pm 0.14\\%$	[93.85%, 93.87%]	300	93.94% $\\pm 0.13\\%$	[93.93%, 93.95%]
"""  # noqa: E501
TABLE_2_TEXT = {  # the first four columns (150, 200, 300, 400 queries) of three rows
    "CR-LSO [25]": "CR-LSO [25]	N/A			200	94.53% $\\pm 0.04\\%$	[94.32%, 94.64%]	N/A			400	94.80% $\\pm 0.06\\%$	[94.63%, 94.97%]",  # noqa: E501
    "Random Search (Ours)": "Random Search (Ours)	149	94.26% $\\pm 0.12\\%$	[94.25%, 94.28%]	198	94.30% $\\pm 0.11\\%$	[94.29%, 94.31%]	297	94.34% $\\pm 0.09\\%$	[94.33%, 94.35%]	400	94.36% $\\pm 0.09\\%$	[94.35%, 94.37%]",  # noqa: E501
    "Ape-X (Ours)": "Ape-X (Ours)	150	94.83% $\\pm 0.05\\%$	[94.83%, 94.84%]	199	94.85% $\\pm 0.05\\%$	[94.84%, 94.85%]	300	94.86% $\\pm 0.05\\%$	[94.86%, 94.87%]	398	94.88% $\\pm 0.04\\%$	[94.87%, 94.88%]",  # noqa: E501
}
_CELL = re.compile(r"(\d+)\t([\d.]+)% \$\\pm ([\d.]+)\\%\$\t\[([\d.]+)%, ([\d.]+)%\]|N/A")


def _parse(line: str, budgets: tuple[int, ...]) -> tuple[str, dict]:
    """(method, {budget: (#Q, mean, std, low, high)}) of one quoted table line."""
    method, _, rest = line.partition("\t")
    cells = {}
    for budget, match in zip(budgets, _CELL.finditer(rest), strict=False):
        if match.group(1):
            queries, *values = match.groups()
            cells[budget] = (int(queries), *map(float, values))
    return method, cells


def _transcribed(row: literature.Row, budget: int) -> tuple:
    cell = row.cell(budget)
    return (cell.queries or budget, cell.mean, cell.std, *cell.ci)


def test_cassimon_table_1_is_transcribed_as_printed():
    table = literature.CASSIMON_TABLE_1
    lines = TABLE_1_TEXT.splitlines()
    assert [row.method for row in table.rows] == [line.partition("\t")[0] for line in lines]
    for row, line in zip(table.rows, lines, strict=True):
        method, cells = _parse(line, table.budgets)
        assert {b: _transcribed(row, b) for b, _ in row.cells} == cells, method


@pytest.mark.parametrize("method", sorted(TABLE_2_TEXT))
def test_cassimon_table_2_is_transcribed_as_printed(method):
    row = next(r for r in literature.CASSIMON_TABLE_2.rows if r.method == method)
    _, cells = _parse(TABLE_2_TEXT[method], (150, 200, 300, 400))
    assert {b: _transcribed(row, b) for b in cells} == cells
    assert all(row.cell(b) is None for b in (150, 200, 300, 400) if b not in cells)


@pytest.mark.parametrize("table, quote", [
    (literature.REMAADE_TABLE_3, "Reg Evolution	6.20 +- 0.13"),
    (literature.REMAADE_TABLE_3, "BANANAS	5.77 +- 0.31"),
    (literature.REMAADE_TABLE_4, "ReMAADE w/o PPO	6.16 +- 0.25"),
    (literature.REMAADE_TABLE_5, "ReMAADE	5.91+-0.19"),
    (literature.REMAADE_TABLE_6, "N!	5.92 +- 0.19"),
])
def test_remaade_tables_are_transcribed_as_printed(table, quote):
    method, _, value = quote.partition("\t")
    mean, std = (float(v) for v in value.split("+-"))
    found = [row for row in table.rows if row.method in (method, f"S = {method}")]
    assert len(found) == 1
    assert found[0].cells == ((table.budgets[0], literature.Cell(mean, std)),)


def test_figure_8_and_11_values_are_those_the_text_states():
    # Cassimon et al. §4.1.2: "local search is undisputedly the best algorithm (Median
    # improvement: +3.77%), followed by Ape-X (+1.15%), Random Walks (+0.26%) and Random
    # Search (+0.00%)" ... "Local search exhibits the lowest skew, with -2.091 , followed by
    # Ape-X with -1.821 , Random Walks at 0.091 and finally random search with a skew of 0.219"
    fig = literature.CASSIMON_FIG_8
    assert [(e.agent, e.median, e.skew) for e in fig.agents] == [
        ("local_search", 3.77, -2.091), ("apex", 1.15, -1.821), ("random_walk", 0.26, 0.091),
        ("random_search", 0.00, 0.219)]
    # "with the 95% interval ranging from -5% to +10%" (random walks)
    assert fig.agent("random_walk").interval_95 == (-5.0, 10.0)
    # "very weak correlation, with Pearson's r at -0.014 , and Kendall's τ at -0.157"
    assert (literature.CASSIMON_FIG_11.pearson, literature.CASSIMON_FIG_11.kendall) == (
        -0.014, -0.157)
    # §4.2.2: "p-values less than 1×10^{-6} for all algorithms" ... "a p-value of 9.99×10^{-4}
    # for Ape-X, Local Search and Random Walks, and a p-value of 1.998×10^{-3} for Random Search"
    nb301 = literature.CASSIMON_FIGS_12_13
    assert {e.agent: (e.normaltest_below, e.t_gof_pvalue, e.median) for e in nb301.agents} == {
        "apex": (1e-6, 9.99e-4, None), "local_search": (1e-6, 9.99e-4, None),
        "random_walk": (1e-6, 9.99e-4, None), "random_search": (1e-6, 1.998e-3, None)}


def _paper_numbers() -> set[str]:
    """Every transcribed number as the papers print it ("93.48", "2.091", "0.014")."""
    numbers = {f"{cell.mean:.2f}" for table in literature.TABLES for row in table.rows
               for _, cell in row.cells}
    for figure in literature.IMPROVEMENT_FIGURES:
        numbers |= {f"{e.median:.2f}" for e in figure.agents if e.median}
        numbers |= {f"{abs(e.skew):.3f}" for e in figure.agents if e.skew is not None}
    for entry in literature.CORRELATIONS:
        numbers |= {f"{abs(entry.pearson):.3f}", f"{abs(entry.kendall):.3f}"}
    return numbers


def test_no_paper_number_is_typed_outside_the_literature_module():
    numbers = _paper_numbers()
    assert {"93.48", "6.15", "3.77", "2.091", "0.014", "0.157"} <= numbers
    pattern = re.compile(r"(?<![\d.])(" + "|".join(map(re.escape, numbers)) + r")(?!\d)")
    found = []
    for folder in ("nasjax", "launch"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "literature.py":
                continue
            for number, line in ((m.group(1), path.read_text()[:m.start()].count("\n") + 1)
                                 for m in pattern.finditer(path.read_text())):
                found.append(f"{path.relative_to(ROOT)}:{line}: {number}")
    assert not found


def test_a_table_is_reproduced_by_the_runs_setting():
    nb101_agents = ["random_walk", "local_search", "random_search"]
    tables_for = literature.tables_for
    assert tables_for("nb101", literature.EPISODES, (50, 100, 150, 300), nb101_agents,
                      "validation accuracy") == [literature.CASSIMON_TABLE_1]
    assert tables_for("nb301", literature.EPISODES, (150, 1000), nb101_agents,
                      "validation accuracy") == [literature.CASSIMON_TABLE_2]
    assert tables_for("nb101", literature.SEARCH, (150,),
                      ["random_search_uniform", "regularized_evolution", "remaade"],
                      "test error") == [literature.REMAADE_TABLE_3, literature.REMAADE_TABLE_4]
    assert tables_for("nb101", literature.SEARCH, (3200,), ["remaade_s1", "remaade_sall"],
                      "validation error") == [literature.REMAADE_TABLE_6]
    # No shared budget, no agent of the table, another protocol or another kind of metric.
    assert not tables_for("nb101", literature.EPISODES, (20,), nb101_agents, "test accuracy")
    assert not tables_for("nb101", literature.EPISODES, (50,), ["regularized_evolution"],
                          "test accuracy")
    assert not tables_for("nb101", literature.SEARCH, (50,), nb101_agents, "test accuracy")
    assert not tables_for("nb101", literature.EPISODES, (50,), nb101_agents, "test error")


def test_points_are_fractions_at_the_papers_query_numbers():
    points = literature.points([literature.CASSIMON_TABLE_2], max_queries=300)
    rs = [p for p in points if p.agent == "random_search"]
    assert [p.queries for p in rs] == [149, 198, 297]  # the paper's #Q, not the column
    assert (rs[0].value, rs[0].low, rs[0].high) == pytest.approx((0.9426, 0.9425, 0.9428))
    assert rs[0].source == "Cassimon et al., validation accuracy"
    assert max(p.queries for p in points) <= 300
    assert {p.label for p in points if p.agent is None} == {
        f"{m} (Table 2)" for m in ("Random Search (CR-LSO) [25]", "TPE (CR-LSO) [25]",
                                   "CMA-ES (CR-LSO) [25]", "NAO (CR-LSO) [25]", "CR-LSO [25]")}
    bananas = next(p for p in literature.points([literature.REMAADE_TABLE_3], 150)
                   if "BANANAS" in p.label)  # no CI printed: the bar is mean ± std
    assert (bananas.queries, bananas.low, bananas.high) == (150, pytest.approx(0.0546),
                                                            pytest.approx(0.0608))
