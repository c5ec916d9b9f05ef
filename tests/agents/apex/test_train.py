"""Ape-X actors, training chunks and checkpoints (Cassimon et al. §3.2.3, §4.1.1)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import apex as apex_config
from nasjax import env
from nasjax.agents.apex import actors, checkpoint, train

# ----------------------------------------------------------------------------- actors


def test_worker_epsilons_follow_ape_x():
    eps = np.asarray(actors.worker_epsilons(8, 32))
    assert eps.shape == (256,)
    per_worker = eps.reshape(8, 32)
    assert (per_worker == per_worker[:, :1]).all()
    # eps_i = 0.4^(1 + 7 i / 7) = 0.4^(1 + i) (Horgan et al. §4.1).
    np.testing.assert_allclose(per_worker[:, 0], 0.4 ** (1.0 + np.arange(8)), rtol=1e-6)
    np.testing.assert_allclose(actors.worker_epsilons(1, 3), [0.4] * 3)


def test_epsilon_greedy_never_picks_a_padding_slot():
    q = jnp.array([0.0, 5.0, 1.0, 9.0, 2.0])  # slot 3 is the largest but masked
    mask = jnp.array([True, True, True, False, True])
    greedy = jax.vmap(lambda k: actors.epsilon_greedy(q, mask, jnp.float32(0.0), k))(
        jax.random.split(jax.random.key(0), 50))
    assert (np.asarray(greedy) == 1).all()
    random = jax.vmap(lambda k: actors.epsilon_greedy(q, mask, jnp.float32(1.0), k))(
        jax.random.split(jax.random.key(1), 2000))
    counts = np.bincount(np.asarray(random), minlength=5)
    assert counts[3] == 0 and (counts[[0, 1, 2, 4]] > 400).all()  # uniform over 4 valid


@pytest.mark.parametrize("alpha", [6.0, None])
def test_final_accuracy_inverts_the_shaped_reward(alpha):
    before, after = jnp.float32(0.83), jnp.float32(0.91)
    reward = env.shaped_reward(after, alpha) - env.shaped_reward(before, alpha)
    np.testing.assert_allclose(actors.final_accuracy(before, reward, alpha), after, atol=1e-6)


def _history(reward, terminated, truncated):
    """A hand-built 3-step history: nodes are step numbers, bootstrap values 10 * (k + 1)."""
    n = len(reward)
    pres = actors.Presented(node=jnp.arange(n), neighbours=jnp.zeros((n, 2), jnp.int32),
                            action_mask=jnp.ones((n, 3), bool))
    ends = pres.replace(node=100 + jnp.arange(n))
    return actors.Step(obs=pres, action=jnp.array([2, 1, 1]), q_taken=jnp.array([0.5, 0, 0]),
                       reward=jnp.array(reward, jnp.float32),
                       terminated=jnp.array(terminated), truncated=jnp.array(truncated),
                       end=ends, end_value=10.0 * (1 + jnp.arange(n, dtype=jnp.float32)))


def test_window_bootstraps_by_hand():
    gamma = 0.9
    # No end: 3 steps, bootstrap from the third step's end (value 30).
    item, priority = actors.window(_history([1.0, 2.0, 3.0], [0, 0, 0], [0, 0, 0]), gamma)
    ret = 1 + 0.9 * 2 + 0.81 * 3
    assert int(item.obs_tm1.node) == 0 and int(item.a_tm1) == 2 and int(item.obs_t.node) == 102
    np.testing.assert_allclose([item.r_t, item.discount_t], [ret, 0.729], rtol=1e-6)
    np.testing.assert_allclose(priority, abs(ret + 0.729 * 30 - 0.5), rtol=1e-6)
    # Truncated by the time limit at step 2: bootstrap from its final observation (PEB).
    item, priority = actors.window(_history([1.0, 2.0, 3.0], [0, 0, 0], [0, 1, 0]), gamma)
    assert int(item.obs_t.node) == 101
    np.testing.assert_allclose([item.r_t, item.discount_t], [2.8, 0.81], rtol=1e-6)
    np.testing.assert_allclose(priority, abs(2.8 + 0.81 * 20 - 0.5), rtol=1e-6)
    # Terminated ("stay") at step 1: no bootstrap.
    item, priority = actors.window(_history([1.0, 2.0, 3.0], [1, 0, 0], [0, 0, 0]), gamma)
    np.testing.assert_allclose([item.r_t, item.discount_t, priority], [1.0, 0.0, 0.5])


def test_a_traced_discount_equals_the_constant_one():
    # Sweep points with other discounts train together: gamma is a traced input.
    history = _history([1.0, 2.0, 3.0], [0, 0, 0], [0, 1, 0])
    constant = jax.jit(lambda h: actors.window(h, 0.95))(history)
    traced = jax.jit(actors.window)(history, jnp.float32(0.95))
    for one, two in zip(jax.tree.leaves(constant), jax.tree.leaves(traced)):
        np.testing.assert_array_equal(one, two)


def test_schedule_keeps_the_replay_ratio():
    assert train.schedule(1.0, 256, 512) == (2, 1)  # paper: 2 actor steps per learner step
    assert train.schedule(4.0, 64, 128) == (1, 2)
    assert train.schedule(0.25, 256, 512) == (8, 1)
    with pytest.raises(ValueError, match="replay_ratio"):
        train.schedule(1 / 3001, 7, 512)


@pytest.mark.parametrize("name, alpha, factor", [("unit", 6.0, 1.0), ("paper", 6.0, np.exp(6.0)),
                                                  ("paper", None, 1.0)])
def test_reward_factor(name, alpha, factor):
    assert actors.reward_factor(name, alpha) == pytest.approx(factor, rel=1e-12)


def test_hyperparams_carry_alpha_and_its_reward_scale_as_the_constants_were():
    # Traced, so that points over alpha train together; cast from float64 as before.
    config = apex_config.get_config("smoke")
    config.reward_scale, config.env.alpha = "paper", 10.0
    hyper = train.hyperparams(config)
    assert hyper.alpha.dtype == hyper.reward_scale.dtype == jnp.float32
    assert float(hyper.alpha) == 10.0 and hyper.reward_scale == jnp.float32(np.exp(10.0))
    config.env.alpha = None  # no shaping: no alpha in the program, the accuracy unscaled
    hyper = train.hyperparams(config)
    assert hyper.alpha is None and float(hyper.reward_scale) == 1.0


@pytest.mark.long  # CI time: test_reward_factor checks the factor in the default run
@pytest.mark.slow  # compiles the actors' warm-up at both reward scales
def test_paper_reward_scale_multiplies_stored_rewards_by_e_to_the_alpha(trainer):
    trainer, params = trainer
    paper_config = apex_config.get_config("smoke")
    paper_config.reward_scale = "paper"
    paper = train.make_train(paper_config, params)
    net_params = jax.jit(trainer.init)(jax.random.PRNGKey(1)).params
    unit, unit_stats = jax.jit(trainer.actors.init)(jax.random.PRNGKey(0), net_params)
    paper, paper_stats = jax.jit(paper.actors.init)(jax.random.PRNGKey(0), net_params)
    rewards = np.asarray(unit.history.reward)[:, 1:]  # after the blank first step
    assert np.abs(rewards).max() > 0
    np.testing.assert_allclose(np.asarray(paper.history.reward)[:, 1:], rewards * np.exp(6.0),
                               rtol=1e-5, atol=1e-9)
    np.testing.assert_array_equal(paper_stats.final_acc_sum, unit_stats.final_acc_sum)


@pytest.mark.slow  # runs the launches' init (compiled once per session)
def test_warmup_steps_and_episodes_are_counted(trainer):
    # The n - 1 = 2 warm-up steps of the 8 environments fill their histories after a blank
    # first step; every episode they end is counted.
    trainer, _ = trainer
    state = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    history = jax.tree.map(lambda x: x[0], state.actors.history)  # one shard: [8, n = 3]
    ended = np.asarray(history.terminated | history.truncated)
    assert not ended[:, 0].any()  # the blank first step
    assert int(state.env_steps) == 2 * 8
    assert int(state.episodes) == ended.sum() > 0


# ----------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def trainer(synthetic_bench, data_dir):
    """The smoke preset as ``launch.train_apex`` builds it (the SYNTHETIC benchmark over the
    enumeration): its ``init`` and chunk are the launches' programs, compiled once per session
    (the persistent compilation cache, ``tests/conftest.py``)."""
    config = apex_config.get_config("smoke")
    params, _ = train.make_env_params(config, data_dir)
    return train.make_train(config, params), params


@pytest.mark.slow  # runs the launches' init (compiled once per session)
def test_replay_items_rebuild_the_observations(trainer):
    trainer, params = trainer
    # The environments after the actors' warm-up (one shard: leaves [1, E, ...]).
    state = jax.tree.map(lambda x: x[0], jax.jit(trainer.init)(jax.random.PRNGKey(1)).actors)
    rebuilt = jax.vmap(actors.observation, in_axes=(0, None))(
        actors.presented_state(state.env_state), params)
    direct = jax.vmap(env.observe, in_axes=(0, None))(state.env_state, params)
    np.testing.assert_array_equal(rebuilt.tokens, direct.tokens)
    np.testing.assert_array_equal(rebuilt.action_mask, direct.action_mask)


@pytest.mark.slow  # runs the launches' chunk (compiled once per session)
def test_resumed_training_ends_with_the_same_parameters(trainer, tmp_path):
    trainer, _ = trainer
    key = jax.random.PRNGKey(0)
    init = jax.jit(trainer.init)
    state, first = trainer.chunk(init(key))
    state, second = trainer.chunk(state)
    straight = checkpoint.params_sha256(state.params)
    assert set(second) == set(train.METRICS)
    warmup = 2 * trainer.actors.num_envs  # n - 1 = 2 steps per environment
    assert int(second["env_steps"]) == 2 * trainer.env_steps_per_chunk + warmup
    assert int(second["learner_steps"]) > 0 and np.isfinite(float(second["loss"]))
    assert 0.0 < float(first["final_val_acc"]) < 1.0

    store = checkpoint.Checkpointer(tmp_path / "checkpoints", keep=2)
    state, _ = trainer.chunk(init(key))
    store.save(1, state, [{"chunk": 1}])
    store.close()
    del state
    restored, rows = checkpoint.Checkpointer(tmp_path / "checkpoints", read_only=True).restore(
        jax.eval_shape(trainer.init, key))
    assert rows == [{"chunk": 1}]
    state, _ = trainer.chunk(restored)
    assert checkpoint.params_sha256(state.params) == straight
    params = checkpoint.Checkpointer(tmp_path / "checkpoints", read_only=True).restore_params(
        jax.eval_shape(trainer.init, key).params)
    assert checkpoint.params_sha256(params) == checkpoint.params_sha256(restored.params)
