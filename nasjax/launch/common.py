"""What every launch script shares: its config flag, run-directory flags and ``run_main``.

    from nasjax.launch import common

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
  field with its default, its rule and its help (the module's ``FIELDS``,
  :mod:`nasjax.config_fields`);
- the packaged ``nasjax/configs/<family>.py`` is the default ``--config``, from any directory,
  and ``--config=:PRESET`` names one of its presets without a path;
- a bad config value, an unknown ``--config.FIELD``, a bad flag, a data file that fails its
  checksum, an unusable data or run directory: one line on stderr, exit code 2, no traceback,
  before any work or file for everything the command line decides;
- SIGINT / SIGTERM: one line saying what was kept, exit code 130 / 143
  (:mod:`nasjax.evaluation.interrupts`);
- a run directory is locked for the life of the run (:class:`RunLock`, ``DIR.lock`` beside it):
  a second launch on the same directory is refused, even with ``--overwrite``, naming the
  process that holds it;
- compiled programs are cached across launches (:mod:`nasjax.launch.compile_cache`,
  ``~/.cache/nasjax-compiled``; ``NASJAX_COMPILATION_CACHE=off`` turns it off).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib
import importlib.util
import json
import logging
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import ml_collections
from absl import app, flags
from ml_collections import config_flags
from ml_collections.config_flags import config_path

from nasjax.config_rules import ConfigError, check_config, field_paths
from nasjax.distributed import DistributedError
from nasjax.evaluation import interrupts, report
from nasjax.launch import compile_cache, multihost, sweep
from nasjax.paths import DataDirError, DataFileError

CONFIG_PACKAGE = "nasjax.configs"
EXIT_USAGE = 2  # bad command line, config or data: the conventional usage-error code
HELP_FLAGS = ("--help", "-help", "-h", "-?", "--helpshort", "-helpshort")
# Errors that are the user's to fix: one line, no traceback.
ONE_LINE_ERRORS = (ConfigError, DataFileError, DataDirError, report.RunDirError, app.UsageError,
                   flags.Error, DistributedError)


def packaged_config(name: str, package: str = CONFIG_PACKAGE) -> str:
    """The absolute path of ``<package>/<name>.py`` (``nasjax/configs/search.py``), from any
    directory.

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
      module_name: the dotted name of the packaged config module ("nasjax.configs.search"), which
        declares ``FIELDS`` (:mod:`nasjax.config_fields`), ``RULES`` (derived from it),
        ``PRESETS`` and ``get_config(preset)``.
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
    """Defines ``--config`` (default: the packaged ``nasjax/configs/<family>.py``; ``:PRESET``
    names one of its presets) with overrides ``--config.FIELD=VALUE``.

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
        name, None, f"{help_string} PATH[:PRESET], or :PRESET of the default {default}")
    sweep.define_flag()
    return ConfigFlag(name=name, module_name=f"{package}.{family}", default=default,
                      holder=holder)


class RunLock:
    """The lock of a run directory ``DIR``: the file ``DIR.lock`` beside it (so that it outlives
    the staging directory an ``--overwrite`` replaces), holding the pid, host and start time of
    the process that runs there.

    It is created whole (written to a temporary file, then hard-linked to its name, which fails
    when the name exists), so a reader never sees a half-written lock. A lock whose process no
    longer runs on this host (killed with ``kill -9``, or a second signal) is stale: it is taken
    over with one line on stderr. Any other lock refuses the directory.
    """

    SUFFIX = ".lock"

    def __init__(self, directory: str | Path) -> None:
        """Takes the lock of ``directory``.

        Args:
          directory: the run directory ``DIR`` (it need not exist).

        Raises:
          report.RunDirError: one line naming the pid and host of a live run holding it, or
            saying why the lock cannot be written.
        """
        self.directory = Path(os.path.abspath(Path(directory).expanduser()))
        self.path = self.directory.with_name(self.directory.name + self.SUFFIX)
        self.record = {"pid": os.getpid(), "host": socket.gethostname(),
                       "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(2):  # a stale lock is removed once, then taken
            holder = self._create()
            if holder is None:
                return
            if not self._stale(holder):
                raise report.RunDirError(
                    f"--workdir {self.directory} is in use by pid {holder['pid']} on "
                    f"{holder['host']} (since {holder['started']}; lock {self.path}); wait for "
                    "that run to end or stop it, or pick another --workdir")
            sys.stderr.write(f"taking over the stale lock {self.path} of pid {holder['pid']} on "
                             f"{holder['host']} (no longer running)\n")
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        raise report.RunDirError(f"--workdir {self.directory}: another launch took its lock "
                                 f"{self.path} meanwhile; pick another --workdir")

    def _create(self) -> dict | None:
        """Creates the lock file; None when taken, else the record of the lock that exists."""
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self.record) + "\n")
            os.link(tmp, self.path)
            return None
        except FileExistsError:
            return self._read()
        except OSError as error:
            raise report.RunDirError(f"cannot write the lock {self.path} of --workdir "
                                     f"{self.directory}: {error.strerror}; pick another "
                                     "--workdir") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def _read(self) -> dict:
        """The record of the existing lock file (refused in one line when unreadable)."""
        try:
            holder = json.loads(self.path.read_text())
            return {"pid": int(holder["pid"]), "host": str(holder["host"]),
                    "started": str(holder["started"])}
        except FileNotFoundError:  # released meanwhile: an unknown holder that is gone
            return {"pid": 0, "host": socket.gethostname(), "started": "?"}
        except (OSError, ValueError, KeyError, TypeError):
            raise report.RunDirError(
                f"--workdir {self.directory} has an unreadable lock {self.path}; remove it if no "
                "run uses that directory, or pick another --workdir") from None

    @staticmethod
    def _stale(holder: dict) -> bool:
        """Whether the holder is a process of this host that no longer runs."""
        if holder["host"] != socket.gethostname():
            return False  # another machine's process cannot be checked from here
        if holder["pid"] <= 0:
            return True
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # runs, as another user
            return False
        return False

    def release(self) -> None:
        """Removes the lock, when it is still this process's."""
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            if json.loads(self.path.read_text())["pid"] == self.record["pid"]:
                self.path.unlink()


