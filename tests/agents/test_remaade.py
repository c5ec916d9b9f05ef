"""ReMAADE's losses, baseline, batch sampler and searcher variants (ReMAADE §§3, 6-8)."""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
import rlax

from nasjax import registry, spaces
from nasjax.agents import base, random_search, remaade
from nasjax.agents.remaade import losses, made
from nasjax.agents.remaade import searcher as searcher_lib
from nasjax.benchmarks import base as bench_lib
from nasjax.benchmarks import synthetic
from nasjax.configs import agents as agent_configs
from nasjax.spaces import nb101, nb101_string

SPACE = spaces.get("nb101")
VARIANTS = [name for name in registry.names("agent")
            if registry.make("agent", name).config == "remaade"]


def _config(**overrides) -> ml_collections.ConfigDict:
    """The ``remaade`` block of configs/agents.py (ReMAADE Table 3), with overrides."""
    config = agent_configs.remaade()
    config.update(overrides)
    return config


def _searcher(name: str, config: ml_collections.ConfigDict):
    """The registered ReMAADE variant ``name`` with the block ``config``."""
    agent = registry.make("agent", name)
    return agent.make_searcher(SPACE, agent.block(ml_collections.ConfigDict({"remaade": config})))


# ----------------------------------------------------------------------------- losses


def test_reinforce_loss_by_hand():
    loss, grad = jax.value_and_grad(losses.reinforce_loss)(jnp.float32(-1.5), jnp.float32(0.2))
    assert float(loss) == pytest.approx(0.3)  # -A log p = -0.2 * -1.5
    assert float(grad) == pytest.approx(-0.2)  # descending it raises log p when A > 0


@pytest.mark.parametrize("log_ratio, adv, loss, grad", [
    (0.5, 1.0, -1.1, 0.0),  # r = 1.649 > 1 + eps, A > 0: clipped at 1.1, no gradient
    (-0.5, 1.0, -np.exp(-0.5), -np.exp(-0.5)),  # r = 0.607 < 1 - eps, A > 0: unclipped
    (0.5, -1.0, np.exp(0.5), np.exp(0.5)),  # A < 0, r large: the pessimistic unclipped term
    (-0.5, -1.0, 0.9, 0.0),  # A < 0, r small: clipped at 0.9, no gradient
    (0.05, 2.0, -2.0 * np.exp(0.05), -2.0 * np.exp(0.05)),  # inside the clip range
])
def test_ppo_clip_loss_by_hand(log_ratio, adv, loss, grad):
    def fn(lp):
        return losses.ppo_clip_loss(lp, jnp.float32(-2.0), jnp.float32(adv), 0.1)

    value, g = jax.value_and_grad(fn)(jnp.float32(-2.0 + log_ratio))
    assert float(value) == pytest.approx(loss, rel=1e-5)
    assert float(g) == pytest.approx(grad, rel=1e-5, abs=1e-7)  # d/d log pi = d/d r * r


def test_ppo_clip_loss_matches_rlax_and_equals_reinforce_at_ratio_one():
    log_pi = jnp.asarray([-1.0, -2.0, -0.5, -3.0])
    log_old = jnp.asarray([-1.2, -1.5, -0.5, -3.3])
    adv = jnp.asarray([0.3, -0.2, 0.1, -0.4])
    ours = jax.vmap(lambda a, b, c: losses.ppo_clip_loss(a, b, c, 0.1))(log_pi, log_old, adv)
    ref = rlax.clipped_surrogate_pg_loss(jnp.exp(log_pi - log_old), adv, 0.1)
    assert float(ours.mean()) == pytest.approx(float(ref), rel=1e-6)
    ppo = jax.grad(lambda lp: jax.vmap(lambda a, c: losses.ppo_clip_loss(a, a, c, 0.1))(
        lp, adv).sum())(log_pi)
    pg = jax.grad(lambda lp: jax.vmap(losses.reinforce_loss)(lp, adv).sum())(log_pi)
    np.testing.assert_allclose(ppo, pg, rtol=1e-6)


def test_ema_baseline_by_hand():
    ema = losses.ema_init()
    assert float(losses.ema_value(ema)) == 0.0
    ema = losses.ema_update(ema, jnp.float32(1.0), 0.9)
    assert float(losses.ema_value(ema)) == pytest.approx(1.0)  # bias-corrected: first value
    ema = losses.ema_update(ema, jnp.float32(0.0), 0.9)
    assert float(losses.ema_value(ema)) == pytest.approx(0.09 / 0.19)  # (0.9*0.1) / (0.9*0.1+0.1)
    with pytest.raises(AssertionError):
        losses.ema_update(ema, jnp.ones(2), 0.9)  # unbatched: the caller reduces or vmaps


