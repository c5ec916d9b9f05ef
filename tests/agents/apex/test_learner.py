"""The Ape-X learner step (Cassimon et al. §3.2.3): double-Q roles, target copies, priorities.

The step runs on a hand-built state: a replay of transitions between random initial
architectures, online and target networks with different random parameters, so that each
fault below changes a checked number: the online and target roles swapped in the double-Q
target, a target network never copied, the priorities not written back.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import apex as apex_config
from nasjax import env
from nasjax.agents.apex import actors, losses, network, train
from tests.agents.apex.conftest import make_env_params

ITEMS = 32  # transitions in the replay


def _q(net, params, presented, env_params):
    """``(q float32[B, N+1], mask bool[B, N+1])`` of compact observations."""
    obs = jax.vmap(actors.observation, in_axes=(0, None))(presented, env_params)
    return net.apply(params, obs.tokens, obs.action_mask), obs.action_mask


@pytest.fixture(scope="module")
def setup():
    """(config, net, buffer, jitted learner step, initial state, env params)."""
    config = apex_config.get_config("smoke")
    config.target_update_period = 2 * config.batch_size  # a copy after the second step
    env_params = make_env_params(max_neighbours=config.env.max_neighbours,
                                 episode_length=config.env.train_episode_length)
    net = train.make_network(config)
    buffer = train.make_buffer(config)
    optimizer = train.make_optimizer(config)
    key_reset, key_r, key_online, key_target = jax.random.split(jax.random.key(0), 4)
    reset = jax.jit(jax.vmap(lambda k: env.reset(k, env_params)[1]))
    states = reset(jax.random.split(key_reset, 2 * ITEMS))
    presented = actors.presented_state(states)
    first = jax.tree.map(lambda x: x[:ITEMS], presented)
    items = actors.Transition(
        obs_tm1=first, a_tm1=jnp.where(first.action_mask[:, 1], 1, 0).astype(jnp.int32),
        r_t=jax.random.uniform(key_r, (ITEMS,)), discount_t=jnp.full(ITEMS, 0.81),
        obs_t=jax.tree.map(lambda x: x[ITEMS:], presented))
    obs = jax.jit(env.observe)(jax.tree.map(lambda x: x[0], states), env_params)
    init = jax.jit(net.init)
    params = init(key_online, obs.tokens, obs.action_mask)
    target = init(key_target, obs.tokens, obs.action_mask)
    replay = jax.jit(buffer.add)(buffer.init(jax.tree.map(lambda x: x[0], items)), items,
                                 jnp.ones(ITEMS))
    zero = jnp.int32(0)
    state = train.TrainState(params=params, target_params=target, actor_params=params,
                             opt_state=optimizer.init(params), replay=replay, actors=None,
                             key=jax.random.PRNGKey(0), env_steps=zero, trained_samples=zero,
                             learner_steps=zero, episodes=zero)
    learn = jax.jit(train.make_learner_step(config, net, buffer, env_params))
    return config, net, buffer, learn, state, env_params


def _td(net, online, batch, selector_params, value_params, env_params):
    """The double-Q TD errors of a batch with the given roles, by hand."""
    items = batch.items
    q_tm1, _ = _q(net, online, items.obs_tm1, env_params)
    q_select, mask_t = _q(net, selector_params, items.obs_t, env_params)
    q_value, _ = _q(net, value_params, items.obs_t, env_params)
    best = network.masked_argmax(q_select, mask_t)
    target = items.r_t + items.discount_t * jnp.take_along_axis(q_value, best[:, None], 1)[:, 0]
    return target - jnp.take_along_axis(q_tm1, items.a_tm1[:, None], 1)[:, 0]


@pytest.mark.slow  # ~24 CPU-s of its own: out of the fast lane
def test_online_network_selects_and_target_network_values(setup):
    config, net, buffer, learn, state, env_params = setup
    key = jax.random.key(1)
    batch = jax.jit(buffer.sample)(state.replay, key)
    td_of = jax.jit(lambda select, value: _td(net, state.params, batch, select, value,
                                              env_params))
    td = td_of(state.params, state.target_params)
    swapped = td_of(state.target_params, state.params)
    assert np.abs(np.asarray(td - swapped)).max() > 1e-3  # the roles matter for this batch
    new, loss, _ = learn(state, key)
    written = np.asarray(new.replay.priorities)[np.asarray(batch.indices)]
    expected = (np.abs(np.asarray(td)) + config.priority_eps) ** config.priority_alpha
    np.testing.assert_allclose(written, expected, rtol=1e-5, atol=1e-6)
    huber = losses.huber_loss(td, config.huber_delta)
    np.testing.assert_allclose(loss, jnp.mean(batch.weights * huber), rtol=1e-5)


@pytest.mark.slow  # the learner steps of the module's setup (~30 CPU-s): out of the fast lane
def test_sampled_priorities_are_rewritten_and_the_rest_kept(setup):
    config, _, buffer, learn, state, _ = setup
    key = jax.random.key(2)
    sampled = np.unique(np.asarray(jax.jit(buffer.sample)(state.replay, key).indices))
    before = np.asarray(state.replay.priorities)
    after = np.asarray(learn(state, key)[0].replay.priorities)
    rest = np.setdiff1d(np.arange(ITEMS), sampled)
    assert rest.size > 0 and sampled.size > 0
    np.testing.assert_array_equal(after[rest], before[rest])
    assert (np.abs(after[sampled] - before[sampled]) > 1e-6).all()


@pytest.mark.slow  # the learner steps of the module's setup (~30 CPU-s): out of the fast lane
def test_target_network_is_copied_every_target_update_period(setup):
    config, _, _, learn, state, _ = setup
    leaves = jax.tree.leaves
    keys = jax.random.split(jax.random.key(3), 3)
    one, _, _ = learn(state, keys[0])  # 16 trained samples: no copy yet
    for a, b in zip(leaves(one.target_params), leaves(state.target_params), strict=True):
        np.testing.assert_array_equal(a, b)
    two, _, _ = learn(one, keys[1])  # 32 = target_update_period: copied
    assert int(two.trained_samples) == config.target_update_period
    for a, b in zip(leaves(two.target_params), leaves(two.params), strict=True):
        np.testing.assert_array_equal(a, b)
    three, _, _ = learn(two, keys[2])  # kept until the next period
    for a, b in zip(leaves(three.target_params), leaves(two.params), strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b)
               for a, b in zip(leaves(three.params), leaves(two.params), strict=True))


@pytest.mark.slow  # the learner steps of the module's setup (~30 CPU-s): out of the fast lane
def test_actor_parameters_follow_actor_update_period(setup):
    config, _, _, learn, state, _ = setup
    assert config.weight_sync == "learner_steps" and config.actor_update_period == 2
    leaves = jax.tree.leaves
    one, _, _ = learn(state, jax.random.key(4))
    for a, b in zip(leaves(one.actor_params), leaves(state.actor_params), strict=True):
        np.testing.assert_array_equal(a, b)
    two, _, _ = learn(one, jax.random.key(5))
    for a, b in zip(leaves(two.actor_params), leaves(two.params), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow  # compiles the learner step once more (the traced rate)
def test_a_traced_learning_rate_equals_the_configs_and_scales_the_adam_step(setup):
    # Sweep points with other learning rates train together: the rate is a traced input.
    config, _, _, learn, state, _ = setup
    key = jax.random.key(6)
    constant, _, _ = learn(state, key)
    traced, _, _ = learn(state, key, jnp.float32(config.learning_rate))
    double, _, _ = learn(state, key, jnp.float32(2 * config.learning_rate))
    for old, one, same, two in zip(jax.tree.leaves(state.params), jax.tree.leaves(constant),
                                   jax.tree.leaves(traced), jax.tree.leaves(double)):
        np.testing.assert_array_equal(one, same)  # bit-identical to the constant rate
        # Twice the step, up to the rounding of ``params + step`` (~1e-7 of steps ~1e-4).
        np.testing.assert_allclose(two - old, 2 * (one - old), rtol=1e-2)


def test_sync_period_is_rllibs_sample_batch_cadence():
    config = apex_config.get_config("paper")
    # A worker's batch is 50 steps x 32 environments = 1,600 >= max_weight_sync_delay = 400:
    # a sync after every batch, every 50 actor steps.
    assert train.sync_period(config) == 50
    config.envs_per_worker = 4  # batches of 200 steps: a sync after every second batch
    assert train.sync_period(config) == 100
    config.envs_per_worker, config.max_weight_sync_delay = 32, 1601
    assert train.sync_period(config) == 100
