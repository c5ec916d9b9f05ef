"""n-step returns with partial episode bootstrapping and the double-Q Huber loss of Ape-X."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rlax

from nasjax.agents.apex import losses

F, T = False, True
GAMMA = 0.9
N_STEP = losses.FIELDS["n_step"].default  # 3, Cassimon et al. §3.2.3
REWARDS = jnp.array([1.0, 2.0, 4.0])


# ----------------------------------------------------------------------------- n-step returns


@pytest.mark.parametrize("terminated, truncated, ret, discount, steps", [
    # neither: 1 + .9 * 2 + .81 * 4, bootstrap from s_3 with .9^3
    ([F, F, F], [F, F, F], 6.04, 0.729, 3),
    # terminated at step 2 ("stay"): 1 + .9 * 2, no bootstrap; r_3 is the next episode's
    ([F, T, F], [F, F, F], 2.8, 0.0, 2),
    # truncated at step 2 (time limit): same return, bootstrap from the final obs with .9^2
    ([F, F, F], [F, T, F], 2.8, 0.81, 2),
    # terminated at once
    ([T, F, F], [F, F, F], 1.0, 0.0, 1),
    # truncated on the window's last step: as if nothing happened
    ([F, F, F], [F, F, T], 6.04, 0.729, 3),
    # both flags: terminated wins
    ([F, T, F], [F, T, F], 2.8, 0.0, 2),
    # terminated at 1, the next episode truncated at 2: only the first end counts
    ([T, F, F], [F, T, F], 1.0, 0.0, 1),
])
def test_n_step_return_by_hand(terminated, truncated, ret, discount, steps):
    out = losses.n_step_return(REWARDS, jnp.array(terminated), jnp.array(truncated), GAMMA)
    assert float(out.return_t) == pytest.approx(ret, rel=1e-6)
    assert float(out.discount_t) == pytest.approx(discount, rel=1e-6)
    assert int(out.steps) == steps
    assert out.return_t.dtype == out.discount_t.dtype == jnp.float32


def test_n_step_target_matches_rlax_without_truncation():
    """G + discount * v(s_steps) equals rlax's n-step bootstrapped return (n = window)."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        r_t = jnp.asarray(rng.normal(size=N_STEP), jnp.float32)
        v_t = jnp.asarray(rng.normal(size=N_STEP), jnp.float32)  # v(s_1), ..., v(s_n)
        terminated = jnp.asarray(rng.random(N_STEP) < 0.3)
        out = losses.n_step_return(r_t, terminated, jnp.zeros(N_STEP, bool), GAMMA)
        ours = out.return_t + out.discount_t * v_t[out.steps - 1]
        # rlax cuts with zero discounts; entries after an end are killed by that zero too.
        discount_t = GAMMA * (1.0 - jnp.cumsum(terminated).clip(0, 1).astype(jnp.float32))
        expected = rlax.n_step_bootstrapped_returns(r_t, discount_t, v_t, n=N_STEP)[0]
        np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)


def test_n_step_return_rejects_bad_ranks():
    with pytest.raises(AssertionError):
        losses.n_step_return(REWARDS[None], jnp.zeros((1, 3), bool), jnp.zeros((1, 3), bool),
                             GAMMA)


# ----------------------------------------------------------------------------- Q losses


def test_huber_by_hand_and_against_rlax():
    x = jnp.array([0.0, 0.5, -0.5, 1.0, -3.0, 10.0])
    np.testing.assert_allclose(losses.huber_loss(x), [0.0, 0.125, 0.125, 0.5, 2.5, 9.5])
    np.testing.assert_allclose(losses.huber_loss(x, 2.0), rlax.huber_loss(x, 2.0))
    np.testing.assert_allclose(jax.grad(lambda v: losses.huber_loss(v).sum())(x),
                               [0.0, 0.5, -0.5, 1.0, -1.0, 1.0])