# ----------------------------------------------------------------------------- variants


def test_every_variant_builds_and_unknown_names_list_the_valid_ones():
    assert {"remaade", "remaade_reinforce", "remaade_ppo", "reinforce_made", "reinforce",
            "remaade_s1", "remaade_s16", "remaade_sall"} <= set(VARIANTS)
    for name in VARIANTS:
        assert _searcher(name, _config()).name == name
    assert _searcher("remaade", _config(batch_size=64)).batch == 64
    with pytest.raises(ValueError, match="remaade_ppo"):
        registry.make("agent", "remaade_bogus")
    with pytest.raises(ValueError, match="objective"):
        _searcher("remaade", _config(objective="a2c"))
    with pytest.raises(ValueError, match="policy"):
        _searcher("remaade", _config(policy="lstm"))


def test_variants_override_their_block():
    block = registry.make("agent", "reinforce_made").block(
        ml_collections.ConfigDict({"remaade": _config()}))
    assert (block.policy, block.objective) == ("made", "reinforce")
    assert registry.make("agent", "remaade_sall").block(
        ml_collections.ConfigDict({"remaade": _config()})).num_orders == searcher_lib.ALL_ORDERS


@pytest.mark.slow  # ~6 CPU-s of its own: out of the fast lane
def test_orders_set_is_fixed_per_trial():
    state = jax.jit(_searcher("remaade_s4", _config(batch_size=8)).init)(
        jax.random.key(0))
    orders = np.asarray(state.orders)
    assert orders.shape == (4, nb101_string.NUM_HPARAMS)
    assert (np.sort(orders, axis=1) == np.arange(nb101_string.NUM_HPARAMS)).all()
    assert {tuple(o) for o in np.asarray(state.string_orders)} <= {tuple(o) for o in orders}


# ----------------------------------------------------------------------------- sampler


def _independent_searcher(bias_edges: float, **kwargs):
    """Plain REINFORCE whose edge biases favour present edges by ``bias_edges``."""
    uniform = made.make_independent_policy(nb101_string.CARDINALITIES)

    def init(key):
        bias = uniform.init(key)["density_bias"]
        return {"density_bias": bias.at[nb101_string.NUM_OP_SLOTS:, 1].set(bias_edges)}

    policy = dataclasses.replace(uniform, init=init)
    return searcher_lib.make_remaade(SPACE, policy, batch_size=16, **kwargs)


def _next_batch(searcher):
    """The batch sampled by the first update (the first comes from the uniform initial policy)."""
    state = searcher.init(jax.random.key(0))
    metrics = bench_lib.Metrics(valid=jnp.zeros(16, bool), val_acc=jnp.full(16, jnp.nan),
                                test_acc=jnp.zeros(16), train_seconds=jnp.zeros(16),
                                params=jnp.zeros(16))
    return searcher.update(state, state.archs, metrics)


@pytest.mark.slow  # ~8 CPU-s of its own: out of the fast lane
def test_batches_hold_exactly_b_valid_strings_even_when_the_policy_rarely_makes_one():
    # Nearly every edge present: almost every string has > 9 edges after pruning.
    state = jax.jit(_next_batch, static_argnums=0)(_independent_searcher(4.0, max_rounds=2))
    assert np.asarray(nb101.is_valid(state.archs)).all()
    assert state.strings.shape == (16, nb101_string.NUM_HPARAMS)
    np.testing.assert_array_equal(nb101_string.decode(state.strings)[1], True)
    # No valid string in 2 rounds of 32: the fallback string fills the batch.
    np.testing.assert_array_equal(state.strings,
                                  np.tile(searcher_lib.fallback_string(SPACE), (16, 1)))


# ----------------------------------------------------------------------------- search


@pytest.fixture(scope="module")
def synthetic_bench(data_dir):
    """nb101-synthetic: a SYNTHETIC known objective over every NAS-Bench-101 cell."""
    return synthetic.make(data_dir, progress=False)


