"""``--sweep`` on every launch script: run a config's points and compare them.

  python -m launch.train_apex --config=configs/apex.py:cpu --sweep=fig17 --workdir=runs/fig17
  python -m launch.search --sweep=remaade.learning_rate=1e-3,1e-2 --sweep=seed=0,1 --workdir=DIR

``--sweep=FIELD=v1,v2,...`` (repeatable; several give their product) sweeps any config field,
each value parsed as ``--config.FIELD=v`` parses it (``None`` too, where the field's rule allows
it) and every point checked against the config's rules before any work or file: a bad value is
one line, exit code 2. ``--sweep=NAME`` runs a named sweep of the config module (``SWEEPS``,
listed by ``--help``). Other ``--config.FIELD`` overrides and the preset apply to every point.

A sweep writes ``DIR/<label>/``, the complete run directory of each point (labelled by the
fields that differ, e.g. ``gamma=0.95``), each the same as the single run with that override;
``DIR/sweep.json`` (the base config and the points, written first); then, when every point is
complete, ``DIR/summary.json``, ``DIR/report.md`` and the comparison (``training_curves.png``
for ``train_apex``, as Cassimon et al. Figs. 17-19; a table for ``search`` and ``evaluate``).
Points that a launch can run together (``train_apex``: points that differ only in ``seed``,
``gamma``, ``learning_rate``, ``epsilon``, ``epsilon_exponent``, ``priority_beta`` or
``env.alpha``, e.g. ``fig17``, ``seeds`` and ``fig19``'s alpha 2, 6, 10, whose ``None`` (no
shaping) runs apart; ``search``: in ``seed``, ``remaade.learning_rate`` or
``remaade.ema_decay``) run through one compiled program, vmapped over them on accelerators
(on CPU ``search`` runs the points in turn inside the one program,
``launch.search.points_at_once``, and ``train_apex`` the single run's chunk for each point,
``train.points_in_turn``); the others one after another; the report says which.

Over several processes (``--num_processes``, :mod:`launch.multihost`) process 0 alone checks
and writes ``DIR`` and decides which points run; every process runs those points, each split
over the processes as a single run is.

Rerunning the same command continues an interrupted sweep: complete points are kept, the
others resume from their checkpoints (``train_apex``) or restart. A ``DIR`` holding another
sweep (other points or base config) or anything else is refused without ``--overwrite``, which
reruns every point.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import ml_collections
from absl import flags
from ml_collections.config_flags import config_path

from nasjax import distributed, sweep
from nasjax.config_rules import ConfigError, check_config, field_paths
from nasjax.evaluation import report as report_lib
from nasjax.launch import multihost
from nasjax.paths import atomic_write

FLAG = "sweep"
PLAN_TIMEOUT = 600  # seconds the other processes wait for process 0's plan of a sweep
SPEC = sweep.SPEC
NONE = ("None", "none")  # a value meaning None, for fields whose rule allows it
# The parsers ml_collections gives --config.FIELD by the field's type (config_flags).
PARSERS = {float: flags.FloatParser(), int: flags.IntegerParser(), bool: flags.BooleanParser(),
           str: flags.ArgumentParser()}


@dataclasses.dataclass(frozen=True)
class Together:
    """How a launch runs several points at once.

    Attributes:
      fields: the config fields that may differ between points run together (they keep
        every array shape).
      run: ``run(configs, workdirs, overwrite) -> bool``: trains the points together, each
        into its run directory (a point restarts where :func:`restart` says); False, having
        touched nothing, when it cannot (the caller then runs them one after another).
    """

    fields: tuple[str, ...]
    run: Callable[[list[ml_collections.ConfigDict], list[Path], bool], bool]


@dataclasses.dataclass(frozen=True)
class Point:
    """One point of a sweep: its overrides, label, config and run directory."""

    values: dict
    label: str
    config: ml_collections.ConfigDict
    workdir: Path


def define_flag() -> flags.FlagHolder:
    """Defines ``--sweep`` (repeatable)."""
    return flags.DEFINE_multi_string(
        FLAG, None, "Run a sweep: FIELD=v1,v2,... (repeatable; several give their product) or "
        "the NAME of a sweep of the config module (--help lists them); writes DIR/<label>/ per "
        "point, DIR/summary.json, DIR/report.md and a comparison.")


def requested() -> bool:
    """Whether the command line asks for a sweep."""
    return FLAG in flags.FLAGS and bool(flags.FLAGS[FLAG].value)


def help_line(module) -> str:
    """``--help``'s line naming the config module's sweeps ('' when it has none)."""
    named = getattr(module, "SWEEPS", {})
    shown = "; ".join(f"{name} (" + " x ".join(f"{field}={','.join(map(str, values))}"
                                              for field, values in axes.items()) + ")"
                      for name, axes in named.items())
    return f"sweeps (--{FLAG}=NAME): {shown}" if named else ""


def parse_value(config: ml_collections.ConfigDict, field: str, text: str, spec: str):
    """One swept value, parsed as ``--config.FIELD=text`` would be (``None`` also accepted;
    the rules then decide).

    Raises:
      ConfigError: one line naming the sweep, the field and the value.
    """
    if text.strip() in NONE:
        return None
    kind = config_path.get_type(field, config)
    parser = PARSERS.get(kind)
    if parser is None:
        raise ConfigError(f"--{FLAG}={spec}: config.{field} holds a {kind.__name__}, which a "
                          "sweep cannot list; sweep it in several commands")
    try:
        return parser.parse(text.strip())
    except (TypeError, ValueError) as error:
        raise ConfigError(f"--{FLAG}={spec}: config.{field} = {text.strip()!r}: {error}") from None


def parse_axes(specs: Sequence[str], config: ml_collections.ConfigDict,
               module) -> list[sweep.Axis]:
    """The axes of the ``--sweep`` values.

    Raises:
      ConfigError: one line for an unknown name or field, or a value that does not parse.
    """
    fields = field_paths(config)
    named = getattr(module, "SWEEPS", {})
    axes = []
    for spec in specs:
        name, equals, values = spec.partition("=")
        name = name.strip()
        if not equals:
            if name not in named:
                known = ", ".join(named) or "none"
                raise ConfigError(f"--{FLAG}={spec}: no sweep named {name!r} (named sweeps: "
                                  f"{known}); or give FIELD=v1,v2,...")
            axes += sweep.axes_of(named[name])
            continue
        if name not in fields:
            raise ConfigError(f"--{FLAG}={spec}: unknown config field {name!r}; --help lists "
                              "the fields")
        texts = [text for text in values.split(",") if text.strip()]
        if not texts:
            raise ConfigError(f"--{FLAG}={spec}: no value; give FIELD=v1,v2,...")
        axes.append(sweep.Axis(name, tuple(parse_value(config, name, text, spec)
                                           for text in texts)))
    return axes


def make_points(specs: Sequence[str], config: ml_collections.ConfigDict, module, rules: dict,
                directory: Path) -> list[Point]:
    """The checked points of a sweep, each with its config and run directory.

    Raises:
      ConfigError: one line for a bad ``--sweep`` or a point whose config breaks a rule.
    """
    axes = parse_axes(specs, config, module)
    try:
        values = sweep.points(axes)
    except ValueError as error:
        raise ConfigError(f"--{FLAG}: {error}") from None
    found = []
    for point in values:
        point_config = sweep.apply(config, point)
        try:
            check_config(point_config, rules)
        except ConfigError as error:
            raise ConfigError(f"--{FLAG} point {sweep.label(point)}: {error}") from None
        found.append(Point(point, sweep.label(point), point_config,
                           directory / sweep.directory_name(point)))
    return found


def complete(workdir: Path) -> bool:
    """Whether a point's run directory holds a finished run."""
    return ((workdir / "summary.json").is_file()
            and not (workdir / report_lib.RunDir.MARKER).exists())


