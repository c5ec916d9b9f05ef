"""The dense prioritized replay buffer (Schaul et al. 2016; Cassimon et al. §4.1.1)."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from nasjax.agents.apex import replay

ALPHA = replay.FIELDS["priority_alpha"].default  # the default buffer's exponent
EPS = replay.FIELDS["priority_eps"].default


def _item(value: int) -> dict:
    """A compact item: an architecture as small ints, a flag and a scalar."""
    return {"arch": jnp.full(3, value, jnp.int8), "flag": jnp.bool_(value % 2),
            "r_t": jnp.float32(value)}


def _items(values) -> dict:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *[_item(v) for v in values])


def _draws(buffer, state, num_batches: int) -> np.ndarray:
    """Indices of `num_batches` sampled batches, flattened."""
    keys = jax.random.split(jax.random.key(0), num_batches)
    return np.asarray(jax.jit(jax.vmap(buffer.sample, (None, 0)))(state, keys).indices).ravel()


def test_defaults_are_the_papers():
    buffer = replay.make_prioritized_buffer()
    assert buffer.capacity == 25_000
    assert replay.FIELDS.config().to_dict() == {
        "replay_capacity": 25_000, "priority_alpha": 0.6, "priority_beta": 0.4,
        "priority_eps": 1e-6, "importance_weights": "buffer_min"}


def test_init_shapes_and_dtypes():
    state = replay.make_prioritized_buffer(capacity=7).init(_item(0))
    assert state.items["arch"].shape == (7, 3) and state.items["arch"].dtype == jnp.int8
    assert state.items["flag"].dtype == jnp.bool_ and state.items["r_t"].shape == (7,)
    np.testing.assert_array_equal(state.priorities, np.zeros(7))
    assert int(state.size) == int(state.position) == 0


def test_sampling_frequencies_follow_p_to_the_alpha():
    priorities = np.array([0.5, 1.0, 2.0, 3.0, 0.1, 6.0, 8.0, 4.0])
    buffer = replay.make_prioritized_buffer(capacity=8, sample_batch_size=64)
    state = buffer.add(buffer.init(_item(0)), _items(range(8)),
                       jnp.asarray(priorities, jnp.float32))
    counts = np.bincount(_draws(buffer, state, 200), minlength=8)  # 12,800 draws
    expected = (priorities + EPS) ** ALPHA
    expected = counts.sum() * expected / expected.sum()
    assert scipy.stats.chisquare(counts, expected).pvalue > 1e-3
    # The test has power: the same counts reject plain proportional sampling (alpha = 1).
    wrong = counts.sum() * priorities / priorities.sum()
    assert scipy.stats.chisquare(counts, wrong).pvalue < 1e-6


def test_probabilities_and_importance_weights_by_hand():
    # alpha = 0.5 and priorities 1, 4, 9, 16: masses 1, 2, 3, 4, P = .1, .2, .3, .4 (N = 4).
    buffer = replay.make_prioritized_buffer(capacity=4, sample_batch_size=4, alpha=0.5,
                                            beta=0.4)
    state = buffer.add(buffer.init(_item(0)), _items(range(4)),
                       jnp.array([1.0, 4.0, 9.0, 16.0]) - EPS)
    # (N P)^-beta = .4^-.4, .8^-.4, 1.2^-.4, 1.6^-.4
    unnormalised = np.array([1.44270, 1.09336, 0.92967, 0.82861])
    seen = set()
    for i in range(20):
        batch = buffer.sample(state, jax.random.key(i))
        idx = np.asarray(batch.indices)
        np.testing.assert_allclose(batch.probabilities, np.array([0.1, 0.2, 0.3, 0.4])[idx],
                                   rtol=1e-5)
        np.testing.assert_allclose(batch.weights, unnormalised[idx] / unnormalised[idx].max(),
                                   rtol=1e-4)
        assert batch.items["arch"][:, 0].tolist() == idx.tolist()  # items match their slots
        seen.update(idx.tolist())
    assert seen == {0, 1, 2, 3}



def test_buffer_min_normalises_by_the_least_probable_stored_item():
    # RLlib 1.13's rule: w_i = (N P_i)^-beta / (N min_j P_j)^-beta over the whole buffer, so a
    # batch without the least probable item has no weight 1. Capacity 5 with 4 filled slots:
    # the empty slot takes no part in the minimum.
    buffer = replay.make_prioritized_buffer(capacity=5, sample_batch_size=4, alpha=0.5,
                                            beta=0.4, normalisation="buffer_min")
    state = buffer.add(buffer.init(_item(0)), _items(range(4)),
                       jnp.array([1.0, 4.0, 9.0, 16.0]) - EPS)
    unnormalised = np.array([1.44270, 1.09336, 0.92967, 0.82861])  # as above
    without_slot_0 = 0
    for i in range(20):
        batch = buffer.sample(state, jax.random.key(i))
        idx = np.asarray(batch.indices)
        np.testing.assert_allclose(batch.weights, unnormalised[idx] / unnormalised[0],
                                   rtol=1e-4)
        without_slot_0 += 0 not in idx.tolist()
    assert without_slot_0 > 0  # batches where the two rules differ were drawn
    with pytest.raises(ValueError, match="normalisation"):
        replay.make_prioritized_buffer(normalisation="batch")

def test_stratified_batches_cover_the_mass_evenly():
    # Equal priorities and B = capacity: each stratum holds exactly one item, so every batch
    # is exactly 0..7 in order (independent draws would repeat items).
    buffer = replay.make_prioritized_buffer(capacity=8, sample_batch_size=8)
    state = buffer.add(buffer.init(_item(0)), _items(range(8)), jnp.ones(8))
    for i in range(5):
        batch = buffer.sample(state, jax.random.key(i))
        np.testing.assert_array_equal(batch.indices, np.arange(8))
        np.testing.assert_allclose(batch.weights, np.ones(8), rtol=1e-6)


def test_ring_overwrite():
    buffer = replay.make_prioritized_buffer(capacity=5, sample_batch_size=4)
    state = buffer.add(buffer.init(_item(0)), _items([10, 11, 12]), jnp.array([1.0, 2.0, 3.0]))
    assert (int(state.size), int(state.position)) == (3, 3)
    state = buffer.add(state, _items([13, 14, 15, 16]), jnp.array([4.0, 5.0, 6.0, 7.0]))
    # slots 3, 4 filled, then 0, 1 overwritten; 12 is the oldest survivor
    assert (int(state.size), int(state.position)) == (5, 2)
    np.testing.assert_array_equal(state.items["arch"][:, 0], [15, 16, 12, 13, 14])
    np.testing.assert_array_equal(state.items["flag"], [True, False, False, True, False])
    np.testing.assert_allclose(state.priorities,
                               (np.array([6.0, 7.0, 3.0, 4.0, 5.0]) + EPS) ** ALPHA)


def test_empty_slots_are_never_sampled_and_new_items_are():
    buffer = replay.make_prioritized_buffer(capacity=50, sample_batch_size=32)
    state = buffer.add(buffer.init(_item(0)), _items([1, 2, 3]), jnp.array([1.0, 1.0, 1.0]))
    assert set(_draws(buffer, state, 50)) == {0, 1, 2}
    state = buffer.add(state, _items([4]), jnp.array([1e3]))  # a surprising new item
    counts = np.bincount(_draws(buffer, state, 50), minlength=50)
    assert counts[4:].sum() == 0 and counts[3] > 0.9 * counts.sum()


def test_update_priorities():
    buffer = replay.make_prioritized_buffer(capacity=4, sample_batch_size=4)
    state = buffer.add(buffer.init(_item(0)), _items(range(4)), jnp.ones(4))
    # Repeated slots (stratified batches have them) carry the same new priority.
    state = buffer.update_priorities(state, jnp.array([2, 0, 2]), jnp.array([9.0, 0.0, 9.0]))
    np.testing.assert_allclose(state.priorities,
                               (np.array([0.0, 1.0, 9.0, 1.0]) + EPS) ** ALPHA, rtol=1e-6)
    counts = np.bincount(_draws(buffer, state, 100), minlength=4)
    assert counts[0] == 0 and counts[2] > counts[1] + counts[3]  # 3.74 : 1 : 1 in mass (9^.6)


def test_jitted_and_donated_without_retracing():
    buffer = replay.make_prioritized_buffer(capacity=64, sample_batch_size=16)
    chex.clear_trace_counter()
    add = jax.jit(chex.assert_max_traces(buffer.add, n=1), donate_argnums=0)
    sample = jax.jit(chex.assert_max_traces(buffer.sample, n=1))
    update = jax.jit(chex.assert_max_traces(buffer.update_priorities, n=1), donate_argnums=0)
    state = buffer.init(_item(0))
    for step in range(30):  # wraps around the ring several times
        state = add(state, _items(range(step, step + 5)), jnp.full(5, 1.0 + step))
        batch = sample(state, jax.random.key(step))
        state = update(state, batch.indices, jnp.abs(batch.items["r_t"]))
    assert int(state.size) == 64 and int(state.position) == (30 * 5) % 64


def test_bad_configuration_and_input():
    with pytest.raises(ValueError, match="must be positive"):
        replay.make_prioritized_buffer(capacity=0)
    with pytest.raises(ValueError, match="eps > 0"):
        replay.make_prioritized_buffer(eps=0.0)
    with pytest.raises(ValueError, match="beta"):
        replay.make_prioritized_buffer(beta=1.5)
    buffer = replay.make_prioritized_buffer(capacity=2)
    state = buffer.init(_item(0))
    with pytest.raises(ValueError, match="k <= capacity=2"):
        buffer.add(state, _items(range(3)), jnp.ones(3))
    with pytest.raises(ValueError, match=r"expected \(2, 3\)"):
        buffer.add(state, {**_items(range(2)), "arch": jnp.zeros((2, 4), jnp.int8)},
                   jnp.ones(2))
    with pytest.raises(ValueError, match="update_priorities"):
        buffer.update_priorities(state, jnp.array([0, 1]), jnp.ones(3))


def test_a_traced_beta_gives_the_weights_of_a_buffer_built_with_it():
    """Sweep points that differ in beta train together with beta traced (``Hyperparams``): the
    sample equals that of a buffer whose beta is the constant, bit for bit."""
    traced = replay.make_prioritized_buffer(capacity=6, sample_batch_size=4, beta=0.4)
    constant = replay.make_prioritized_buffer(capacity=6, sample_batch_size=4, beta=0.7)
    state = traced.add(traced.init(_item(0)), _items(range(5)),
                       jnp.array([1.0, 4.0, 9.0, 16.0, 2.0]))
    key = jax.random.key(3)
    with_beta = jax.jit(traced.sample)(state, key, jnp.float32(0.7))
    chex.assert_trees_all_equal(with_beta, jax.jit(constant.sample)(state, key))
    assert not np.array_equal(with_beta.weights, traced.sample(state, key).weights)
