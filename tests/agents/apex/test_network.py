"""The Ape-X transformer dueling Q-network (Cassimon et al. §3.2.3, Fig. 6)."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax.agents.apex import network

LOWEST = np.finfo(np.float32).min
N, D = 9, 12  # neighbours, token size (any space: the network only sees shapes)
SMALL = {"latent_dim": 32, "num_heads": 4}  # a tiny network keeps the tests fast


def _observation(seed: int, valid: int, n: int = N, d: int = D):
    """Random tokens with `valid` valid slots (stay included); padding rows are zeros."""
    tokens = jax.random.uniform(jax.random.key(seed), (n + 1, d))
    mask = jnp.arange(n + 1) < valid
    return jnp.where(mask[:, None], tokens, 0.0), mask


def _built(positional: str):
    """(network, parameters, its jitted apply), initialised on N + 1 slots."""
    net = network.QNetwork(positional=positional, **SMALL)
    tokens, mask = _observation(0, valid=6)
    return net, jax.jit(net.init)(jax.random.key(1), tokens, mask), jax.jit(net.apply)


@pytest.fixture(scope="module")
def learned():
    return _built("learned")


@pytest.fixture(scope="module")
def sinusoidal():
    return _built("sinusoidal")


@pytest.fixture(params=network.POSITIONAL)
def net_params(request):
    """Each positional encoding in turn."""
    return request.getfixturevalue(request.param)


# ----------------------------------------------------------------------------- helpers


def test_masked_argmax_and_max_by_hand():
    values = jnp.array([[5.0, 9.0, 7.0], [-3.0, -1.0, -2.0]])
    mask = jnp.array([[True, False, True], [True, False, True]])
    np.testing.assert_array_equal(network.masked_argmax(values, mask), [2, 2])
    np.testing.assert_array_equal(network.masked_max(values, mask), [7.0, -2.0])
    # Ties go to the first valid index; a masked entry never wins, however large.
    assert int(network.masked_argmax(jnp.array([1.0, 1.0, 5.0]), jnp.array([1, 1, 0], bool))) == 0


def test_dueling_identity_by_hand():
    q = network.dueling(jnp.float32(1.0), jnp.array([1.0, 2.0, 3.0, 100.0]),
                        jnp.array([True, True, True, False]))
    # mean of the valid advantages is 2: Q = 1 + A - 2; the padded 100 neither counts nor shows.
    np.testing.assert_array_equal(q, [0.0, 1.0, 2.0, LOWEST])


# ----------------------------------------------------------------------------- network


@pytest.mark.slow  # ~9 CPU-s of its own: out of the fast lane
def test_shapes_and_masking(net_params):
    _, params, apply = net_params
    tokens, mask = _observation(2, valid=4)
    q = apply(params, tokens, mask)
    assert q.shape == (N + 1,) and q.dtype == jnp.float32
    assert np.all(np.isfinite(q[:4])) and np.all(q[4:] == LOWEST)
    batched = jnp.broadcast_to(tokens, (2, 3, N + 1, D)), jnp.broadcast_to(mask, (2, 3, N + 1))
    assert apply(params, *batched).shape == (2, 3, N + 1)


def test_latent_dims_of_the_paper():
    tokens, mask = _observation(0, valid=3)
    for latent in (256, 512):  # T on NAS-Bench-101 (§3.2.3) and NAS-Bench-301 (§4.2.1)
        shapes = jax.eval_shape(network.QNetwork(latent_dim=latent).init, jax.random.key(0),
                                tokens, mask)
        assert shapes["params"]["encoder_1"]["kernel"].shape == (latent, latent)
        assert shapes["params"]["positions"].shape == (N + 1, latent)


@pytest.mark.slow  # ~8 CPU-s of its own: out of the fast lane
def test_dueling_identity_in_the_network(net_params):
    net, params, _ = net_params
    tokens, mask = _observation(3, valid=7)
    q, state = jax.jit(lambda p: net.apply(p, tokens, mask, mutable="intermediates"))(params)
    value = state["intermediates"]["value"][0]
    adv = state["intermediates"]["advantages"][0]
    np.testing.assert_allclose(q[:7], value + adv[:7] - adv[:7].mean(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(q[:7].mean(), value, rtol=1e-5, atol=1e-6)  # mean Q = V


@pytest.mark.slow  # ~7 CPU-s of its own: out of the fast lane
@pytest.mark.parametrize("garbage", [-1e6, np.nan])
def test_padded_rows_cannot_change_valid_q(net_params, garbage):
    net, params, apply = net_params
    tokens, mask = _observation(4, valid=5)
    q = apply(params, tokens, mask)
    noisy = jnp.where(mask[:, None], tokens,
                      garbage * jax.random.normal(jax.random.key(5), tokens.shape))
    np.testing.assert_array_equal(apply(params, noisy, mask), q)
    # and no gradient of a valid Q-value goes NaN through the padded rows.
    grads = _valid_q_grad(net, params, noisy, mask)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


@functools.partial(jax.jit, static_argnums=0)
def _valid_q_grad(net, params, tokens, mask):
    """Gradient of the sum of valid Q-values with respect to the parameters."""
    return jax.grad(lambda p: jnp.sum(jnp.where(mask, net.apply(p, tokens, mask), 0.0)))(params)


def test_nan_in_a_valid_row_reaches_every_valid_q(net_params):
    _, params, apply = net_params
    tokens, mask = _observation(4, valid=5)
    q = apply(params, tokens.at[3, 0].set(jnp.nan), mask)
    assert np.all(np.isnan(q[:5])) and np.all(q[5:] == LOWEST)


def test_stay_is_always_valid(net_params):
    _, params, apply = net_params
    tokens, mask = _observation(6, valid=4)
    np.testing.assert_array_equal(apply(params, tokens, mask.at[0].set(False)),
                                  apply(params, tokens, mask))


def test_sinusoidal_q_ignores_how_much_padding_follows(sinusoidal):
    _, params, apply = sinusoidal
    short_tokens, short_mask = _observation(7, valid=4)
    long_tokens = jnp.zeros((3 * N + 1, D)).at[:N + 1].set(short_tokens)
    long_mask = jnp.zeros(3 * N + 1, bool).at[:N + 1].set(short_mask)
    np.testing.assert_allclose(apply(params, long_tokens, long_mask)[:4],
                               apply(params, short_tokens, short_mask)[:4], rtol=1e-5)


def test_permutation_behaviour(learned):
    """Order-aware through the positions (the paper asks for it); equivariant without them."""
    _, params, apply = learned
    tokens, mask = _observation(8, valid=N + 1)
    perm = np.concatenate([[0], 1 + np.random.default_rng(0).permutation(N)])  # stay stays
    q, q_perm = apply(params, tokens, mask), apply(params, tokens[perm], mask[perm])
    assert not np.allclose(q_perm, q[perm], atol=1e-4)
    flat = {"params": {**params["params"],
                       "positions": jnp.zeros_like(params["params"]["positions"])}}
    q, q_perm = apply(flat, tokens, mask), apply(flat, tokens[perm], mask[perm])
    np.testing.assert_allclose(q_perm, q[perm], rtol=1e-5, atol=1e-6)


def test_jitted_batch_matches_single_calls(net_params):
    net, params, apply = net_params
    obs = [_observation(10 + i, valid=2 + i) for i in range(4)]
    tokens, mask = jnp.stack([t for t, _ in obs]), jnp.stack([m for _, m in obs])
    chex.clear_trace_counter()
    apply = jax.jit(chex.assert_max_traces(lambda p, t, m: net.apply(p, t, m), n=1))
    batch = apply(params, tokens, mask)
    apply(params, tokens + 1.0, mask)  # same shapes: no retrace
    single = jax.jit(net.apply)
    for i, (t, m) in enumerate(obs):
        np.testing.assert_allclose(batch[i], single(params, t, m), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs, tokens_shape, mask_shape, match", [
    ({}, (N + 1, D), (N,), "disagree"),
    ({}, (D,), (D,), "disagree"),
    ({"num_heads": 5}, (N + 1, D), (N + 1,), "must divide"),
    ({"positional": "rotary"}, (N + 1, D), (N + 1,), "positional"),
    ({"dueling_input": "last_token"}, (N + 1, D), (N + 1,), "dueling_input"),
])
def test_bad_input_is_one_clear_error(kwargs, tokens_shape, mask_shape, match):
    net = network.QNetwork(**{**SMALL, **kwargs})
    with pytest.raises(ValueError, match=match):
        net.init(jax.random.key(0), jnp.zeros(tokens_shape), jnp.ones(mask_shape, bool))


@pytest.mark.slow  # ~6 CPU-s of its own: out of the fast lane
def test_first_token_head_reads_output_0_alone():
    # Cassimon et al. §3.2.3: the first transformer output feeds the whole dueling head, so
    # the advantage layer maps one T-vector to N + 1 advantages, and the other outputs reach
    # the Q-values only through attention into output 0.
    net = network.QNetwork(dueling_input="first_token", **SMALL)
    tokens, mask = _observation(0, valid=6)
    params = jax.jit(net.init)(jax.random.key(1), tokens, mask)
    head = params["params"]
    assert head["advantage_hidden"]["kernel"].shape == (32, 32)
    assert head["advantage_out"]["kernel"].shape == (32, N + 1)
    q, sown = jax.jit(lambda p, t, m: net.apply(p, t, m, mutable="intermediates"))(
        params, tokens, mask)  # compiled: cheaper than op by op
    assert q.shape == (N + 1,) and (np.asarray(q)[6:] == LOWEST).all()
    assert np.isfinite(np.asarray(q)[:6]).all()
    assert sown["intermediates"]["advantages"][0].shape == (N + 1,)
    every = jax.eval_shape(network.QNetwork(**SMALL).init, jax.random.key(1), tokens,
                           mask)["params"]
    assert every["advantage_out"]["kernel"].shape == (32, 1)