def run(main: Callable[[list[str]], object], config_flag, family: str,
        together: Together | None = None) -> None:
    """Runs the sweep the command line asks for (see the module docstring).

    Args:
      main: the launch's main function; it runs one point, reading the ``--config`` and
        ``--workdir`` flags, which are set to the point's.
      config_flag: the launch's :class:`launch.common.ConfigFlag`.
      family: the config family ("apex", "search", "evaluate"): what the comparison is.
      together: how the launch runs points together, if it can.

    Raises:
      ConfigError, report_lib.RunDirError: one line, before any work for what the command line
        decides.
    """
    from nasjax.launch import common  # common imports this module lazily too

    base = config_flag.value
    module = config_flag.module
    workdir = (flags.FLAGS["workdir"].value
               or f"runs/{family}-sweep-{time.strftime('%Y%m%d-%H%M%S')}")
    directory = Path(workdir).expanduser().absolute()
    points = make_points(flags.FLAGS[FLAG].value, base, module, module.RULES, directory)
    overwrite = bool(flags.FLAGS["overwrite"].value)
    spec = {"launch": family, "base_config": base.to_dict(),
            "points": [{"label": p.label, "workdir": p.workdir.name, "values": p.values}
                       for p in points]}
    groups = sweep.groups([p.config.to_dict() for p in points],
                          together.fields if together else ())
    writer = multihost.is_writer()
    lock, plan = None, None
    try:
        if writer:
            try:
                lock = common.RunLock(directory)
                plan = _prepare(directory, spec, points, groups, overwrite)
            except report_lib.RunDirError as error:
                _shared_plan({"error": str(error)})
                raise
        plan = _shared_plan(plan)
        if "error" in plan:  # process 0 refused the directory
            raise report_lib.RunDirError(plan["error"])
        ran = []
        for group, todo_rows in zip(groups, plan["todo"]):
            members = [points[i] for i in group]
            todo = [points[i] for i in todo_rows]
            if not todo:
                print(f"kept the complete point(s): {'; '.join(p.label for p in members)}")
                ran.append({"points": [p.label for p in members], "together": len(members) > 1,
                            "kept": True})
                continue
            at_once = (together is not None and len(todo) > 1
                       and together.run([p.config for p in todo], [p.workdir for p in todo],
                                        overwrite))
            if not at_once:
                for point in todo:
                    _run_point(main, point, overwrite)
            ran.append({"points": [p.label for p in todo], "together": bool(at_once),
                        "kept": False})
        if not writer:  # process 0 checks the points and writes the comparison
            return
        unfinished = [p.label for p in points if not complete(p.workdir)]
        if unfinished:
            print(f"sweep not complete: {'; '.join(unfinished)} unfinished; rerun the same "
                  "command to continue")
            return
        _write_comparison(directory, family, points, ran)
    finally:
        if lock is not None:
            lock.release()
    print(f"sweep directory: {directory}")


