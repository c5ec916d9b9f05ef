"""The registered ``apex`` agent: one greedy policy per training run directory."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from configs import apex as apex_config
from nasjax import env, registry
from nasjax.agents.apex import network, policy, train
from tests.agents.apex.conftest import make_env_params


def test_agent_seeds_are_its_run_directories():
    agent = registry.make("agent", "apex")
    assert agent.config == "apex_checkpoints"
    assert agent.seeds("runs/a, runs/b,") == 2
    assert agent.seeds(policy.UNTRAINED) is None  # as many as the experiment asks
    assert agent.seeds("") == 0


@pytest.mark.slow  # ~11 CPU-s of its own: out of the fast lane
def test_an_untrained_policy_is_the_paper_presets_network():
    # The network's defaults live in the library; configs/apex.py builds its presets on them.
    assert network.network_config() == apex_config.get_config("paper").network
    params = make_env_params()
    untrained = policy.make_policy(params, policy.UNTRAINED, seed=3)
    obs, _ = jax.jit(env.reset)(jax.random.key(3), params)  # compiled: cheaper than op by op
    paper = train.make_network(apex_config.get_config("paper"))
    expected = jax.jit(paper.init)(jax.random.key(3), obs.tokens, obs.action_mask)
    assert jax.tree.all(jax.tree.map(np.array_equal, untrained.params, expected))


def test_bad_run_directories_are_one_line_errors(tmp_path):
    params = make_env_params()
    with pytest.raises(ValueError, match="apex_checkpoints"):
        policy.make_policy(params, "", seed=0)
    with pytest.raises(ValueError, match="seed 1 needs a run directory"):
        policy.make_policy(params, str(tmp_path), seed=1)
    with pytest.raises(ValueError, match="not an Ape-X training run"):
        policy.make_policy(params, str(tmp_path), seed=0)


@pytest.mark.slow  # ~17 CPU-s of its own: out of the fast lane
def test_greedy_action_is_the_best_valid_one():
    net = network.QNetwork(latent_dim=16, num_heads=2, num_layers=1)
    params = make_env_params()
    obs, _ = jax.jit(jax.vmap(lambda k: env.reset(k, params)))(
        jax.random.split(jax.random.key(0), 4))
    # Compiled, not op by op: the test took 24.4 instead of 27.3 CPU-s on a half-speed day.
    weights = jax.jit(net.init)(jax.random.key(1), obs.tokens, obs.action_mask)
    act = jax.jit(jax.vmap(policy.make_act(net), in_axes=(None, 0, None)))
    actions = np.asarray(act(weights, obs, jax.random.key(2)))
    q = np.array(jax.jit(net.apply)(weights, obs.tokens, obs.action_mask))
    q[~np.asarray(obs.action_mask)] = -np.inf
    np.testing.assert_array_equal(actions, q.argmax(-1))
