"""MAADE, MADE and the independent policy (ReMAADE §§5, 8.1) on tiny spaces."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from nasjax import spaces
from nasjax.agents.remaade import maade, made
from nasjax.agents.remaade import policy as policy_lib
from nasjax.spaces import nb101_string
from nasjax.spaces.base import uniform_strings


def _uniform(key, shape):
    """Uniform NAS-Bench-101 strings (each position uniform over its choices)."""
    return uniform_strings(spaces.get("nb101"), key, shape)

TINY = (2, 3, 2)  # cardinalities of a search space small enough to enumerate
ALL_TINY = np.asarray(list(itertools.product(*[range(c) for c in TINY])), np.int32)  # [12, 3]


def _policies():
    return {
        "maade_m1": maade.make_policy(TINY, embed_dim=6, num_layers=1),
        "maade_m2": maade.make_policy(TINY, embed_dim=6, num_layers=2),
        "made": made.make_made_policy(TINY, hidden=8),
        "independent": made.make_independent_policy(TINY),
    }


def _random_params(policy, seed=0):
    """Initial parameters plus noise, so the density layer is not uniform any more."""
    params = policy.init(jax.random.key(seed))
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(seed + 100), len(leaves))
    return jax.tree.unflatten(tree, [x + 0.7 * jax.random.normal(k, x.shape)
                                     for x, k in zip(leaves, keys)])


# ----------------------------------------------------------------------------- reference


def _reference_maade_logits(params, string, order, num_layers):
    """Eqs. 4-9 written out with loops in NumPy: one hyperparameter, one key at a time."""
    p = jax.tree.map(np.asarray, params)["params"]
    n = len(string)
    rank = np.argsort(order)
    q = p["queries"].copy()
    k = p["queries"] + p["values"][string]

    def block(b, x, keys, allowed):
        att = b["attention"]
        energy = np.array([
            (np.tanh(x @ att["query"]["kernel"] + att["query"]["bias"]
                     + keys[j] @ att["key"]["kernel"]) @ att["score"]["kernel"])[0]
            for j in range(n)])
        context = np.zeros_like(x)
        if allowed.any():
            w = np.exp(energy[allowed] - energy[allowed].max())
            context = (w / w.sum()) @ keys[allowed]
        hidden = np.tanh((x + context) @ b["ff_in"]["kernel"] + b["ff_in"]["bias"])
        return hidden @ b["ff_out"]["kernel"] + b["ff_out"]["bias"]

    for m in range(num_layers):
        b = p[f"block_{m}"]
        q_new = np.stack([block(b, q[i], k, rank < rank[i]) for i in range(n)])
        k = np.stack([block(b, k[i], k, rank <= rank[i]) for i in range(n)])
        q = q_new
    logits = np.einsum("nd,ndv->nv", q, p["density_kernel"]) + p["density_bias"]
    return np.where(policy_lib.value_mask(TINY), logits, -np.inf)


@pytest.mark.slow  # ~8 CPU-s of its own: out of the fast lane
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_maade_matches_the_equations_written_out(num_layers):
    policy = maade.make_policy(TINY, embed_dim=5, num_layers=num_layers)
    model = maade.MAADE(TINY, 5, num_layers)
    params = _random_params(policy, seed=num_layers)
    apply = jax.jit(model.apply)
    for string, order in [((1, 2, 0), (2, 0, 1)), ((0, 1, 1), (0, 1, 2)), ((1, 0, 1), (1, 2, 0))]:
        got = np.asarray(apply(params, jnp.asarray(string), jnp.asarray(order)))
        want = _reference_maade_logits(params, np.asarray(string), np.asarray(order), num_layers)
        allowed = policy_lib.value_mask(TINY)
        np.testing.assert_allclose(got[allowed], want[allowed], rtol=2e-5, atol=2e-5)


@pytest.mark.slow  # ~8 CPU-s of its own: out of the fast lane
def test_first_hyperparameter_in_order_sees_no_context():
    """With nothing before it, q_i attends to nothing: logits = density(PosFF(q_i))."""
    model = maade.MAADE(TINY, 5, 1)
    params = _random_params(maade.make_policy(TINY, 5, 1))
    a = model.apply(params, jnp.asarray([0, 0, 0]), jnp.asarray([1, 0, 2]))
    b = model.apply(params, jnp.asarray([1, 0, 1]), jnp.asarray([1, 2, 0]))
    np.testing.assert_allclose(a[1], b[1], rtol=1e-6)  # hyperparameter 1 first in both orders


# ----------------------------------------------------------------------------- masking


@pytest.mark.slow  # ~9 CPU-s of its own: out of the fast lane
@pytest.mark.parametrize("name", ["maade_m1", "maade_m2", "made"])
def test_conditional_depends_only_on_hyperparameters_before_it_in_the_order(name):
    """Perturbing a_j changes P(a_i | .) iff j precedes i in z (checked over all strings)."""
    policy = _policies()[name]
    params = _random_params(policy, seed=3)
    order = jnp.asarray([1, 2, 0])
    rank = np.argsort(np.asarray(order))
    logits_fn = jax.jit(jax.vmap(lambda s: jax.nn.log_softmax(
        _logits(policy, params, s, order), axis=-1)))
    base = np.asarray(logits_fn(jnp.asarray(ALL_TINY)))
    moved = np.zeros((3, 3), bool)  # [i, j]: P(a_i | .) changed when a_j changed
    for j in range(3):
        other = ALL_TINY.copy()
        other[:, j] = (other[:, j] + 1) % TINY[j]
        changed = np.abs(np.asarray(logits_fn(jnp.asarray(other))) - base) > 1e-6
        moved[:, j] = np.where(np.isfinite(base), changed, False).any(axis=(0, 2))
    np.testing.assert_array_equal(moved, rank[None, :] < rank[:, None])


def _logits(policy, params, string, order):
    """float[N, D]: the policy network's logits of every conditional."""
    if policy.name == "made":
        return made.MADE(TINY, 8).apply(params, string, order)
    num_layers = 2 if "block_1" in params["params"] else 1
    return maade.MAADE(TINY, 6, num_layers).apply(params, string, order)