def _prepare(directory: Path, spec: dict, points: Sequence[Point],
             groups: list[list[int]], overwrite: bool) -> dict:
    """Process 0's part before any point runs: the directory checked and marked as this sweep's,
    and the plan, ``{"todo": [[point index, ...] per group]}`` (complete points are kept)."""
    _check_directory(directory, spec, overwrite)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "summary.json").unlink(missing_ok=True)  # complete only at the end
    _write_json(directory / SPEC, spec)
    return {"todo": [[i for i in group if overwrite or not complete(points[i].workdir)]
                     for group in groups]}


def _shared_plan(plan: dict | None) -> dict:
    """Process 0's plan on every process (the points to run must be the same everywhere, as
    they run collectives together), through the runtime's key-value store; the plan itself in
    a single process."""
    if not multihost.settings().enabled:
        return plan
    text = distributed.announce("sweep-plan", None if plan is None else json.dumps(plan),
                                PLAN_TIMEOUT)
    return json.loads(text)


def _check_directory(directory: Path, spec: dict, overwrite: bool) -> None:
    """Refuses a sweep directory holding something else than this sweep (without
    ``--overwrite``)."""
    if directory.exists() and not directory.is_dir():
        raise report_lib.RunDirError(f"--workdir {directory} is a file, not a directory; pick "
                                     "another --workdir")
    if overwrite or not directory.exists() or not any(directory.iterdir()):
        return
    saved = directory / SPEC
    if not saved.is_file():
        raise report_lib.RunDirError(
            f"--workdir {directory} is not empty and holds no sweep ({SPEC}); pass --overwrite "
            "to run the sweep there anyway, or pick another --workdir")
    if json.loads(saved.read_text()) != json.loads(json.dumps(spec)):
        raise report_lib.RunDirError(
            f"--workdir {directory} holds another sweep (other points or config, {SPEC}); "
            "rerun its command, pass --overwrite to rerun every point, or pick another --workdir")


def _run_point(main: Callable[[list[str]], object], point: Point, overwrite: bool) -> None:
    """Runs ``main`` on one point: the ``--config``, ``--workdir`` and ``--overwrite`` flags set
    to the point's (see :func:`restart`)."""
    print(f"sweep point {point.label}: {point.workdir}", flush=True)
    saved = {name: flags.FLAGS[name].value for name in ("config", "workdir", "overwrite")}
    flags.FLAGS["config"].value = point.config
    flags.FLAGS["workdir"].value = str(point.workdir)
    flags.FLAGS["overwrite"].value = restart(point.workdir, overwrite)
    try:
        main([sys.argv[0]])
    finally:
        for name, value in saved.items():
            flags.FLAGS[name].value = value