@pytest.mark.slow  # needs the enumeration (slow without a cache), then a trial (~10 CPU-s)
def test_plain_reinforce_learns_the_known_objective(synthetic_bench):
    """SYNTHETIC objective (more conv3x3 and edges, fewer max-pools is better): the last
    batch of 10 scores above the first, which is drawn from the uniform initial policy
    (random search over strings); trials are deterministic and ``update`` is traced once."""
    searcher = _searcher("reinforce", _config(learning_rate=0.1))
    searcher = dataclasses.replace(searcher,
                                   update=chex.assert_max_traces(searcher.update, n=1))
    keys = jax.random.split(jax.random.key(0), 8)
    result = base.run_trials(searcher, synthetic_bench, keys, budget=300)
    again = base.run_trials(searcher, synthetic_bench, keys, budget=300)
    np.testing.assert_array_equal(result.observed, again.observed)
    assert np.asarray(result.valid).all()
    observed = np.asarray(result.observed)
    assert observed[:, -30:].mean() > observed[:, :30].mean() + 0.01


@pytest.mark.slow
def test_remaade_beats_random_search_at_budget_150(synthetic_bench):
    """Table 3's setting (d = 36, S = 1, B = 30, lr = 1e-2) on the SYNTHETIC objective:
    the best validation accuracy after 150 queries, averaged over 32 trials, exceeds that of
    ReMAADE's random search (NAS-Bench-101's, uniform over valid cells: ReMAADE §8), and a
    second run with the same key is identical."""
    searcher = _searcher("remaade", _config())
    keys = jax.random.split(jax.random.key(1), 32)
    result = base.run_trials(searcher, synthetic_bench, keys, budget=150)
    again = base.run_trials(searcher, synthetic_bench, keys, budget=150)
    np.testing.assert_array_equal(result.observed, again.observed)
    uniform = random_search.make_uniform_searcher(SPACE, batch=30)
    rs = base.run_trials(uniform, synthetic_bench, keys, 150)
    best = np.asarray(result.observed).max(1).mean()
    assert best > np.asarray(rs.observed).max(1).mean()
    assert np.asarray(result.observed)[:, -30:].mean() > np.asarray(result.observed)[:, :30].mean()


@pytest.mark.slow  # ~8 CPU-s of its own: out of the fast lane
def test_first_batch_learns_against_its_own_mean():
    """ReMAADE §7 line 9 updates theta after every batch, the first included: its baseline is
    its own mean reward. Rewards (0.25, 0.75, 0.25, 0.75) have mean 0.5, so the advantages are
    (-0.25, 0.25, -0.25, 0.25); from uniform biases, the REINFORCE gradient of the 1/B sum is
    ``-1/B sum_k A_k onehot(a_k)`` (the softmax term cancels: the advantages sum to 0), and
    the new biases are one Adam step along it. (With no first baseline, as before, the
    advantages were 0 and theta stayed put.)"""
    searcher = searcher_lib.make_remaade(SPACE, made.make_independent_policy(SPACE.choices),
                                         batch_size=4, learning_rate=0.1)
    state = searcher.init(jax.random.key(0))
    first = jax.jit(searcher.update)(state, state.archs, _metrics([0.25, 0.75, 0.25, 0.75]))
    adv = np.asarray([-0.25, 0.25, -0.25, 0.25], np.float32)
    width = state.params["density_bias"].shape[-1]
    onehot = np.eye(width, dtype=np.float32)[np.asarray(state.strings)]  # [B, N, D]
    grads = {"density_bias": -np.einsum("k,knd->nd", adv, onehot) / 4}
    optimizer = optax.adam(0.1)
    updates, _ = optimizer.update(grads, optimizer.init(state.params), state.params)
    expected = optax.apply_updates(state.params, updates)
    np.testing.assert_allclose(first.params["density_bias"], expected["density_bias"],
                               rtol=1e-5, atol=1e-6)
    assert np.abs(np.asarray(first.params["density_bias"])).max() == pytest.approx(0.1, rel=1e-4)
    assert float(losses.ema_value(first.baseline)) == pytest.approx(0.5)


def _metrics(rewards) -> bench_lib.Metrics:
    """Metrics of a batch of valid queries scoring ``rewards``."""
    rewards = jnp.asarray(rewards, jnp.float32)
    return bench_lib.Metrics(valid=jnp.ones(rewards.shape, bool), val_acc=rewards,
                             test_acc=rewards, train_seconds=rewards, params=rewards)


