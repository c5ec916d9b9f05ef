"""The package installs ``nasjax`` only: a checkout's ``launch`` and ``configs`` are aliases of
:mod:`nasjax.launch` and :mod:`nasjax.configs`, ``nasjax JOB`` runs a launch script from any
directory with the packaged presets (``--config=:PRESET``), and the wheel holds nasjax alone."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import nasjax
from nasjax.launch import __main__ as cli

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env}, check=False)


def test_launch_names_the_very_modules_of_nasjax_launch(monkeypatch):
    from launch import common, compare_apex

    real = importlib.import_module("nasjax.launch.compare_apex")
    assert common is importlib.import_module("nasjax.launch.common")
    assert compare_apex is real and real.__spec__.name == "nasjax.launch.compare_apex"
    monkeypatch.setattr(common, "EXIT_USAGE", 7)
    assert real.common.EXIT_USAGE == 7


def test_the_checkout_holds_aliases_only():
    assert [p.name for p in (ROOT / "launch").glob("*.py")] == ["__init__.py"]
    shims = sorted(p.stem for p in (ROOT / "configs").glob("*.py"))
    assert shims == sorted(p.stem for p in (ROOT / "nasjax" / "configs").glob("*.py"))
    for name in set(shims) - {"__init__"}:
        packaged = vars(importlib.import_module(f"nasjax.configs.{name}"))
        shim = vars(importlib.import_module(f"configs.{name}"))
        assert all(shim[key] is value for key, value in packaged.items() if key[0] != "_")


def test_python_m_launch_runs_the_packaged_script(tmp_path):
    result = _run([sys.executable, "-m", "launch.compare_apex", "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    first = importlib.import_module("nasjax.launch.compare_apex").__doc__.splitlines()[0]
    assert result.stdout.splitlines()[0] == first


@pytest.mark.parametrize("argv, message", [
    (["nasjax"], "no job given"),
    (["nasjax", "serach"], "unknown job 'serach'"),
])
def test_a_missing_or_unknown_job_is_one_line_and_exit_2(monkeypatch, capsys, argv, message):
    monkeypatch.setattr(cli, "stop_while_starting", lambda: None)  # keep pytest's handlers
    assert cli.main(argv) == 2
    assert capsys.readouterr().err == (
        f"error: {message}; run nasjax JOB [FLAGS] with JOB one of search, evaluate, "
        "train_apex, compare_apex, prepare_data, benchmark (nasjax --help)\n")


def test_nasjax_help_lists_the_jobs(monkeypatch, capsys):
    monkeypatch.setattr(cli, "stop_while_starting", lambda: None)
    assert cli.main(["nasjax", "--help"]) == 0
    assert capsys.readouterr().out == cli.__doc__
    assert all(importlib.util.find_spec(f"nasjax.launch.{job}") for job in cli.JOBS)


@pytest.mark.slow  # ~4 CPU-s of its own: out of the fast lane
def test_a_job_takes_a_packaged_preset_without_a_path(tmp_path):
    result = _run([sys.executable, "-m", "nasjax.launch", "search", "--config=:remaade_short",
                   "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "presets (--config=:PRESET, or PATH:PRESET): default, remaade_short, " \
        "remaade_medium, ablation, orders" in lines
    assert any(line.startswith("  num_trials = 500  (") for line in lines)


def test_a_preset_without_a_path_is_the_default_files(tmp_path):
    result = _run([sys.executable, "-m", "tests.launch.fake_launch", "--config=:big",
                   "--workdir=big"], tmp_path, NASJAX_DATA=str(tmp_path / "data"))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "big" / "config.json").read_text())["num_trials"] == 300


@pytest.mark.slow
def test_the_wheel_installs_nasjax_only_and_its_command(tmp_path):
    # Builds as `pip wheel` does (an isolated build: pip fetches setuptools), from a copy of
    # what the wheel is made of, so that the checkout gets no build/ or egg-info.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "nasjax", source / "nasjax",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                  str(tmp_path / "wheel"), str(source)], tmp_path)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = f"nasjax-{nasjax.__version__}.dist-info"
    assert {name.split("/")[0] for name in names} == {"nasjax", dist_info}
    shipped = {str(p.relative_to(ROOT)) for p in (ROOT / "nasjax").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert shipped <= set(names)  # code, presets, launch scripts, data
    entry_points = zipfile.ZipFile(wheel).read(f"{dist_info}/entry_points.txt").decode()
    assert "nasjax = nasjax.launch.__main__:main" in entry_points.splitlines()

    # Installed beside the dependencies of this environment, run from outside the checkout.
    # --ignore-installed: pip would otherwise keep an editable nasjax of the same version that
    # the system site-packages holds (as CI's own install does) and install nothing.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True)
    installed = _run([sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"),
                      "install", "-q", "--no-deps", "--ignore-installed", str(wheel)], tmp_path)
    assert installed.returncode == 0, installed.stderr
    result = subprocess.run(
        [str(env_dir / "bin" / "nasjax"), "search", "--config=:remaade_short", "--help"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert result.returncode == 0, result.stderr
    packaged = env_dir / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert str(packaged / "site-packages" / "nasjax" / "configs" / "search.py") in result.stdout
    assert any(line.startswith("  num_trials = 500  (") for line in result.stdout.splitlines())
