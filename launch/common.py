"""What every launch script shares: its config flag, run-directory flags and ``run_main``.

    from launch import common

    _CONFIG = common.define_config("search", "Search config.")
    _RUN = common.define_run_dir("search")

    def main(argv):
        config = _CONFIG.value  # already checked against configs/search.py RULES
        with _RUN.open() as run_dir:
            ...

    if __name__ == "__main__":
        common.run_main(main, _CONFIG)

``run_main`` gives every launch the same behaviour:

- ``--help`` (exit 0): the script's docstring, its flags, the config's presets and every config
  field with its default, its rule and its comment;
- the packaged ``configs/<family>.py`` is the default ``--config``, from any directory;
- a bad config value, an unknown ``--config.FIELD``, a bad flag, a data file that fails its
  checksum, an unusable data or run directory: one line on stderr, exit code 2, no traceback,
  before any work or file for everything the command line decides;
- SIGINT / SIGTERM: one line saying what was kept, exit code 130 / 143
  (:mod:`nasjax.evaluation.interrupts`).
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import difflib
import importlib
import importlib.util
import io
import re
import sys
import time
import tokenize
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import ml_collections
from absl import app, flags
from ml_collections import config_flags

from launch.config_rules import ConfigError, check_config, field_paths
from nasjax.evaluation import interrupts, report
from nasjax.paths import DataDirError, DataFileError

CONFIG_PACKAGE = "configs"
EXIT_USAGE = 2  # bad command line, config or data: the conventional usage-error code
HELP_FLAGS = ("--help", "-help", "-h", "-?", "--helpshort", "-helpshort")
# Errors that are the user's to fix: one line, no traceback.
ONE_LINE_ERRORS = (ConfigError, DataFileError, DataDirError, report.RunDirError, app.UsageError,
                   flags.Error)


def packaged_config(name: str, package: str = CONFIG_PACKAGE) -> str:
    """The absolute path of ``<package>/<name>.py`` (``configs/search.py``), from any directory.

    Args:
      name: the config family, e.g. "search".
      package: the package holding config modules.

    Returns:
      The path, as ``config_flags.DEFINE_config_file`` takes it.

    Raises:
      FileNotFoundError: when the package has no such module.
    """
    path = Path(importlib.import_module(package).__file__).parent / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no config module {path}")
    return str(path)


@dataclasses.dataclass(frozen=True)
class ConfigFlag:
    """A launch's ``--config`` flag and the config module it defaults to.

    Attributes:
      name: the flag name ("config").
      module_name: the dotted name of the packaged config module ("configs.search"), which
        declares ``RULES``, ``PRESETS`` and ``get_config(preset)``.
      default: the absolute path of that module's file.
      holder: absl's flag holder.
    """

    name: str
    module_name: str
    default: str
    holder: flags.FlagHolder

    @property
    def value(self) -> ml_collections.ConfigDict:
        """The parsed config, with command-line overrides."""
        return self.holder.value

    @property
    def module(self) -> ModuleType:
        """The packaged config module."""
        return importlib.import_module(self.module_name)


def define_config(family: str, help_string: str, *, name: str = "config",
                  package: str = CONFIG_PACKAGE) -> ConfigFlag:
    """Defines ``--config`` (default: the packaged ``configs/<family>.py``) with overrides
    ``--config.FIELD=VALUE``.

    The flag is parsed only by :func:`run_main` (never at import), so that every error in it
    or in an override is one line.

    Args:
      family: the config family, e.g. "search".
      help_string: the flag's help.
      name: the flag name.
      package: the package holding config modules.

    Returns:
      The flag.
    """
    default = packaged_config(family, package)
    holder = config_flags.DEFINE_config_file(
        name, None, f"{help_string} PATH[:PRESET] (default: {default})")
    return ConfigFlag(name=name, module_name=f"{package}.{family}", default=default,
                      holder=holder)


@dataclasses.dataclass(frozen=True)
class RunDirFlags:
    """``--workdir`` and ``--overwrite`` of a launch that writes a run directory.

    Attributes:
      family: the default directory is ``runs/<family>-<time>``.
      workdir: flag holder.
      overwrite: flag holder.
    """

    family: str
    workdir: flags.FlagHolder
    overwrite: flags.FlagHolder

    def open(self) -> report.RunDir:
        """The run directory the flags name (see :class:`report.RunDir`).

        Raises:
          report.RunDirError: when it is not empty without ``--overwrite``, or unusable.
        """
        path = self.workdir.value
        if path is None:
            path = f"runs/{self.family}-{time.strftime('%Y%m%d-%H%M%S')}"
        return report.RunDir(path, overwrite=self.overwrite.value)


def define_run_dir(family: str) -> RunDirFlags:
    """Defines ``--workdir`` (default ``runs/<family>-<time>``) and ``--overwrite``.

    Args:
      family: the launch's name, e.g. "search".

    Returns:
      The flags.
    """
    return RunDirFlags(
        family=family,
        workdir=flags.DEFINE_string("workdir", None,
                                    f"Run directory (default runs/{family}-<time>); it must be "
                                    "empty or absent unless --overwrite is given."),
        overwrite=flags.DEFINE_bool("overwrite", False,
                                    "Replace a non-empty --workdir (only once the run is "
                                    "complete; a failed run leaves it as it was)."))


def path_flag(holder: flags.FlagHolder, kind: str = "file") -> Path | None:
    """The path a flag names, checked: None when not given.

    Args:
      holder: a string flag.
      kind: "file", "dir" or "any": what must exist there.

    Returns:
      The path, or None when the flag is unset.

    Raises:
      app.UsageError: one line when the flag is empty (which would mean ".") or names no
        ``kind``.
    """
    value = holder.value
    if value is None:
        return None
    if not value.strip():
        raise app.UsageError(f"--{holder.name} is empty; give a path or leave it out")
    path = Path(value).expanduser()
    exists = {"file": path.is_file, "dir": path.is_dir, "any": path.exists}[kind]()
    if not exists:
        what = "file or directory" if kind == "any" else kind
        raise app.UsageError(f"--{holder.name}={value}: no such {what}")
    return path


# ----------------------------------------------------------------------------- help


def _field_comments(module: ModuleType) -> dict[str, str]:
    """Leaf field name -> the comment of its ``config.NAME = ...`` line in the module source
    (the trailing comment, else the comment line just above)."""
    source = Path(module.__file__).read_text()
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    lines = source.splitlines()
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Attribute):
            line = node.lineno
            above = line - 1 if lines[line - 2].lstrip().startswith("#") else None
            comment = comments.get(node.end_lineno) or comments.get(line) or comments.get(above)
            if comment:
                found.setdefault(node.targets[0].attr, comment)
    return found


def _split_config_value(value: str) -> tuple[str, str | None]:
    path, _, preset = value.partition(":")
    return path, (preset or None)


def _load_config(value: str) -> ml_collections.ConfigDict:
    """The config a ``--config`` value names (``PATH[:PRESET]``), loaded as ml_collections does.

    Raises:
      ConfigError: one line when the file is missing or ``get_config`` fails.
    """
    path, preset = _split_config_value(value)
    if not path.strip():
        raise ConfigError("--config is empty; give a config file, e.g. configs/search.py")
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"--config={value}: no such file")
    try:
        spec = importlib.util.spec_from_file_location(f"_nasjax_config_{file.stem}", file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.get_config(*([preset] if preset else []))
    except Exception as error:  # noqa: BLE001 (any failure of the user's config file is one line)
        raise ConfigError(f"--config={value}: {error}") from None


def render_help(config: ConfigFlag | None, value: str | None = None) -> str:
    """The ``--help`` text: the script's docstring and flags, the config's presets and fields.

    Args:
      config: the launch's config flag, None for a launch without one.
      value: the ``--config`` value given on the command line, if any (its preset's defaults
        are shown).

    Returns:
      The text.
    """
    doc = (sys.modules["__main__"].__doc__ or "").strip()
    lines = [doc, "", "flags:", flags.FLAGS.main_module_help().strip(),
             flags.FLAGS.module_help(__name__).strip(), ""]
    if config is None:
        return "\n".join(lines)
    module = config.module
    loaded = _load_config(config.default if value is None else value)
    comments = _field_comments(module)
    nested = {}  # comments of blocks built by the config modules it imports (configs/agents.py)
    for other in vars(module).values():
        if isinstance(other, ModuleType) and other.__name__.startswith("configs."):
            nested.update(_field_comments(other))
    presets = getattr(module, "PRESETS", ())
    rules = getattr(module, "RULES", {})
    if presets:
        lines += [f"presets (--{config.name}=PATH:PRESET): {', '.join(presets)}", ""]
    shown = f" ({value})" if value else ""
    lines.append(f"config fields{shown}; set with --{config.name}.FIELD=VALUE:")
    for path, default in field_paths(loaded).items():
        rule = rules.get(path)
        leaf = path.rsplit(".", 1)[-1]
        comment = comments.get(leaf) or (nested.get(leaf, "") if "." in path else "")
        detail = "; ".join(part for part in (rule.allowed if rule else "", comment) if part)
        lines.append(f"  {path} = {default!r}" + (f"  ({detail})" if detail else ""))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- parsing


def _fail(message: str) -> NoReturn:
    """One line on stderr, exit code 2."""
    sys.stderr.write("error: " + " ".join(message.split()) + "\n")
    sys.exit(EXIT_USAGE)


def _config_value(argv: Sequence[str], name: str) -> str | None:
    """The ``--name=VALUE`` (or ``--name VALUE``) argument, None when absent."""
    pattern = re.compile(rf"^--?{re.escape(name)}(=(.*))?$")
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        match = pattern.match(arg)
        if match:
            if match.group(1) is not None:
                return match.group(2)
            return argv[index + 1] if index + 1 < len(argv) else ""
    return None


def _overrides(argv: Sequence[str], name: str) -> list[tuple[str, str]]:
    """``(argument, field path)`` of every ``--name.FIELD[=VALUE]`` override."""
    pattern = re.compile(rf"^--?(?:no)?{re.escape(name)}\.([^=]+)")
    found = []
    for arg in argv:
        if arg == "--":
            break
        match = pattern.match(arg)
        if match:
            found.append((arg, match.group(1)))
    return found


def _check_overrides(config: ml_collections.ConfigDict, argv: Sequence[str], name: str) -> None:
    """Every ``--config.FIELD`` names a field (ml_collections answers with chained tracebacks)."""
    fields = field_paths(config)
    for arg, path in _overrides(argv, name):
        members = [field for field in fields if field.startswith(path + ".")]
        if members:
            raise ConfigError(f"{arg}: {path!r} is a group of fields ({', '.join(members)}); "
                              f"set them one by one, e.g. --{name}.{members[0]}=...")
        if path not in fields:
            close = difflib.get_close_matches(path, list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{arg}: unknown config field {path!r}{hint}; --help lists the "
                              "fields")


def _parse_flags(config: ConfigFlag | None, argv: list[str]) -> list[str]:
    """absl ``flags_parser``: help, the default config, override names, then the flags."""
    args = argv[1:argv.index("--")] if "--" in argv else argv[1:]
    value = _config_value(argv, config.name) if config else None
    try:
        if any(arg in HELP_FLAGS for arg in args):
            sys.stdout.write(render_help(config, value))
            sys.exit(0)
        if config is not None:
            if value is None:
                value = config.default
                argv = [argv[0], f"--{config.name}={value}", *argv[1:]]
            _check_overrides(_load_config(value), argv, config.name)
        return flags.FLAGS(argv)
    except ONE_LINE_ERRORS as error:
        _fail(str(error))
    except (TypeError, ValueError, AttributeError, KeyError) as error:  # an override's value
        _fail(f"bad command line: {error}")


@contextlib.contextmanager
def config_errors() -> Iterator[None]:
    """Turn a ValueError raised while building things from the config (e.g. a tournament larger
    than the population) into a one-line :class:`ConfigError`."""
    try:
        yield
    except ValueError as error:
        raise ConfigError(f"bad config: {error}") from None


def run_main(main: Callable[[list[str]], object], config: ConfigFlag | None = None) -> None:
    """``app.run(main)`` with the launch conventions of the module docstring.

    Args:
      main: the launch's main function.
      config: its config flag: checked against the config module's ``RULES`` before ``main``.
    """
    def checked_main(argv: list[str]) -> object:
        try:
            with interrupts.clean_stop():
                if config is not None:
                    check_config(config.value, config.module.RULES, config.name)
                return main(argv)
        except ONE_LINE_ERRORS as error:
            _fail(str(error))

    app.run(checked_main, flags_parser=lambda argv: _parse_flags(config, argv))