# ----------------------------------------------------------------------------- normalisation


@pytest.mark.slow  # ~14 CPU-s of its own: out of the fast lane
@pytest.mark.parametrize("name", ["maade_m1", "maade_m2", "made", "independent"])
def test_probabilities_sum_to_one_over_the_enumerated_space(name):
    """For every one of the 3! orders, the 12 strings' probabilities sum to 1."""
    policy = _policies()[name]
    params = _random_params(policy, seed=5)
    orders = jnp.asarray(list(itertools.permutations(range(3))))
    log_p = jax.jit(jax.vmap(jax.vmap(policy.log_prob, in_axes=(None, 0, None)),
                             in_axes=(None, None, 0)))(params, jnp.asarray(ALL_TINY), orders)
    np.testing.assert_allclose(jnp.exp(log_p).sum(-1), np.ones(6), atol=1e-5)


@pytest.mark.slow  # ~10 CPU-s of its own: out of the fast lane
@pytest.mark.parametrize("name", ["maade_m1", "maade_m2", "made", "independent"])
def test_samples_follow_the_distribution(name):
    """Chi-square of 20,000 ancestral samples against the exact probabilities of all strings;
    the log-probability the sampler returns is the one log_prob computes."""
    policy = _policies()[name]
    params = _random_params(policy, seed=7)
    order = jnp.asarray([2, 0, 1])
    count = 20_000
    strings, log_p = jax.jit(jax.vmap(policy.sample, in_axes=(None, 0, None)))(
        params, jax.random.split(jax.random.key(11), count), order)
    log_prob = jax.jit(jax.vmap(policy.log_prob, in_axes=(None, 0, None)))
    np.testing.assert_allclose(log_p, log_prob(params, strings, order), atol=1e-5)
    exact = np.exp(np.asarray(log_prob(params, jnp.asarray(ALL_TINY), order)), dtype=np.float64)
    observed = np.bincount(np.ravel_multi_index(np.asarray(strings).T, TINY), minlength=12)
    keep = exact * count >= 5  # chi-square needs expected counts >= 5; pool the rest
    f_obs = np.append(observed[keep], observed[~keep].sum())
    f_exp = np.append(exact[keep], exact[~keep].sum()) * count
    f_exp *= f_obs.sum() / f_exp.sum()
    assert scipy.stats.chisquare(f_obs[f_exp > 0], f_exp[f_exp > 0]).pvalue > 1e-3


@pytest.mark.slow  # ~7 CPU-s of its own: out of the fast lane
@pytest.mark.parametrize("name", ["maade", "made", "independent"])
def test_every_policy_starts_uniform_on_nb101_strings(name):
    """The zero density layer makes P(a | z) uniform: the searcher draws its first batch so."""
    cards = nb101_string.CARDINALITIES
    policy = {"maade": maade.make_policy(cards, 36), "made": made.make_made_policy(cards),
              "independent": made.make_independent_policy(cards)}[name]
    params = policy.init(jax.random.key(0))
    strings = _uniform(jax.random.key(1), (8,))
    orders = jax.vmap(lambda k: jax.random.permutation(k, len(cards)))(
        jax.random.split(jax.random.key(2), 8))
    log_p = jax.jit(jax.vmap(policy.log_prob, in_axes=(None, 0, 0)))(params, strings, orders)
    np.testing.assert_allclose(log_p, -np.log(np.asarray(cards, np.float64)).sum(), rtol=1e-6)


def test_impossible_values_are_never_drawn():
    policy = made.make_independent_policy(TINY)
    params = {"density_bias": jnp.asarray([[0.0, 0.0, 50.0], [0.0, 0.0, 0.0], [0.0, 0.0, 50.0]])}
    strings, _ = jax.vmap(policy.sample, in_axes=(None, 0, None))(
        params, jax.random.split(jax.random.key(0), 1000), jnp.arange(3))
    assert (np.asarray(strings) < np.asarray(TINY)).all()


# ----------------------------------------------------------------------------- MADE masks


def test_made_masks_by_hand():
    """N = 3, H = 4: hidden degrees 1, 2, 1, 2; order z = (2, 0, 1) gives degrees 2, 3, 1."""
    np.testing.assert_array_equal(made.hidden_degrees(3, 4), [1, 2, 1, 2])
    model = made.MADE(TINY, 4)
    params = model.init(jax.random.key(0), jnp.zeros(3, jnp.int32), jnp.arange(3))
    into, out = model.apply(params, jnp.asarray([2, 0, 1]), method=made.MADE.masks)
    np.testing.assert_array_equal(into, [[0, 1, 0, 1],  # deg 2: units of degree >= 2
                                         [0, 0, 0, 0],  # deg 3: feeds nothing
                                         [1, 1, 1, 1]])  # deg 1: feeds all
    np.testing.assert_array_equal(out.T, [[1, 0, 1, 0],  # deg 2 reads units of degree < 2
                                          [1, 1, 1, 1],  # deg 3 reads all
                                          [0, 0, 0, 0]])  # deg 1 (first) reads none


def test_bad_policy_arguments_raise():
    with pytest.raises(ValueError, match="embed_dim"):
        maade.make_policy(TINY, embed_dim=0)
    with pytest.raises(ValueError, match="hidden"):
        made.make_made_policy(TINY, hidden=0)
    with pytest.raises(ValueError, match="cardinalities"):
        policy_lib.value_mask(())