def test_double_q_learning_equals_rlax_when_all_actions_valid():
    rng = np.random.default_rng(1)
    for _ in range(10):
        q_tm1, q_t_value, q_t_selector = (jnp.asarray(rng.normal(size=6), jnp.float32)
                                          for _ in range(3))
        a_tm1, r_t = jnp.int32(rng.integers(6)), jnp.float32(rng.normal())
        td = losses.double_q_learning(q_tm1, a_tm1, r_t, jnp.float32(GAMMA), q_t_value,
                                      q_t_selector, jnp.ones(6, bool))
        expected = rlax.double_q_learning(q_tm1, a_tm1, r_t, jnp.float32(GAMMA), q_t_value,
                                          q_t_selector)
        np.testing.assert_allclose(td, expected, rtol=1e-6)


def test_double_q_learning_masks_the_selector_by_hand():
    q_tm1 = jnp.array([0.5, 1.0, 2.0])
    q_t_value = jnp.array([10.0, 20.0, 30.0])
    q_t_selector = jnp.array([0.0, 5.0, 1.0])  # the online net prefers 1, which is masked
    mask_t = jnp.array([True, False, True])
    td = losses.double_q_learning(q_tm1, jnp.int32(1), jnp.float32(2.8), jnp.float32(0.81),
                                  q_t_value, q_t_selector, mask_t)
    # select 2 with the online net, value it with the target net: 2.8 + .81 * 30 - q_tm1[1]
    assert float(td) == pytest.approx(2.8 + 0.81 * 30.0 - 1.0)
    # terminated (discount 0): the bootstrap state is irrelevant
    td = losses.double_q_learning(q_tm1, jnp.int32(1), jnp.float32(2.8), jnp.float32(0.0),
                                  q_t_value, q_t_selector, mask_t)
    assert float(td) == pytest.approx(1.8)


def test_apex_loss_weights_and_gradients():
    q_tm1 = jnp.array([0.5, 1.0, 2.0])
    args = (jnp.int32(2), jnp.float32(1.0), jnp.float32(0.5), jnp.array([4.0, 3.0, 2.0]),
            jnp.array([1.0, 0.0, 0.0]), jnp.ones(3, bool), jnp.float32(0.25))

    def loss_fn(q, q_t_value, weight):
        return losses.apex_loss(q, args[0], args[1], args[2], q_t_value, args[4], args[5],
                                weight)

    (loss, td) = loss_fn(q_tm1, args[3], args[6])
    # target = 1 + .5 * q_t_value[argmax selector = 0] = 3; td = 3 - q_tm1[2] = 1
    assert float(td) == pytest.approx(1.0)
    assert float(loss) == pytest.approx(0.25 * 0.5)  # w * huber(1)
    grads = jax.grad(lambda *a: loss_fn(*a)[0], argnums=(0, 1, 2))(q_tm1, args[3], args[6])
    np.testing.assert_allclose(grads[0], [0.0, 0.0, -0.25])  # only through q_tm1[a_tm1]
    np.testing.assert_array_equal(grads[1], 0.0)  # target is a constant
    assert float(grads[2]) == 0.0  # so is the importance weight


def test_apex_loss_vmaps_over_a_batch():
    rng = np.random.default_rng(2)
    batch, actions = 5, 4
    q = jnp.asarray(rng.normal(size=(3, batch, actions)), jnp.float32)
    a = jnp.asarray(rng.integers(actions, size=batch), jnp.int32)
    r, w = (jnp.asarray(rng.random(batch), jnp.float32) for _ in range(2))
    d = jnp.full(batch, GAMMA, jnp.float32)
    mask = jnp.asarray(rng.random((batch, actions)) < 0.6).at[:, 0].set(True)
    loss, td = jax.jit(jax.vmap(losses.apex_loss))(q[0], a, r, d, q[1], q[2], mask, w)
    for i in range(batch):
        one = losses.apex_loss(q[0, i], a[i], r[i], d[i], q[1, i], q[2, i], mask[i], w[i])
        np.testing.assert_allclose((loss[i], td[i]), one, rtol=1e-6)