class LockedRunDir(report.RunDir):
    """A :class:`report.RunDir` that holds its :class:`RunLock` from before it touches the
    directory (an ``--overwrite`` removes an old staging directory) until it is finished or
    abandoned."""

    def __init__(self, path: str | Path, *, overwrite: bool = False,
                 resume: bool = False) -> None:
        """Takes the lock, then opens the run directory as :class:`report.RunDir` does.

        Raises:
          report.RunDirError: one line when another live run holds the directory, or as
            :class:`report.RunDir`.
        """
        if not str(path).strip():
            raise report.RunDirError("--workdir is empty; give a directory")
        self.lock = RunLock(path)
        try:
            super().__init__(path, overwrite=overwrite, resume=resume)
        except BaseException:
            self.lock.release()
            raise

    def __exit__(self, kind, error, traceback) -> None:
        try:
            super().__exit__(kind, error, traceback)
        finally:
            self.lock.release()


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

    def path(self) -> str:
        """The ``--workdir`` value, or the default ``runs/<family>-<time>``."""
        value = self.workdir.value
        return f"runs/{self.family}-{time.strftime('%Y%m%d-%H%M%S')}" if value is None else value

    def open(self) -> LockedRunDir:
        """The run directory the flags name, locked (see :class:`LockedRunDir`).

        Raises:
          report.RunDirError: when it is not empty without ``--overwrite``, another live run
            holds it, or it is unusable.
        """
        return multihost.run_dir(lambda: LockedRunDir(self.path(), overwrite=self.overwrite.value))


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
             flags.FLAGS.module_help(__name__).strip(),
             flags.FLAGS.module_help(sweep.__name__).strip(),
             flags.FLAGS.module_help(multihost.__name__).strip(), ""]
    if config is None:
        return "\n".join(lines)
    module = config.module
    loaded = _load_config(config.default if value is None else value)
    declared = module.FIELDS.leaves()
    presets = getattr(module, "PRESETS", ())
    if presets:
        lines += [f"presets (--{config.name}=:PRESET, or PATH:PRESET): {', '.join(presets)}",
                  ""]
    if sweep.help_line(module):
        lines += [sweep.help_line(module), ""]
    shown = f" ({value})" if value else ""
    lines.append(f"config fields{shown}; set with --{config.name}.FIELD=VALUE:")
    for path, default in field_paths(loaded).items():
        field = declared.get(path)
        parts = (field.rule.allowed, field.describe()) if field else ()
        detail = "; ".join(part for part in parts if part)
        lines.append(f"  {path} = {default!r}" + (f"  ({detail})" if detail else ""))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- parsing


