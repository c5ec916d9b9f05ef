"""The incremental MDP (Cassimon et al. §3.2) on a hand-built world and on NAS-Bench-101."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import environment
from nasjax import env
from nasjax.agents import local_search, random_walk
from nasjax.evaluation import episodes
from nasjax.spaces import nb101, nb101_canonical, nb101_space, neighbour_table, presentation
from tests.conftest import SMALL_WORLD, TEST_GAP, chain

reset = jax.jit(env.reset)  # one compilation per parameter set, shared by the tests
step = jax.jit(env.step)
ENV = environment.get("nb101")  # N = 50, alpha = 6, episodes of 16 / 32 steps


def _params(world, **kwargs):
    settings = dict(max_neighbours=ENV.max_neighbours, alpha=ENV.alpha,
                    episode_length=ENV.eval_episode_length)
    return env.make_params(world["space"], world["bench"], **{**settings, **kwargs})


def _node(world, name):
    return int(np.asarray(world["table"].locate(world["cells"][name])))


def _action(state, world, name):
    """The action that moves to the named cell (it must be presented)."""
    (index,) = np.flatnonzero(np.asarray(state.neighbours) == _node(world, name))
    return jnp.int32(index + 1)


def _same(a, b) -> bool:
    return all(jax.tree.leaves(jax.tree.map(
        lambda x, y: bool(np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)), a, b)))


def shaped(acc, alpha):
    return np.exp(alpha * (acc - 1.0)) if alpha else acc


def test_shaped_reward_by_hand():
    np.testing.assert_allclose(env.shaped_reward(jnp.float32(0.9), 6.0), np.exp(-0.6), rtol=1e-6)
    np.testing.assert_allclose(env.shaped_reward(jnp.float32(0.5), 2.0), np.exp(-1.0), rtol=1e-6)
    np.testing.assert_allclose(env.shaped_reward(jnp.float32(1.0), 32.0), 1.0)
    assert env.shaped_reward(jnp.float32(0.9), None) == jnp.float32(0.9)


def test_config_holds_the_papers_settings():
    assert (ENV.max_neighbours, ENV.alpha) == (50, 6.0)
    assert (ENV.train_episode_length, ENV.eval_episode_length) == (16, 32)
    assert environment.get("nb301").alpha == 32.0


@pytest.mark.slow  # ~6 CPU-s of its own: out of the fast lane
def test_make_params_checks_its_arguments(small_world):
    params = _params(small_world)
    assert (params.max_neighbours, params.alpha, params.episode_length) == (50, 6.0, 32)
    assert (params.query_mode, params.report_metric) == ("mean", "test")
    assert env.num_actions(params) == 51
    with pytest.raises(ValueError, match="query_mode"):
        _params(small_world, query_mode="median")
    with pytest.raises(ValueError, match="max_neighbours"):
        _params(small_world, max_neighbours=0)
    with pytest.raises(ValueError, match="report_metric"):
        _params(small_world, report_metric="train")


def test_reset_at_a_given_cell(small_world):
    params = _params(small_world)
    obs, state = reset(jax.random.key(0), params, small_world["cells"]["start"])
    assert _same(obs.arch, small_world["cells"]["start"])
    np.testing.assert_allclose(state.acc, 0.50, rtol=1e-6)
    np.testing.assert_allclose(state.report_acc, 0.50 - TEST_GAP, rtol=1e-6)
    assert int(state.t) == 0 and int(state.num_neighbours) == 4 and bool(state.valid)
    # Four neighbours shown (N = 50 > 4): mask = stay + 4, padding is all-PAD with node -1.
    np.testing.assert_array_equal(obs.action_mask, [True] * 5 + [False] * 46)
    assert (np.asarray(obs.nodes[5:]) == -1).all() and (np.asarray(obs.nodes[:5]) >= 0).all()
    assert (np.asarray(obs.neighbours.ops[4:]) == nb101.PAD).all()
    assert not np.asarray(obs.neighbours.adj[4:]).any()
    # Tokens: the current cell first, then the neighbours; zeros at padding.
    assert obs.tokens.shape == (51, nb101_space.TOKEN_SIZE)
    np.testing.assert_array_equal(obs.tokens[0], nb101_space.tokens(obs.arch))
    np.testing.assert_array_equal(obs.tokens[1:5], nb101_space.tokens(obs.neighbours[:4]))
    assert not np.asarray(obs.tokens[5:]).any()
    # In presentation order (fewer than N: nothing dropped).
    for slot, name in enumerate(SMALL_WORLD["start"][2]):
        assert _same(obs.neighbours[slot], small_world["cells"][name])


@pytest.mark.slow  # ~7 CPU-s of its own: out of the fast lane
@pytest.mark.parametrize("alpha", [6.0, None])
def test_reward_is_the_shaped_difference_from_the_first_move(small_world, alpha):
    params = _params(small_world, alpha=alpha)
    _, state = reset(jax.random.key(0), params, small_world["cells"]["start"])
    _, state, reward, terminated, truncated, info = step(
        jax.random.key(1), state, _action(state, small_world, "peak"), params)
    np.testing.assert_allclose(reward, shaped(0.90, alpha) - shaped(0.50, alpha), rtol=1e-5)
    assert not terminated and not truncated and bool(info["moved"]) and int(state.t) == 1
    _, state, reward, *_ = step(jax.random.key(2), state, _action(state, small_world, "f"), params)
    np.testing.assert_allclose(reward, shaped(0.65, alpha) - shaped(0.90, alpha), rtol=1e-5)
    _, state, reward, *_ = step(jax.random.key(3), state, _action(state, small_world, "e"), params)
    np.testing.assert_allclose(reward, shaped(0.80, alpha) - shaped(0.65, alpha), rtol=1e-5)
    assert _same(env.observe(state, params).arch, small_world["cells"]["e"])
    assert int(state.t) == 3


def test_return_is_the_shaped_final_minus_initial(small_world):
    params = _params(small_world)
    _, state = reset(jax.random.key(0), params, small_world["cells"]["start"])
    total = 0.0
    for seed, name in enumerate(("b", "peak", "f", "e")):
        _, state, reward, *_ = step(jax.random.key(seed), state,
                                    _action(state, small_world, name), params)
        total += float(reward)
    _, state, reward, *_ = step(jax.random.key(9), state, jnp.int32(0), params)
    total += float(reward)
    np.testing.assert_allclose(total, shaped(0.80, 6.0) - shaped(0.50, 6.0), rtol=1e-5)


def test_stay_terminates_with_zero_reward(small_world):
    params = _params(small_world)
    _, state = reset(jax.random.key(0), params, small_world["cells"]["start"])
    _, state, *_ = step(jax.random.key(1), state, _action(state, small_world, "b"), params)
    _, after, reward, terminated, truncated, info = step(jax.random.key(2), state, jnp.int32(0),
                                                         params)
    assert bool(terminated) and not bool(truncated)
    assert not bool(info["moved"]) and not bool(info["invalid_action"])
    assert float(reward) == 0.0 and _same(env.observe(after, params).arch,
                                          small_world["cells"]["b"])
    assert int(after.node) == int(state.node)


@pytest.mark.parametrize("action", [4, 6, 50, 51, 1000, -1])
def test_masked_or_out_of_range_action_stays_and_terminates(small_world, action):
    params = _params(small_world)  # "start" has 4 neighbours: actions 5..50 are padding
    _, state = reset(jax.random.key(0), params, small_world["cells"]["start"])
    _, state, *_ = step(jax.random.key(1), state, _action(state, small_world, "e"), params)
    # now at "e" (3 neighbours: 4..50 are padding), t = 1
    _, after, reward, terminated, truncated, info = step(jax.random.key(2), state,
                                                         jnp.int32(action), params)
    assert bool(info["invalid_action"]) and not bool(info["moved"])
    assert bool(terminated) and not bool(truncated)
    assert _same(env.observe(after, params).arch, small_world["cells"]["e"])
    assert float(reward) == 0.0 and int(after.node) == int(state.node) >= 0


def test_time_limit_truncates_without_terminating(small_world):
    params = _params(small_world, episode_length=2)
    _, state = reset(jax.random.key(0), params, small_world["cells"]["start"])
    _, state, _, terminated, truncated, _ = step(jax.random.key(1), state, jnp.int32(1), params)
    assert not bool(terminated) and not bool(truncated)
    obs, state, _, terminated, truncated, info = step(jax.random.key(2), state, jnp.int32(1),
                                                      params)
    assert bool(truncated) and not bool(terminated) and bool(info["moved"]) and int(state.t) == 2
    assert _same(info["final_obs"], obs)
    # "stay" at the time limit terminates (no bootstrap), it is not a truncation.
    params = _params(small_world, episode_length=1)
    _, state = reset(jax.random.key(0), params, small_world["cells"]["start"])
    _, _, _, terminated, truncated, _ = step(jax.random.key(1), state, jnp.int32(0), params)
    assert bool(terminated) and not bool(truncated)


def test_subset_is_a_uniform_subset_in_range():
    n, size = 5, 12
    draws = jax.vmap(lambda s: presentation.subset(s, jnp.int32(9), size, n))(
        jnp.arange(20000, dtype=jnp.uint32) * jnp.uint32(2654435761))
    chosen, valid = map(np.asarray, draws)
    assert valid.all() and (chosen < 9).all()
    assert all(len(set(row)) == n for row in chosen)  # distinct entries
    frequency = np.bincount(chosen.ravel(), minlength=9) / len(chosen)
    np.testing.assert_allclose(frequency, n / 9, atol=0.02)  # each entry kept w.p. N / count
    few, few_valid = presentation.subset(jnp.uint32(7), jnp.int32(3), size, n)
    np.testing.assert_array_equal(few_valid, [True, True, True, False, False])
    np.testing.assert_array_equal(few[:3], [0, 1, 2])  # count <= N: all, in order


@pytest.mark.slow  # ~4 CPU-s of its own: out of the fast lane
def test_subset_of_presented_neighbours_varies_with_the_key(small_world):
    params = _params(small_world, max_neighbours=2)
    keys = jax.random.split(jax.random.key(0), 40)
    obs, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None, None)))(
        keys, params, small_world["cells"]["start"])
    np.testing.assert_array_equal(obs.action_mask.sum(-1), 3)
    np.testing.assert_array_equal(state.num_neighbours, 4)
    shown = {tuple(sorted(nodes)) for nodes in np.asarray(obs.nodes[:, 1:]).tolist()}
    assert len(shown) == 6  # every pair of the 4 neighbours appears


@pytest.mark.slow  # four vmapped environment programs of their own (~13 CPU-s)
def test_auto_reset_is_step_or_reset(small_world):
    params = _params(small_world, episode_length=3)
    keys = jax.random.split(jax.random.key(0), 16)
    start = nb101.Cell(*(jnp.broadcast_to(x, (16,) + x.shape)
                         for x in (jnp.asarray(small_world["cells"]["start"].adj),
                                   jnp.asarray(small_world["cells"]["start"].ops))))
    # Compiled, not run op by op (which costs more than compiling these environment programs).
    _, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None, 0)))(keys, params, start)
    actions = jnp.arange(16, dtype=jnp.int32) % 3  # stays, moves
    step_keys = jax.random.split(jax.random.key(1), 16)
    obs, auto, reward, terminated, truncated, info = jax.jit(jax.vmap(
        env.step_auto_reset, in_axes=(0, 0, 0, None)))(step_keys, state, actions, params)
    split = jax.vmap(jax.random.split)(step_keys)
    stepped = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))(split[:, 0], state, actions,
                                                                   params)
    fresh_obs, fresh = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(split[:, 1], params)
    done = terminated | truncated
    expected = jax.tree.map(lambda a, b: jnp.where(
        done.reshape(done.shape + (1,) * (a.ndim - 1)), a, b), fresh, stepped[1])
    assert _same(auto, expected)
    assert _same(reward, stepped[2]) and _same(terminated, stepped[3])
    assert _same(truncated, stepped[4])
    np.testing.assert_array_equal(terminated, actions == 0)
    assert (np.asarray(auto.t)[np.asarray(done)] == 0).all()
    # The ended episodes' last observations are kept; the others continue from them.
    assert _same(info["final_obs"], stepped[0])
    assert not _same(obs, stepped[0])


def test_auto_reset_keeps_the_truncated_observation(small_world):
    params = _params(small_world, episode_length=1)
    _, state = reset(jax.random.key(0), params, small_world["cells"]["start"])
    action = _action(state, small_world, "peak")
    obs, after, _, terminated, truncated, info = jax.jit(env.step_auto_reset)(
        jax.random.key(1), state, action, params)
    assert bool(truncated) and not bool(terminated) and int(after.t) == 0
    assert _same(info["final_obs"].arch, small_world["cells"]["peak"])
    assert not _same(obs, info["final_obs"])


@pytest.mark.slow  # ~8 CPU-s of its own: out of the fast lane
def test_a_traced_alpha_gives_the_rewards_of_the_static_one(small_world):
    # Ape-X sweep points over alpha train as one program: the step takes alpha traced.
    params = _params(small_world, episode_length=3)  # alpha = 6
    start = nb101.Cell(*(jnp.broadcast_to(x, (16,) + x.shape)
                         for x in (jnp.asarray(small_world["cells"]["start"].adj),
                                   jnp.asarray(small_world["cells"]["start"].ops))))
    _, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None, 0)))(
        jax.random.split(jax.random.key(0), 16), params, start)  # as the test above
    actions = jnp.arange(16, dtype=jnp.int32) % 5  # stays and moves to each neighbour
    keys = jax.random.split(jax.random.key(1), 16)
    v_step = jax.vmap(env.step_auto_reset, in_axes=(0, 0, 0, None, None))
    static = jax.jit(v_step)(keys, state, actions, _params(small_world, alpha=2.0,
                                                           episode_length=3), None)
    assert _same(jax.jit(v_step)(keys, state, actions, params, jnp.float32(2.0)), static)
    _, after, reward, _, _, info = static
    moved = np.asarray(info["moved"])
    assert moved.sum() == 12  # episodes go on where they moved: ``after`` holds their acc
    np.testing.assert_allclose(reward, np.where(moved, shaped(after.acc, 2.0)
                                                - shaped(state.acc, 2.0), 0.0), rtol=1e-5)
    with pytest.raises(ValueError, match="needs reward shaping on"):
        v_step(keys, state, actions, _params(small_world, alpha=None), jnp.float32(2.0))


@pytest.mark.slow  # an episode program of its own (N = 2; ~12 CPU-s)
def test_same_keys_same_episodes(small_world):
    params = _params(small_world, max_neighbours=2)
    cells = jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * 64), small_world["cells"]["start"])
    policy = random_walk.make_policy()
    first = episodes.run_episodes(policy, params, cells, jax.random.key(3))
    again = episodes.run_episodes(policy, params, cells, jax.random.key(3))
    other = episodes.run_episodes(policy, params, cells, jax.random.key(4))
    assert _same(first, again) and not _same(first, other)


def test_step_is_traced_once(small_world):
    params = _params(small_world)
    traced_step = jax.jit(chex.assert_max_traces(env.step, n=1))
    _, state = reset(jax.random.key(0), params, small_world["cells"]["start"])
    for seed, action in enumerate([1, 2, 0, 7]):
        _, state, *_ = traced_step(jax.random.key(seed), state, jnp.int32(action), params)
    traced_reset = jax.jit(chex.assert_max_traces(env.reset, n=1))
    for seed in range(3):
        traced_reset(jax.random.key(seed), params, small_world["cells"]["peak"])


@pytest.mark.slow  # ~4 CPU-s of its own: out of the fast lane
def test_random_walk_never_takes_a_masked_action(small_world):
    params = _params(small_world, episode_length=8)

    @jax.jit
    def walk(key):
        _, state = env.reset(key, params, small_world["cells"]["start"])

        def body(state, key):
            key_act, key_step = jax.random.split(key)
            action = random_walk.act(None, env.observe(state, params), key_act)
            _, state, _, terminated, truncated, info = env.step_auto_reset(key_step, state,
                                                                           action, params)
            return state, (info["invalid_action"], terminated | truncated)

        return jax.lax.scan(body, state, jax.random.split(key, 64))[1]

    invalid, done = jax.vmap(walk)(jax.random.split(jax.random.key(0), 32))
    assert not np.asarray(invalid).any() and np.asarray(done).any()


def test_tokens_of_a_hand_built_cell():
    cell = chain(nb101.CONV3X3, nb101.CONV1X1)  # 0 -> 1 -> 2 -> 3
    features = np.asarray(nb101_space.tokens(nb101.Cell(adj=jnp.asarray(cell.adj),
                                                        ops=jnp.asarray(cell.ops))))
    assert features.shape == (nb101_space.TOKEN_SIZE,) == (63,)
    # Lower triangle row by row: (1,0) (2,0) (2,1) (3,0) (3,1) (3,2) (4,0) ... (6,5).
    adjacency = np.zeros(21)
    adjacency[[0, 2, 5]] = 1  # 1 <- 0, 2 <- 1, 3 <- 2
    one_hot = {nb101.INPUT: 0, nb101.OUTPUT: 1, nb101.CONV3X3: 2, nb101.CONV1X1: 3,
               nb101.MAXPOOL3X3: 4, nb101.PAD: 5}
    labels = np.zeros((7, 6))
    for vertex, op in enumerate([nb101.INPUT, nb101.CONV3X3, nb101.CONV1X1, nb101.OUTPUT,
                                 nb101.PAD, nb101.PAD, nb101.PAD]):
        labels[vertex, one_hot[op]] = 1
    np.testing.assert_array_equal(features, np.concatenate([adjacency, labels.ravel()]))
    batch = nb101.sample(jax.random.key(0), (3, 4))
    assert nb101_space.tokens(batch).shape == (3, 4, 63)


def test_canonical_is_the_first_relabelling():
    a = chain(nb101.CONV3X3, nb101.MAXPOOL3X3)
    # Two branches input -> x -> output, in both orders: isomorphic, the pool-first one is
    # not first in the enumeration's order (labelling conv3x3 = 0 < maxpool = 2 first).
    def fork(first, second):
        adj = np.zeros((7, 7), bool)
        adj[0, 1] = adj[0, 2] = adj[1, 3] = adj[2, 3] = True
        ops = np.array([nb101.INPUT, first, second, nb101.OUTPUT] + [nb101.PAD] * 3, np.int8)
        return nb101.Cell(adj=jnp.asarray(adj), ops=jnp.asarray(ops))

    cells = jax.tree.map(lambda *x: jnp.stack(x), fork(nb101.MAXPOOL3X3, nb101.CONV3X3),
                         fork(nb101.CONV3X3, nb101.MAXPOOL3X3),
                         nb101.Cell(adj=jnp.asarray(a.adj), ops=jnp.asarray(a.ops)))
    out = nb101_canonical.canonical(cells)
    assert _same(out[0], fork(nb101.CONV3X3, nb101.MAXPOOL3X3))
    assert _same(out[1], out[0]) and _same(out[2], cells[2])
    np.testing.assert_array_equal(nb101.hash_cells(out), nb101.hash_cells(cells))


_STEPS = ENV.train_episode_length + 8  # long enough for a random walk to be truncated


@jax.jit
def _trajectories(params, cells, key):
    """Observations, rewards and flags of ``_STEPS`` auto-reset steps from each cell; even cells
    walk at random, odd cells follow local search."""
    def one(index, cell, key):
        key_reset, key_steps = jax.random.split(key)
        _, state = env.reset(key_reset, params, cell)

        def body(state, key):
            key_act, key_step = jax.random.split(key)
            obs = env.observe(state, params)
            action = jnp.where(index % 2 == 0, random_walk.act(None, obs, key_act),
                               local_search.act(params.oracle, obs, key_act))
            _, state, reward, terminated, truncated, info = env.step_auto_reset(
                key_step, state, action, params)
            observed = env.Observation(arch=obs.arch, neighbours=obs.neighbours,
                                       tokens=obs.tokens, action_mask=obs.action_mask,
                                       nodes=None)  # nodes: rows or cells, by strategy
            return state, (observed, reward, terminated, truncated, info["final_obs"].tokens)

        return jax.lax.scan(body, state, jax.random.split(key_steps, _STEPS))[1]

    keys = jax.random.split(key, cells.shape[0])
    return jax.vmap(one)(jnp.arange(cells.shape[0]), cells, keys)


@pytest.mark.slow
def test_table_and_on_the_fly_give_identical_episodes(full_neighbour_table, synthetic_bench):
    cells = nb101.sample(jax.random.key(7), (8,))
    settings = dict(max_neighbours=ENV.max_neighbours, alpha=ENV.alpha,
                    episode_length=ENV.train_episode_length)
    table_space = nb101_space.make_space(full_neighbour_table)
    in_table = _trajectories(env.make_params(table_space, synthetic_bench, **settings), cells,
                             jax.random.key(3))
    on_the_fly = _trajectories(env.make_params(nb101_space.make_space(), synthetic_bench,
                                               **settings), cells, jax.random.key(3))
    assert _same(in_table, on_the_fly)  # observations (cells, tokens), rewards, flags
    observations, _, terminated, truncated, _ = in_table
    assert np.asarray(terminated).any() and np.asarray(truncated).any()
    assert (np.asarray(observations.action_mask).sum(-1) > 1).all()
    # The representative form is the enumeration's.
    rows = full_neighbour_table.index_of(cells)
    assert _same(nb101_canonical.canonical(cells), full_neighbour_table.cells(rows))


@pytest.mark.slow
def test_the_loaded_table_resets_to_the_samplers_cells(full_neighbour_table, data_dir):
    # `load` reads the sampler's rows from their own cache file instead of locating 1.29M cells.
    assert (data_dir / neighbour_table.SAMPLER_ROWS_FILE).exists()
    np.testing.assert_array_equal(full_neighbour_table.sampled,
                                  neighbour_table.sampler_rows(full_neighbour_table.hashes))
    keys = jax.random.split(jax.random.key(11), 256)
    rows = jax.jit(jax.vmap(full_neighbour_table.sample))(keys)
    expected = full_neighbour_table.index_of(jax.jit(jax.vmap(nb101.sample))(keys))
    np.testing.assert_array_equal(rows, expected)
    assert (np.asarray(rows) >= 0).all()


def test_an_invalid_or_absent_initial_cell_is_flagged(small_world):
    params = _params(small_world)
    start = small_world["cells"]["start"]
    cyclic = nb101.Cell(adj=jnp.asarray(start.adj).at[2, 1].set(True), ops=jnp.asarray(start.ops))
    absent = chain(nb101.MAXPOOL3X3, nb101.MAXPOOL3X3, nb101.MAXPOOL3X3)  # not in the world
    for cell in (cyclic, absent):
        _, state = reset(jax.random.key(0), params, cell)
        assert not bool(state.valid) and np.isnan(float(state.acc))
    _, state = reset(jax.random.key(0), params, start)
    assert bool(state.valid)
    with pytest.raises(ValueError, match="2 of 3 initial architectures are invalid or not in"):
        env.check_initial(params, jax.tree.map(lambda *x: jnp.stack(x), start, cyclic, absent))


def test_an_invalid_initial_cell_inside_jit_offers_only_stay_with_reward_0(small_world):
    params = _params(small_world)
    start = small_world["cells"]["start"]
    cyclic = nb101.Cell(adj=jnp.asarray(start.adj).at[2, 1].set(True), ops=jnp.asarray(start.ops))
    absent = chain(nb101.MAXPOOL3X3, nb101.MAXPOOL3X3, nb101.MAXPOOL3X3)
    for cell in (cyclic, absent):
        obs, state = jax.jit(env.reset)(jax.random.key(0), params, cell)
        np.testing.assert_array_equal(obs.action_mask, [True] + [False] * 50)
        for action in (0, 1):  # stay, or a masked move (treated as stay)
            _, _, reward, terminated, _, info = jax.jit(env.step)(
                jax.random.key(1), state, jnp.int32(action), params)
            assert float(reward) == 0.0 and bool(terminated) and not bool(info["moved"])


@pytest.mark.parametrize("alpha", [float("nan"), -1.0, float("inf")])
def test_make_params_refuses_a_non_finite_or_negative_alpha(small_world, alpha):
    with pytest.raises(ValueError, match=f"alpha must be a finite number >= 0 .*got {alpha}"):
        _params(small_world, alpha=alpha)


def test_reset_at_another_spaces_architecture_names_the_type(small_world):
    from nasjax.spaces import nb301

    params = _params(small_world)
    with pytest.raises(TypeError, match=r"^the nb101 space takes Cell architectures .* got "
                                        r"Genotype$"):
        env.reset(jax.random.key(0), params, nb301.sample(jax.random.key(0)))
    with pytest.raises(TypeError, match=r"with 1 batch axes; got adj bool\[7, 7\]$"):
        env.check_initial(params, small_world["cells"]["start"])
