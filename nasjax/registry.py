"""One registry for search spaces, benchmarks and agents (jumanji's ``register`` / ``make``).

Launch scripts and configs name things; they never branch on names. A new space, benchmark or
agent is a module plus one :func:`register` call. A factory may be given as a callable or as a
``"module:attribute"`` string, imported on first :func:`make`, so that registering costs
nothing and importing nasjax does not import every algorithm.

This module imports no other part of nasjax: the packages register their own items when
imported (``nasjax.spaces``, ``nasjax.benchmarks``, ``nasjax.agents``), and ``import nasjax``,
which any ``nasjax.*`` import runs first, imports all three.

  >>> from nasjax import registry
  >>> space = registry.make("space", "nb101")
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

KINDS = ("space", "benchmark", "agent")


@dataclasses.dataclass(frozen=True)
class Entry:
    """A registered item: its kind, name, factory and static facts (``info``)."""

    kind: str
    name: str
    factory: Callable[..., Any] | str
    kwargs: dict  # passed to the factory by make (before make's own keyword arguments)
    info: dict

    def load(self) -> Callable[..., Any]:
        """The factory, imported if it was registered as ``"module:attribute"``."""
        return resolve(self.factory)


def resolve(reference: Callable[..., Any] | str) -> Callable[..., Any]:
    """A callable, or the attribute a ``"module:attribute"`` string names (imported now)."""
    if callable(reference):
        return reference
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


_REGISTRY: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown registry kind {kind!r}; choose one of {', '.join(KINDS)}")


def register(kind: str, name: str, factory: Callable[..., Any] | str, *,
             kwargs: dict | None = None, **info) -> Entry:
    """Register ``factory`` as the ``kind`` called ``name``.

    Args:
      kind: ``"space"``, ``"benchmark"`` or ``"agent"``.
      name: the name configs and command lines use.
      factory: builds the item (``make`` passes its keyword arguments), or
        ``"module:attribute"`` naming it.
      kwargs: keyword arguments always passed to the factory (one factory, several names).
      **info: static facts shown by :func:`entry` (for a space its ``neighbourhoods`` and its
        ``env`` defaults: N, alpha, neighbour strategy; for a benchmark its ``space``; for an
        agent its ``type`` and its ``config``: ``(block name, "module:FIELDS")``).
    Raises:
      ValueError when the name is taken by a different factory.
    """
    _check_kind(kind)
    old = _REGISTRY[kind].get(name)
    kwargs = dict(kwargs or {})
    if old is not None and (old.factory, old.kwargs) != (factory, kwargs):
        raise ValueError(f"{kind} {name!r} is already registered (by {old.factory!r})")
    entry = Entry(kind=kind, name=name, factory=factory, kwargs=kwargs, info=dict(info))
    _REGISTRY[kind][name] = entry
    return entry


def entry(kind: str, name: str) -> Entry:
    """The registered entry; ValueError listing the known names when ``name`` is unknown."""
    _check_kind(kind)
    if name not in _REGISTRY[kind]:
        raise ValueError(f"unknown {kind} {name!r}; registered: {', '.join(names(kind))}")
    return _REGISTRY[kind][name]


def make(kind: str, name: str, **kwargs) -> Any:
    """Build the registered ``kind`` called ``name`` with ``kwargs``."""
    found = entry(kind, name)
    return found.load()(**{**found.kwargs, **kwargs})


def names(kind: str) -> tuple[str, ...]:
    """Registered names of a kind, in registration order."""
    _check_kind(kind)
    return tuple(_REGISTRY[kind])