def _fail(message: str) -> NoReturn:
    """One line on stderr, exit code 2."""
    sys.stderr.write("error: " + " ".join(message.split()) + "\n")
    sys.exit(EXIT_USAGE)


def _find_flag(argv: Sequence[str], name: str) -> tuple[int, str | None] | None:
    """``(index, inline value)`` of the first ``--name=VALUE`` (inline) or ``--name VALUE``
    (inline None) argument before ``--``; None when absent."""
    pattern = re.compile(rf"^--?{re.escape(name)}(=(.*))?$")
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        match = pattern.match(arg)
        if match:
            return index, match.group(2) if match.group(1) is not None else None
    return None


def _config_value(argv: Sequence[str], name: str) -> str | None:
    """The ``--name=VALUE`` (or ``--name VALUE``) argument, None when absent."""
    found = _find_flag(argv, name)
    if found is None:
        return None
    index, inline = found
    if inline is not None:
        return inline
    return argv[index + 1] if index + 1 < len(argv) else ""


def _with_config_value(argv: list[str], name: str, value: str) -> list[str]:
    """``argv`` with the ``--name=VALUE`` (or ``--name VALUE``) argument set to ``value``."""
    argv = list(argv)
    found = _find_flag(argv, name)
    if found is not None:
        index, inline = found
        if inline is not None:
            argv[index] = f"--{name}={value}"
        else:
            argv[index + 1] = value
    return argv


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


def _without_none_overrides(argv: list[str], name: str) -> tuple[list[str], list[str]]:
    """``(argv, paths)``: the fields whose last override is ``--name.FIELD=None`` (absl would
    parse None as the field's type and fail); argv without any None override and without the
    other overrides of those fields."""
    overrides = _overrides(argv, name)
    last = {path: arg for arg, path in overrides}

    def none(arg: str) -> bool:
        return arg.partition("=")[2].strip() in sweep.NONE

    nones = [path for path, arg in last.items() if none(arg)]
    dropped = {arg for arg, path in overrides if none(arg) or path in nones}
    return [arg for arg in argv if arg not in dropped], nones


def _parse_flags(config: ConfigFlag | None, argv: list[str]) -> list[str]:
    """absl ``flags_parser``: help, the default config, override names, then the flags."""
    args = argv[1:argv.index("--")] if "--" in argv else argv[1:]
    value = _config_value(argv, config.name) if config else None
    if value is not None and value.startswith(":"):  # a preset of the packaged config file
        value = config.default + value
        argv = _with_config_value(argv, config.name, value)
    nones: list[str] = []  # fields set to None on the command line
    try:
        if any(arg in HELP_FLAGS for arg in args):
            sys.stdout.write(render_help(config, value))
            sys.exit(0)
        if config is not None:
            if value is None:
                value = config.default
                argv = [argv[0], f"--{config.name}={value}", *argv[1:]]
            _check_overrides(_load_config(value), argv, config.name)
            argv, nones = _without_none_overrides(argv, config.name)
        remaining = flags.FLAGS(argv)
        for path in nones:
            config_path.set_value(path, config.value, None)  # the rules decide (run_main)
        return remaining
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


@contextlib.contextmanager
def missing_data() -> Iterator[None]:
    """Turn a FileNotFoundError raised while loading data (an official benchmark not converted
    yet: its message names the ``launch.prepare_data`` command) into a one-line
    :class:`DataDirError`."""
    try:
        yield
    except FileNotFoundError as error:
        raise DataDirError(str(error)) from None


def without_missing_figures(markdown: str, directory: Path) -> str:
    """The report without the image links (and their blank line) of figures not written."""
    def keep(match: re.Match) -> str:
        return match.group(0) if (directory / match.group(1)).is_file() else ""

    return re.sub(r"!\[[^\]]*\]\(([^)/]+\.png)\)\n\n?", keep, markdown)


