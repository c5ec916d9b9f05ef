"""Specification of nasjax.config_rules: declared field rules and one-line config errors."""

from __future__ import annotations

import ml_collections
import pytest

from nasjax import config_rules as rules
from tests.launch import fake_config


@pytest.mark.parametrize("rule, good, bad", [
    (rules.positive_int(), [1, 500], [0, -3, 1.5, True, "3", None]),
    (rules.int_range(1, 3), [1, 3], [0, 4, 2.0]),
    (rules.number(0.0, 1.0, low_open=True), [1e-9, 0.5, 1, 1.0], [0, 0.0, 1.5, float("nan"), "1"]),
    (rules.number(), [-2.5, 0, 7], [float("inf"), False]),
    (rules.fraction(), [0, 0.25, 1.0], [-0.1, 1.01]),
    (rules.one_of("mean", "noisy"), ["mean", "noisy"], ["Mean", "", None]),
    (rules.boolean(), [True, False], [0, 1, "True"]),
    (rules.text(), ["", "/data"], [None, 3]),
    (rules.sequence_of(rules.positive_int()), [(1,), [5, 10]], [(), (1, 0), "12", 3]),
    (rules.names(lambda: ("a", "b"), "agent"), ["a", "a,b", " b , a "], ["", "a,", "c", "a,c", 1]),
])
def test_rules_accept_and_refuse(rule, good, bad):
    assert all(rule.problem(value) is None for value in good)
    assert all(rule.problem(value) is not None for value in bad)


def test_rules_say_what_is_allowed():
    assert rules.positive_int().problem(0) == "must be a positive integer"
    assert rules.int_range(1, 3).problem(4) == "must be an integer in [1, 3]"
    assert rules.number(0.0, 1.0, low_open=True).problem(0) == "must be a number in (0, 1]"
    assert rules.number(0.0).problem(-1) == "must be a number in [0, inf)"
    assert rules.one_of("mean", "noisy").problem("x") == "must be one of 'mean', 'noisy'"
    assert rules.sequence_of(rules.positive_int()).problem(()) == (
        "must be a non-empty tuple of: a positive integer")


def test_a_name_list_names_the_unknown_item():
    rule = rules.names(lambda: ("random_search", "local_search"), "agent")
    assert rule.problem("random_search,bogus") == (
        "unknown agent 'bogus'; known: local_search, random_search")
    assert rule.problem("") == ("must be a non-empty comma-separated list of agent names "
                                "(local_search, random_search)")


def test_check_config_gives_one_line_for_the_first_bad_field():
    config = fake_config.get_config()
    rules.check_config(config, fake_config.RULES)
    config.num_trials = 0
    config.inner.rate = 2.0
    with pytest.raises(rules.ConfigError) as error:
        rules.check_config(config, fake_config.RULES)
    assert str(error.value) == "config.inner.rate = 2.0: must be a number in (0, 1]"


def test_rules_must_cover_exactly_the_fields():
    config = ml_collections.ConfigDict({"a": 1, "b": {"c": 2}})
    with pytest.raises(ValueError, match=r"no rule for \['b.c'\], rules for absent fields \['d'\]"):
        rules.check_config(config, {"a": rules.positive_int(), "d": rules.positive_int()})


def test_field_paths_are_dotted():
    config = ml_collections.ConfigDict({"b": 1, "a": {"d": 2, "c": (3,)}})
    assert rules.field_paths(config) == {"a.c": (3,), "a.d": 2, "b": 1}