@pytest.mark.slow  # ~9 CPU-s of its own: out of the fast lane
def test_later_advantages_use_the_baseline_of_previous_batches():
    """ReMAADE §3: after the first batch, b averages *previously* sampled architectures: a
    second batch scoring exactly the first batch's mean has zero advantages (its update is
    Adam's step with a zero gradient: momentum only); a better one moves theta further."""
    searcher = searcher_lib.make_remaade(SPACE, made.make_independent_policy(SPACE.choices),
                                         batch_size=4, learning_rate=0.1)
    update = jax.jit(searcher.update)
    state = searcher.init(jax.random.key(0))
    first = update(state, state.archs, _metrics([0.25, 0.75, 0.25, 0.75]))
    second = update(first, first.archs, _metrics([0.5] * 4))
    zero = jax.tree.map(jnp.zeros_like, first.params)
    updates, _ = optax.adam(0.1).update(zero, first.opt_state, first.params)
    chex.assert_trees_all_close(second.params, optax.apply_updates(first.params, updates))
    third = update(second, second.archs, _metrics([0.9] * 4))
    updates, _ = optax.adam(0.1).update(zero, second.opt_state, second.params)
    assert not np.allclose(third.params["density_bias"],
                           optax.apply_updates(second.params, updates)["density_bias"])


def test_our_choice_marks_exactly_the_values_the_paper_does_not_give():
    """The fields the remaade declaration marks ``ours`` are those reports mark
    (``our_choice()``) and whose help (shown by --help) starts with "our choice"."""
    from nasjax.agents import remaade

    marked = {field for field, text in remaade.FIELDS.help().items()
              if text.startswith("our choice")}
    listed = set(agent_configs.our_choice()["remaade"])
    assert marked == listed == set(remaade.FIELDS.ours())
    assert {"ema_decay", "ppo_epochs", "ff_dim", "init_stddev"} <= listed


def test_a_traced_ema_decay_with_its_host_rest_equals_the_constant():
    """``1 - decay`` computed on the host (Python's float64, as a constant decay is) makes a
    traced EMA update bit-identical to the constant's; float32 ``1 - 0.9`` would not be."""
    ema = losses.EmaBaseline(numerator=jnp.float32(0.3), denominator=jnp.float32(0.7))
    value = jnp.float32(0.8)
    for decay in (0.9, 0.95):
        hyper = remaade.hyperparams(_config(ema_decay=decay))
        constant = jax.jit(lambda e, v, d=decay: losses.ema_update(e, v, d))(ema, value)
        traced = jax.jit(losses.ema_update)(ema, value, hyper["ema_decay"], hyper["ema_rest"])
        chex.assert_trees_all_equal(traced, constant)
    # From an empty average the denominator is 1 - decay itself, so the difference shows
    # whatever the code generation (e.g. an FMA of decay * denominator + rest).
    empty = losses.EmaBaseline(numerator=jnp.float32(0.0), denominator=jnp.float32(0.0))
    rounded = jax.jit(losses.ema_update)(empty, value, jnp.float32(0.9))  # float32 1 - 0.9
    assert float(rounded.denominator) != float(constant_09 := jax.jit(
        lambda e, v: losses.ema_update(e, v, 0.9))(empty, value).denominator)
    assert float(constant_09) == np.float32(0.1)


# Two compilations of a trial (~60 s at load 6 on 2 cores): long; in the default run
# tests/launch/test_sweep.py checks a learning-rate sweep's points bit for bit.
@pytest.mark.long
@pytest.mark.slow
@pytest.mark.parametrize("at_once", [1, 2])
def test_sweep_points_in_one_program_equal_their_single_runs(synthetic_bench, at_once):
    """Points that differ in the traced hyperparameters (learning rate, EMA decay) and their
    keys, run by one compiled program (in turn inside it, and vmapped), give the single run
    of each point bit for bit at this size (the traced values are the constants' float32 values)."""
    agent = registry.make("agent", "reinforce")
    blocks = [agent.block(ml_collections.ConfigDict({"remaade": _config(
        batch_size=8, learning_rate=rate, ema_decay=decay)})) for rate, decay in
        ((1e-2, 0.9), (0.1, 0.95))]
    keys = jax.random.split(jax.random.key(0), (3, 2))  # [trials, points]
    hypers = jax.tree.map(lambda *x: jnp.stack(x), *map(agent.hyperparams, blocks))

    def make(hyper):
        return agent.make_searcher(SPACE, blocks[0], hyper=hyper)

    together = base.run_point_trials(make, hypers, synthetic_bench, keys, 24, "noisy",
                                     points_at_once=at_once)
    single = base.run_trials(agent.make_searcher(SPACE, blocks[1]), synthetic_bench, keys[:, 1],
                             budget=24, mode="noisy")
    chex.assert_trees_all_equal(jax.tree.map(lambda x: x[1], together), single)