def check_budgets(budgets, last: int, fields: str) -> None:
    """Refuses table rows past the last query (they would be dropped without a word).

    Args:
      budgets: the ``budgets`` field (query counts of the table rows).
      last: the queries a trial makes.
      fields: "config.budgets" and the field that sets ``last``, for the message
        ("config.budget").

    Raises:
      ConfigError: one line naming the rows past ``last``.
    """
    beyond = [b for b in budgets if b > last]
    if beyond:
        raise ConfigError(f"config.budgets = {tuple(budgets)}: {', '.join(map(str, beyond))} "
                          f"past {fields} = {last}, where trials end; drop them or raise "
                          f"{fields}")


def available_memory() -> int:
    """Bytes of memory a new allocation can take: Linux's ``MemAvailable``, else the physical
    memory."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(estimate: float, what: str, fields: str) -> None:
    """Refuses a config whose arrays would not fit in memory, before allocating them.

    Args:
      estimate: bytes the run's host arrays need (an estimate from the config).
      what: the quantity, in words ("1,000,000,000 trials x 150 queries x 3 algorithms").
      fields: the config fields that set it, for the message.

    Raises:
      ConfigError: one line naming the estimate, the memory available and the fields.
    """
    available = available_memory()
    if estimate > available:
        raise ConfigError(f"{what} needs about {estimate / 2**30:,.1f} GiB of memory, more than "
                          f"the {available / 2**30:,.1f} GiB available; lower {fields}")


def check_family(config: ConfigFlag) -> None:
    """Refuses a config file of another launch (``launch.search --config=configs/apex.py``):
    its fields are not the ones the packaged config module has rules for.

    Raises:
      ConfigError: one line naming the file, what it lacks and the packaged config.
    """
    fields = set(field_paths(config.value))
    rules = set(config.module.RULES)
    if fields != rules:
        given = config_flags.get_config_filename(flags.FLAGS[config.name])
        lacks = sorted(rules - fields)
        extra = sorted(fields - rules)
        what = "; ".join(part for part in (
            f"it lacks {', '.join(lacks[:3])}{', ...' if len(lacks) > 3 else ''}" if lacks else "",
            f"it has {', '.join(extra[:3])}{', ...' if len(extra) > 3 else ''}" if extra else "")
            if part)
        raise ConfigError(f"--{config.name}={given} is not a config of this launch ({what}); use "
                          f"{config.default} or a copy of it")


def run_main(main: Callable[[list[str]], object], config: ConfigFlag | None = None,
             together: sweep.Together | None = None, done: str = multihost.DONE) -> None:
    """``app.run(main)`` with the launch conventions of the module docstring.

    Args:
      main: the launch's main function.
      config: its config flag: checked against the config module's ``RULES`` before ``main``.
      together: how the launch runs sweep points together (:mod:`launch.sweep`), if it can.
      done: what the line of a process other than 0 says after ``done;`` (multi-process runs).
    """
    def checked_main(argv: list[str]) -> object:
        try:
            with interrupts.clean_stop():
                if config is not None:
                    check_family(config)
                    check_config(config.value, config.module.RULES, config.name)
                compile_cache.enable()  # once the command line is accepted, before compiling
                multihost.start()
                with multihost.running(done):
                    if config is not None and sweep.requested():
                        return sweep.run(main, config, config.module_name.rsplit(".", 1)[-1],
                                         together)
                    return main(argv)
        except ONE_LINE_ERRORS as error:
            _fail(str(error))
        finally:  # the start-up handler of launch/__init__.py is not for the exit
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    logging.getLogger("jax._src.xla_bridge").addFilter(_quiet_backend_probe)
    app.run(checked_main, flags_parser=lambda argv: _parse_flags(config, argv))


def _quiet_backend_probe(record: logging.LogRecord) -> bool:
    """Drops JAX's INFO line about a platform it probes and cannot use ("Unable to initialize
    backend 'tpu'"), which otherwise precedes every one-line error; its warnings pass."""
    return not (record.levelno <= logging.INFO
                and record.getMessage().startswith("Unable to initialize backend"))
