"""Declared rules for config fields, checked before a launch does any work or writes any file.

A config module (``configs/<family>.py``) has ``RULES``: a dict from every field's dotted path
to a :class:`Rule`, derived from its declaration (:mod:`nasjax.config_fields`)::

    RULES = {
        "num_trials": config_rules.positive_int(),
        "mode": config_rules.one_of("mean", "noisy"),
        "algorithms": config_rules.names(lambda: registry.names("agent"), "agent"),
        "remaade.clip_eps": config_rules.number(0.0, 1.0, low_open=True, high_open=True),
    }

:func:`check_config` raises :class:`ConfigError` with one line naming the field, the value and
what is allowed: ``config.num_trials = 0: must be a positive integer``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import ml_collections


class ConfigError(ValueError):
    """A config value (or a ``--config`` flag) that the launch cannot use; one line."""


@dataclasses.dataclass(frozen=True)
class Rule:
    """What a field allows.

    Attributes:
      allowed: the allowed values in words, completing "must be ..." (e.g. "a positive integer").
      test: True for an allowed value.
      explain: optional; the problem of a disallowed value in words, when "must be <allowed>"
        says too little (e.g. which name of a list is unknown).
    """

    allowed: str
    test: Callable[[Any], bool]
    explain: Callable[[Any], str] | None = None

    def problem(self, value: Any) -> str | None:
        """None for an allowed value, else what is wrong with it."""
        if self.test(value):
            return None
        return self.explain(value) if self.explain else f"must be {self.allowed}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def positive_int() -> Rule:
    """An integer >= 1."""
    return Rule("a positive integer", lambda v: _is_int(v) and v >= 1)


def int_range(low: int, high: int) -> Rule:
    """An integer in ``[low, high]``."""
    return Rule(f"an integer in [{low}, {high}]", lambda v: _is_int(v) and low <= v <= high)


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False) -> Rule:
    """A finite number within optional bounds, each closed unless ``*_open``."""
    def test(value: Any) -> bool:
        if not _is_number(value):
            return False
        above = low is None or (value > low if low_open else value >= low)
        below = high is None or (value < high if high_open else value <= high)
        return above and below

    if low is None and high is None:
        return Rule("a finite number", test)
    left = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
    right = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
    return Rule(f"a number in {left}, {right}", test)


def fraction() -> Rule:
    """A number in [0, 1]."""
    return number(0.0, 1.0)


def one_of(*choices: Any) -> Rule:
    """One of the given values."""
    return Rule("one of " + ", ".join(repr(c) for c in choices), lambda v: v in choices)


def boolean() -> Rule:
    """True or False."""
    return Rule("True or False", lambda v: isinstance(v, bool))


def text(allowed: str = "a string") -> Rule:
    """Any string (e.g. a path, '' for a default); ``allowed`` says what it means."""
    return Rule(allowed, lambda v: isinstance(v, str))


def names(choices: Callable[[], Iterable[str]], what: str) -> Rule:
    """A non-empty comma-separated list of names, each one of ``choices()``.

    Args:
      choices: returns the known names (called when checking, so a registry is read lazily).
      what: what the names are, e.g. "agent".
    """
    def items(value: Any) -> list[str]:
        return [item.strip() for item in value.split(",")] if isinstance(value, str) else []

    def test(value: Any) -> bool:
        known = set(choices())
        return bool(items(value)) and all(item in known for item in items(value))

    def explain(value: Any) -> str:
        known = sorted(choices())
        unknown = [item for item in items(value) if item not in known]
        if unknown and all(unknown):
            return f"unknown {what} {unknown[0]!r}; known: {', '.join(known)}"
        return f"must be a non-empty comma-separated list of {what} names ({', '.join(known)})"

    return Rule(f"a non-empty comma-separated list of {what} names", test, explain)


def name(choices: Callable[[], Iterable[str]], what: str) -> Rule:
    """One name among ``choices()`` (read when checking, e.g. from the registry)."""
    def explain(value: Any) -> str:
        return f"unknown {what} {value!r}; known: {', '.join(sorted(choices()))}"

    return Rule(f"one {what} name", lambda v: isinstance(v, str) and v in set(choices()), explain)


def sequence_of(rule: Rule) -> Rule:
    """A non-empty tuple or list whose items all satisfy ``rule``."""
    return Rule(f"a non-empty tuple of: {rule.allowed}",
                lambda v: isinstance(v, (tuple, list)) and len(v) > 0
                and all(rule.test(item) for item in v))


def prefixed(prefix: str, rules: Mapping[str, Rule]) -> dict[str, Rule]:
    """The rules of a block, for a config that holds it as the field ``prefix``."""
    return {f"{prefix}.{path}": rule for path, rule in rules.items()}


def field_paths(config: ml_collections.ConfigDict, prefix: str = "") -> dict[str, Any]:
    """Every leaf field of ``config`` by dotted path, sorted (as ``ConfigDict.items``)."""
    fields = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, ml_collections.ConfigDict):
            fields.update(field_paths(value, path + "."))
        else:
            fields[path] = value
    return fields


def check_config(config: ml_collections.ConfigDict, rules: Mapping[str, Rule],
                 flag: str = "config") -> None:
    """Checks every field of ``config`` against its rule.

    Args:
      config: the config to check.
      rules: dotted field path -> rule; it must cover every field, and only those.
      flag: the config flag's name, for the message.

    Raises:
      ConfigError: one line, ``config.FIELD = VALUE: must be ALLOWED``, for the first field
        (by sorted path) whose value breaks its rule.
      ValueError: when ``rules`` misses a field or names one the config lacks (a bug of the
        config module, not of the command line).
    """
    fields = field_paths(config)
    missing = [path for path in fields if path not in rules]
    extra = [path for path in rules if path not in fields]
    if missing or extra:
        raise ValueError(f"config rules do not match the fields: no rule for {missing}, "
                         f"rules for absent fields {extra}")
    for path, value in fields.items():
        problem = rules[path].problem(value)
        if problem:
            raise ConfigError(f"{flag}.{path} = {value!r}: {problem}")
