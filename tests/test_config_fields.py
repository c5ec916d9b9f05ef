"""nasjax.config_fields: one declaration gives a field's default, rule and help; a space's
registration gives its environment defaults, with no edit of nasjax/configs."""

from __future__ import annotations

import pytest

from nasjax import config_fields, config_rules, env, registry
from nasjax.config_fields import REQUIRED, field
from nasjax.configs import agents as agent_configs
from nasjax.configs import apex, environment, evaluate

INNER = config_fields.block(rate=field(0.5, config_rules.fraction(), "a rate", ours=True))
FIELDS = config_fields.block(
    size=field(3, config_rules.positive_int(), "items"),
    inner=INNER,
    scale=field(REQUIRED, config_rules.number(0.0), "given per item"),
)


def test_a_block_builds_its_config_rules_and_help_in_declaration_order():
    config = FIELDS.config(scale=2.0)
    assert config.to_dict() == {"size": 3, "inner": {"rate": 0.5}, "scale": 2.0}
    assert list(FIELDS.rules()) == ["size", "inner.rate", "scale"]
    assert FIELDS.help() == {"size": "items", "inner.rate": "our choice: a rate",
                             "scale": "given per item"}
    assert FIELDS.ours() == ("inner.rate",)
    config_rules.check_config(config, FIELDS.rules())
    config.inner.rate = 2.0
    with pytest.raises(config_rules.ConfigError, match=r"^config.inner.rate = 2.0: must be a "
                       r"number in \[0, 1\]$"):
        config_rules.check_config(config, FIELDS.rules())


def test_a_required_field_or_an_undeclared_name_is_refused():
    with pytest.raises(ValueError, match="config field 'scale' has no default"):
        FIELDS.config()
    with pytest.raises(ValueError, match="no config field 'sise'; declared: size, inner, scale"):
        FIELDS.config(sise=1, scale=1.0)
    changed = FIELDS.but(size=FIELDS["size"].but(default=7), extra=field(1, config_rules.boolean()))
    assert list(changed) == ["size", "inner", "scale", "extra"]
    assert changed.config(scale=0.0).size == 7 and FIELDS["size"].default == 3


@pytest.fixture
def toy_space():
    """A space registered by a test alone (its factory is never called here)."""
    registry.register("space", "toy", "nasjax.spaces.nb301:make_space",
                      env={"max_neighbours": 7, "alpha": 3.5, "neighbourhood": "on_the_fly"})
    yield "toy"
    del registry._REGISTRY["space"]["toy"]


def test_a_new_space_brings_its_environment_defaults_in_its_registration(toy_space):
    block = environment.get(toy_space)
    assert block.to_dict() == {"max_neighbours": 7, "alpha": 3.5, "train_episode_length": 16,
                               "eval_episode_length": 32, "query_mode": "mean",
                               "neighbourhood": "on_the_fly"}
    config_rules.check_config(block, environment.RULES)
    assert env.FIELDS.help()["alpha"] == "reward shaping exponent; None = no shaping (§5.3)"
    assert environment.get("nb101").alpha == 6.0 and environment.get("nb301").alpha == 32.0
    # Any experiment config takes it with the rules it declares for its env block.
    config = evaluate.get_config("quick")
    config.env = block
    config_rules.check_config(config, evaluate.RULES)
    config = apex.get_config("smoke")
    config.env = block
    config_rules.check_config(config, apex.RULES)


def test_a_space_without_environment_defaults_is_named():
    registry.register("space", "bare", "nasjax.spaces.nb301:make_space")
    try:
        with pytest.raises(ValueError, match=r"space 'bare': config field 'max_neighbours' has "
                           r"no default; give its value \(register it with env=\{...\}\)"):
            environment.get("bare")
    finally:
        del registry._REGISTRY["space"]["bare"]


def test_a_new_searcher_brings_its_block_in_its_registration():
    registry.register("agent", "toy_searcher", "nasjax.agents.random_search:uniform_agent",
                      type="searcher", config=("toy", "tests.test_config_fields:INNER"))
    try:
        assert agent_configs.declared()["toy"] is INNER
        assert agent_configs.block("toy").to_dict() == {"rate": 0.5}
        assert agent_configs.our_choice()["toy"] == ("rate",)
        assert list(agent_configs.declared())[:2] == ["regularized_evolution", "remaade"]
    finally:
        del registry._REGISTRY["agent"]["toy_searcher"]
