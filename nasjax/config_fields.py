"""One declaration per config field: its default, its rule and its help together.

A component declares its hyperparameters beside its code as a :class:`Block` of fields
(:class:`Field`); the ``ConfigDict`` of its defaults, the rules that
:func:`~nasjax.config_rules.check_config` applies, ``--help`` and the "our choice" marks of
reports all derive from it::

    FIELDS = config_fields.block(
        population_size=config_fields.field(50, rules.int_range(2, 100_000), "P: members kept"),
        ff_dim=config_fields.field(0, rules.int_range(0, 1 << 16), "PosFF hidden width",
                                   ours=True),
    )
    config = FIELDS.config()  # ConfigDict(population_size=50, ff_dim=0)
    FIELDS.rules()            # {"population_size": Rule(...), "ff_dim": Rule(...)}

The fields every launch config shares (``preset``, ``benchmark``, ``data_dir``, ``seed``) are
declared here once: :func:`launch_fields`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import ml_collections

from nasjax import config_rules as rules
from nasjax import registry

OURS_MARK = "our choice: "  # how --help marks a value the papers do not give


class _Required:
    """The default of a field that has none of its own (given per item, e.g. per space)."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()


@dataclasses.dataclass(frozen=True)
class Field:
    """A config field.

    Attributes:
      default: its value unless a preset or the command line sets it (:data:`REQUIRED`: given
        by whoever builds the block, e.g. a space's registration).
      rule: what it allows.
      help: what it means and where its value comes from (a paper's section, a library's
        default), shown by ``--help``.
      ours: True for a value the papers do not give: ``--help`` and reports mark it.
    """

    default: Any
    rule: rules.Rule
    help: str = ""
    ours: bool = False

    def describe(self) -> str:
        """The help text as ``--help`` shows it (marked when the value is ours)."""
        return OURS_MARK + self.help if self.ours else self.help

    def but(self, **changes: Any) -> Field:
        """This field with some attributes changed (e.g. another default or help)."""
        return dataclasses.replace(self, **changes)


def field(default: Any, rule: rules.Rule, help: str = "", *, ours: bool = False) -> Field:
    """Declares a field (see :class:`Field`)."""
    return Field(default=default, rule=rule, help=help, ours=ours)


@dataclasses.dataclass(frozen=True)
class Block:
    """Fields and nested blocks by name, in declaration order (the order of the ConfigDict)."""

    items: tuple[tuple[str, Field | Block], ...]

    def __getitem__(self, name: str) -> Field | Block:
        for key, item in self.items:
            if key == name:
                return item
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self.items)

    def config(self, **values: Any) -> ml_collections.ConfigDict:
        """The ConfigDict of the declared defaults, ``values`` replacing some of them.

        Raises:
          ValueError: for a name that is not declared, or a :data:`REQUIRED` field not given.
        """
        unknown = [name for name in values if name not in set(self)]
        if unknown:
            raise ValueError(f"no config field {unknown[0]!r}; declared: {', '.join(self)}")
        config = ml_collections.ConfigDict()
        for name, item in self.items:
            if name in values:
                config[name] = values[name]
            elif isinstance(item, Block):
                config[name] = item.config()
            elif item.default is REQUIRED:
                raise ValueError(f"config field {name!r} has no default; give its value")
            else:
                config[name] = item.default
        return config

    def leaves(self, prefix: str = "") -> dict[str, Field]:
        """Every field by dotted path, in declaration order."""
        found = {}
        for name, item in self.items:
            if isinstance(item, Block):
                found.update(item.leaves(f"{prefix}{name}."))
            else:
                found[prefix + name] = item
        return found

    def rules(self) -> dict[str, rules.Rule]:
        """Dotted path -> rule, for :func:`~nasjax.config_rules.check_config`."""
        return {path: item.rule for path, item in self.leaves().items()}

    def help(self) -> dict[str, str]:
        """Dotted path -> help text, as ``--help`` shows it."""
        return {path: item.describe() for path, item in self.leaves().items()}

    def ours(self) -> tuple[str, ...]:
        """The dotted paths of the fields whose values the papers do not give."""
        return tuple(path for path, item in self.leaves().items() if item.ours)

    def but(self, **changes: Field | Block) -> Block:
        """This block with some items replaced (in place) or added (at the end)."""
        items = [(name, changes.get(name, item)) for name, item in self.items]
        items += [(name, item) for name, item in changes.items() if name not in set(self)]
        return Block(tuple(items))


def block(**items: Field | Block) -> Block:
    """Declares a block of fields and nested blocks, in the order given."""
    return Block(tuple(items.items()))


def launch_fields(presets: tuple[str, ...], *, benchmark: str, seed: str) -> dict[str, Field]:
    """The fields every launch config opens with: ``preset``, ``benchmark``, ``data_dir`` and
    ``seed``, declared once.

    Args:
      presets: the config's presets; the first is its default.
      benchmark: what the launch needs of its benchmark, for the help.
      seed: what the seed seeds, for the help.

    Returns:
      The four fields, in order, for :func:`block`.
    """
    return {
        "preset": field(presets[0], rules.one_of(*presets),
                        "the preset the config was built from (--config=:PRESET)"),
        "benchmark": field("nb101-surrogate",
                           rules.name(lambda: registry.names("benchmark"), "benchmark"),
                           benchmark),
        "data_dir": field("", rules.text("a directory, or '' for $NASJAX_DATA / ~/.cache/nasjax"),
                          "'' = $NASJAX_DATA or ~/.cache/nasjax"),
        "seed": field(0, rules.int_range(0, 2**31 - 1), seed),
    }