def restart(workdir: Path, overwrite: bool) -> bool:
    """Whether a point runs afresh (``--overwrite``): always under the sweep's ``--overwrite``,
    else when an earlier try left output but no checkpoints to resume from (``train_apex``
    resumes from ``checkpoints/`` by itself)."""
    staging = workdir.with_name(workdir.name + ".partial")
    started = staging.exists() or (workdir.exists() and any(workdir.iterdir()))
    return overwrite or (started and not (workdir / "checkpoints").is_dir())


def _write_json(path: Path, content: dict) -> None:
    with atomic_write(path, "w") as handle:
        handle.write(json.dumps(report_lib.to_jsonable(content), indent=2) + "\n")


def _ran_section(ran: list[dict]) -> str:
    """The report's lines on which points ran together."""
    lines = ["## How the points ran", ""]
    for entry in ran:
        how = ("kept from an earlier run" if entry["kept"] else
               "together (one jitted program over the points)" if entry["together"]
               else "one after another")
        lines.append(f"- {'; '.join(entry['points'])}: {how}")
    return "\n".join(lines) + "\n"


def _write_comparison(directory: Path, family: str, points: list[Point],
                      ran: list[dict]) -> None:
    """``summary.json``, ``report.md`` and the comparison of a complete sweep."""
    from nasjax.evaluation import apex_training as apex_report

    summaries = [json.loads((p.workdir / "summary.json").read_text()) for p in points]
    if family == "apex":
        benchmark, runs, curves = apex_report.compare_runs([p.workdir for p in points],
                                                           f"--{FLAG}")
        apex_report.comparison_curves(curves, directory / "training_curves.png",
                                      f"Ape-X training episodes, {benchmark}")
        rows = [{**run, "run": point.workdir.name} for run, point in zip(runs, points)]
        text = apex_report.render_comparison(rows, benchmark)
    else:
        benchmark = summaries[0]["benchmark"]
        rows = (_search_rows if family == "search" else _evaluate_rows)(points, summaries)
        text = _render_table(family, benchmark, rows)
    text += "\n" + _ran_section(ran)
    with atomic_write(directory / "report.md", "w") as handle:
        handle.write(text)
    _write_json(directory / "summary.json", {
        "launch": family, "benchmark": benchmark, "points": rows, "ran": ran})


def _search_rows(points: list[Point], summaries: list[dict]) -> list[dict]:
    """Per point and algorithm: the error at the final budget (fractions)."""
    return [{"point": point.label, "run": point.workdir.name, "algorithm": algorithm,
             "metric": summary["metric"], "budget": summary["budget"], "mean": row["mean"],
             "std": row["std"], "ci_low": row["ci_low"], "ci_high": row["ci_high"],
             "num_trials": row["num_trials"]}
            for point, summary in zip(points, summaries)
            for algorithm, row in summary["final"].items()]


def _evaluate_rows(points: list[Point], summaries: list[dict]) -> list[dict]:
    """Per point and agent: the improvement of its episodes (fractions)."""
    return [{"point": point.label, "run": point.workdir.name, "agent": agent,
             "metric": summary["metric"], "episodes": row["episodes"],
             "median_improvement": row["improvement"]["median"],
             "mean_improvement": row["improvement"]["mean"]}
            for point, summary in zip(points, summaries)
            for agent, row in summary["agents"].items()]


def _render_table(family: str, benchmark: str, rows: list[dict]) -> str:
    """The report of a ``search`` or ``evaluate`` sweep: one table row per point and method."""
    warning = report_lib.synthetic_warning(benchmark)
    if family == "search":
        title = (f"# Search sweep on {benchmark}: {rows[0]['metric']} after "
                 f"{rows[0]['budget']} queries")
        table = [{"point": r["point"], "algorithm": r["algorithm"],
                  "error (%)": f"{100 * r['mean']:.2f} +- {100 * (r['std'] or 0):.2f}",
                  "95% CI": f"[{100 * r['ci_low']:.2f}, {100 * r['ci_high']:.2f}]",
                  "trials": r["num_trials"], "run": f"`{r['run']}`"} for r in rows]
    else:
        title = f"# Evaluation sweep on {benchmark}: improvement of {rows[0]['metric']}"
        table = [{"point": r["point"], "agent": r["agent"],
                  "median (pp)": f"{100 * r['median_improvement']:+.2f}",
                  "mean (pp)": f"{100 * r['mean_improvement']:+.2f}",
                  "episodes": r["episodes"], "run": f"`{r['run']}`"} for r in rows]
    return (warning + title + "\n\n" + report_lib.markdown_table(table, list(table[0])) + "\n")
