"""The imports of the library, read from its source: the core (nasjax outside
:mod:`nasjax.launch` and :mod:`nasjax.configs`) never reaches up to the launch scripts or the
presets, no module of nasjax imports the checkout's ``launch`` or ``configs`` aliases (the wheel
installs ``nasjax`` only), nothing but the speed records and ``launch.benchmark`` imports
:mod:`nasjax.speed`, and no two of its packages import each other, directly or through others."""

from __future__ import annotations

import ast
import collections
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "nasjax"
CHECKOUT = ("launch", "configs")  # a checkout's aliases, not in the wheel: nasjax never imports
EDGE = ("nasjax.launch", "nasjax.configs")  # the launch scripts and presets: the core never imports

def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def read_imports(root: Path) -> dict[str, set[str]]:
    """Every module under ``root`` (a package directory) and the modules it imports anywhere in
    its source (function-local imports included, relative ones resolved). ``from p import x``
    names ``p.x`` when that is a module of the package, else ``p``."""
    modules = {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    found = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[:len(package) - node.level + 1] + [base] * bool(base))
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    imported.add(sub if sub in modules else base)
        found[name] = imported
    return found


def _package(module: str) -> str:
    """``nasjax.agents.apex.policy`` -> ``nasjax.agents``; ``nasjax.env`` -> ``nasjax.env``."""
    return ".".join(module.split(".")[:2])


def package_graph(imports: dict[str, set[str]]) -> dict[str, set[str]]:
    """Arrow A -> B when a module of package A imports a module of package B (A != B; the root
    ``nasjax/__init__.py``, which re-exports the packages, is left out)."""
    graph = collections.defaultdict(set)
    for module, imported in imports.items():
        for other in imported:
            if module != "nasjax" and other.startswith("nasjax.") and (
                    _package(module) != _package(other)):
                graph[_package(module)].add(_package(other))
    return dict(graph)


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected sets of more than one package (each holds every cycle through
    its packages)."""
    reach = {a: set() for a in graph}
    for start in graph:
        todo = list(graph[start])
        while todo:
            node = todo.pop()
            if node not in reach[start]:
                reach[start].add(node)
                todo.extend(graph.get(node, ()))
    sets = {frozenset({a} | {b for b in reach[a] if a in reach.get(b, ())}) for a in graph}
    return sorted((s for s in sets if len(s) > 1), key=sorted)


def test_the_reader_sees_function_local_and_relative_imports(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from . import leaf\n")
    (package / "sub" / "leaf.py").write_text(
        "import json\n\ndef f():\n    from configs import apex\n    from ..sub import leaf\n")
    assert read_imports(package) == {"pkg": set(), "pkg.sub": {"pkg.sub.leaf"},
                                     "pkg.sub.leaf": {"json", "configs", "pkg.sub.leaf"}}


def test_nasjax_never_imports_the_checkouts_launch_or_configs():
    wrong = sorted(f"{module} imports {other}"
                   for module, imported in read_imports(ROOT).items() for other in imported
                   if other.split(".")[0] in CHECKOUT)
    assert not wrong, "; ".join(wrong)


def test_the_core_never_imports_the_launch_scripts_or_presets():
    imports = read_imports(ROOT)
    assert {_package(module) for module in imports} >= set(EDGE)
    wrong = sorted(f"{module} imports {other}" for module, imported in imports.items()
                   if _package(module) not in EDGE for other in imported
                   if _package(other) in EDGE)
    assert not wrong, "; ".join(wrong)


def _distribution(requirement: str) -> str:
    """``"orbax-checkpoint>=0.5"`` -> ``"orbax-checkpoint"`` (normalized as PyPI does)."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement).group(0)).lower()


def test_the_library_imports_only_its_declared_dependencies():
    # xgboost: the refit extra; packages that only the tests import (rlax) are no dependency.
    project = tomllib.loads((ROOT.parent / "pyproject.toml").read_text())["project"]
    declared = {_distribution(r) for r in
                project["dependencies"] + project["optional-dependencies"]["refit"]}
    installed = importlib.metadata.packages_distributions()
    imported = {other.split(".")[0] for imports in read_imports(ROOT).values()
                for other in imports} - set(sys.stdlib_module_names) - {"nasjax", "__future__"}
    wrong = sorted(name for name in imported
                   if not declared & {_distribution(d) for d in installed.get(name, [name])})
    assert not wrong, f"imported but not declared in pyproject.toml: {wrong}"
    assert "rlax" not in declared


def test_only_the_speed_records_import_them():
    wrong = sorted(f"{module} imports {other}"
                   for module, imported in read_imports(ROOT).items() for other in imported
                   if _package(other) == "nasjax.speed"
                   and module != "nasjax.launch.benchmark"
                   and _package(module) != "nasjax.speed")
    assert not wrong, "; ".join(wrong)


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [frozenset("abc")]),
    ({"a": {"b"}, "b": set()}, []),
])
def test_cycles_are_the_strongly_connected_sets(graph, expected):
    assert cycles(graph) == expected


def test_no_import_cycles_between_packages():
    graph = package_graph(read_imports(ROOT))
    for package in sorted(graph):
        print(f"{package} -> {', '.join(sorted(graph[package]))}")
    found = [sorted(c) for c in cycles(graph)]
    assert not found, f"import cycles between packages: {found}"
