"""Random walk (Cassimon et al. §3.2.3): uniform over the valid actions, "stay" included."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np

from nasjax import env
from nasjax.agents import random_walk
from nasjax.spaces import nb101_space


def _obs(mask) -> env.Observation:
    size = len(mask) - 1
    pad = nb101_space.padding((size,))
    return env.Observation(arch=pad[0], neighbours=pad, action_mask=jnp.asarray(mask),
                           tokens=jnp.zeros((size + 1, nb101_space.TOKEN_SIZE)),
                           nodes=jnp.where(jnp.asarray(mask), 0, -1))


def _actions(mask, draws=6000):
    act = jax.jit(jax.vmap(random_walk.act, in_axes=(None, None, 0)))
    return np.asarray(act(None, _obs(mask), jax.random.split(jax.random.key(0), draws)))


def test_only_valid_actions_uniformly():
    mask = [True, True, False, True, False, False, True, False]  # holes, not packed
    actions = _actions(mask)
    assert np.asarray(mask)[actions].all()
    frequency = np.bincount(actions, minlength=len(mask))[np.asarray(mask)] / len(actions)
    np.testing.assert_allclose(frequency, 1 / 4, atol=0.025)


def test_only_stay_when_nothing_else_is_valid():
    assert (_actions([True] + [False] * 50, draws=100) == 0).all()


def test_stay_is_one_choice_among_all():
    actions = _actions([True] * 51, draws=20000)
    assert actions.min() == 0 and actions.max() == 50
    np.testing.assert_allclose(np.mean(actions == 0), 1 / 51, atol=0.005)


def test_act_is_traced_once():
    act = jax.jit(chex.assert_max_traces(random_walk.act, n=1))
    for seed in range(3):
        act(None, _obs([True, True, seed > 0, False]), jax.random.key(seed))
