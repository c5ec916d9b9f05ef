"""The dense index of NAS-Bench-101: every valid cell its own position, -1 exactly where
``is_valid`` is False, and table look-ups through it equal to look-ups by hash."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax import fusion, spaces
from nasjax.benchmarks import base
from nasjax.spaces import nb101, nb101_canonical, nb101_dense, neighbour_table

position = jax.jit(nb101_dense.position)
is_valid = jax.jit(nb101.is_valid)


@pytest.fixture(scope="module")
def keys() -> jax.Array:
    return jnp.asarray(nb101_dense.keys())


@pytest.fixture(scope="module")
def every_valid_cell() -> nb101.Cell:
    return nb101.sampler_cells()


def _garbage(seed: int, count: int) -> nb101.Cell:
    """Cells that are mostly invalid: random bits anywhere, ops from every code and beyond."""
    key_adj, key_ops = jax.random.split(jax.random.key(seed))
    return nb101.Cell(adj=jax.random.bernoulli(key_adj, 0.12, (count, 7, 7)),
                      ops=jax.random.randint(key_ops, (count, 7), -5, 5).astype(jnp.int8))


def _near_misses(seed: int, count: int) -> nb101.Cell:
    """Valid cells with one adjacency bit flipped (lower half and diagonal included) or one op
    replaced by any code: each is valid or invalid for a single reason."""
    key_cells, key_bit, key_slot, key_op, key_which = jax.random.split(jax.random.key(seed), 5)
    cells = nb101.sample(key_cells, (count,))
    bit = jax.random.randint(key_bit, (count,), 0, 49)
    flip = jax.nn.one_hot(bit, 49, dtype=bool).reshape(count, 7, 7)
    slot = jax.random.randint(key_slot, (count,), 0, 7)
    op = jax.random.randint(key_op, (count,), -5, 5).astype(jnp.int8)
    change_op = jax.random.bernoulli(key_which, 0.5, (count,))
    ops = jnp.where(change_op[:, None] & (jnp.arange(7) == slot[:, None]), op[:, None], cells.ops)
    adj = jnp.where(change_op[:, None, None], cells.adj, cells.adj ^ flip)
    return nb101.Cell(adj=adj, ops=ops)


def test_every_valid_cell_is_at_its_own_position(keys, every_valid_cell):
    # The 1,293,208 cells of the sampler's enumeration, each at its index, none left out.
    at = np.asarray(position(keys, every_valid_cell))
    np.testing.assert_array_equal(at, np.arange(nb101.num_sampler_cells()))


@pytest.mark.slow  # ~4 CPU-s of its own: out of the fast lane
def test_position_of_a_sampler_draw_is_its_sampler_index(keys):
    draws = nb101.sampler_draws(jax.random.key(3), (2048,))
    cells = nb101.sample(jax.random.key(3), (2048,))
    np.testing.assert_array_equal(position(keys, cells), nb101.sampler_index(*draws))


@pytest.mark.slow  # ~8 CPU-s of its own: out of the fast lane
@pytest.mark.parametrize("make", [_garbage, _near_misses], ids=["garbage", "near-misses"])
def test_position_is_minus_one_exactly_where_is_valid_is_false(keys, make):
    cells = make(7, 200_000)
    at = np.asarray(position(keys, cells))
    valid = np.asarray(is_valid(cells))
    np.testing.assert_array_equal(at >= 0, valid)
    assert (at >= -1).all()
    assert 0 < valid.sum() < len(valid) or make is _garbage


def test_cells_off_the_compact_pruned_form_have_no_position(keys):
    chain = nb101.from_official([[0, 1, 0], [0, 0, 1], [0, 0, 0]],
                                ["input", nb101.OP_NAMES[0], "output"])
    fork = nb101.from_official([[0, 1, 1], [0, 0, 1], [0, 0, 0]],
                               ["input", nb101.OP_NAMES[0], "output"])
    cases = {
        "cyclic": nb101.Cell(adj=chain.adj.at[2, 1].set(True), ops=chain.ops),
        "PAD inside": nb101.Cell(adj=fork.adj, ops=fork.ops.at[1].set(nb101.PAD)),
        "self-loop": nb101.Cell(adj=chain.adj.at[1, 1].set(True), ops=chain.ops),
        "edge to padding": nb101.Cell(adj=chain.adj.at[2, 3].set(True), ops=chain.ops),
        "vertex count differs from the ops": nb101.Cell(adj=chain.adj,
                                                        ops=chain.ops.at[3].set(nb101.OUTPUT)),
        "input not first": nb101.Cell(adj=chain.adj, ops=chain.ops.at[0].set(0)),
        "op out of range": nb101.Cell(adj=chain.adj, ops=chain.ops.at[1].set(3)),
    }
    cells = jax.tree.map(lambda *x: jnp.stack(x), *cases.values())
    assert np.asarray(position(keys, cells)).tolist() == [-1] * len(cases)
    assert not np.asarray(is_valid(cells)).any()
    assert int(position(keys, chain)) >= 0


def _distinct(cells: nb101.Cell) -> nb101.Cell:
    """The first cell of each isomorphism class among ``cells`` (by hash), in their order."""
    hashes = np.asarray(jax.jit(nb101.hash_cells)(cells))
    _, first = np.unique(hashes.view(np.uint64), return_index=True)
    return jax.tree.map(lambda x: x[np.sort(first)], cells)


def _rows_by_hash(table: base.TableBenchmark, cells: nb101.Cell) -> np.ndarray:
    space = spaces.get("nb101")
    rows = jax.jit(lambda t, c: jnp.where(space.is_valid(c), t.lookup(space.hash(c)), -1))
    return np.asarray(rows(table, cells))


@pytest.mark.slow  # ~14 CPU-s of its own: out of the fast lane
def test_a_table_finds_the_same_rows_by_dense_index_as_by_hash(every_valid_cell):
    # A table of every 7th valid cell (isomorphic duplicates dropped) against every valid cell,
    # garbage and near misses: the same row, or -1, for each.
    subset = _distinct(jax.tree.map(lambda x: x[::7], every_valid_cell))
    table = base.from_function(subset, np.linspace(0.8, 0.9, len(subset.ops)), name="every 7th")
    assert table.dense_rows is not None
    rows = jax.jit(lambda t, c: t.rows(c))
    for cells in (every_valid_cell, _garbage(1, 50_000), _near_misses(2, 50_000)):
        np.testing.assert_array_equal(rows(table, cells), _rows_by_hash(table, cells))
    found = np.asarray(rows(table, every_valid_cell))
    assert 0 < (found >= 0).mean() < 1  # the table lacks most cells


@pytest.mark.slow  # ~19 CPU-s of its own: out of the fast lane
def test_a_neighbour_table_locates_cells_by_dense_position_as_by_hash(every_valid_cell):
    # A neighbour table of every 97th valid cell's representative: locate (dense position,
    # then the sampler rows) gives index_of's row (hash, then binary search) for valid cells,
    # -1 elsewhere.
    cells = _distinct(nb101_canonical.canonical(jax.tree.map(lambda x: x[::97],
                                                             every_valid_cell)))
    table = neighbour_table.from_lists(cells, [[] for _ in range(len(cells.ops))])
    locate = jax.jit(lambda t, c: t.locate(c))
    by_hash = jax.jit(lambda t, c: jnp.where(nb101.is_valid(c), t.index_of(c), -1))
    for probe in (every_valid_cell, _garbage(3, 50_000), _near_misses(4, 50_000)):
        np.testing.assert_array_equal(locate(table, probe), by_hash(table, probe))
    found = np.asarray(locate(table, every_valid_cell))
    assert 0 < (found >= 0).mean() < 1  # the table lacks most cells


@pytest.mark.slow  # hashes every valid cell once (seconds), and needs the sampler rows
def test_the_join_through_cached_classes_gives_the_rows_of_hashing(data_dir):
    # The enumeration, every 5th of its cells, and hashes it lacks: make_table's dense rows
    # through the sampler rows (each position's enumeration row) equal those of hashing the
    # 1,293,208 positions.
    from nasjax.spaces import base as spaces_base

    _, _, hashes = nb101.load_enumeration(data_dir, progress=False)
    classes = neighbour_table.dense_classes(data_dir, hashes)
    assert classes is not None and (data_dir / neighbour_table.SAMPLER_ROWS_FILE).exists()
    foreign = np.random.default_rng(0).integers(0, 2**32, (1000, 2), np.uint64).astype(np.uint32)
    space = spaces.get("nb101")
    for table in (hashes, hashes[::5], _sorted_hashes(np.concatenate([hashes[::5], foreign]))):
        joined = spaces_base.dense_rows(space.dense, space.hash, table, classes)
        hashed = spaces_base.dense_rows(space.dense, space.hash, table)
        assert joined.dtype == hashed.dtype == np.int32
        np.testing.assert_array_equal(joined, hashed)
    assert (joined >= 0).mean() > 0.15 and (joined < 0).any()


def _sorted_hashes(hashes: np.ndarray) -> np.ndarray:
    """uint32[K, 2] hashes in the (lane 0, lane 1) order of a table."""
    from nasjax.spaces import graph

    return hashes[np.argsort(graph.hash_to_uint64(hashes), kind="stable")]


def test_a_table_keeps_its_dense_join_through_tree_maps_and_jit():
    cells = nb101.sample(jax.random.key(0), (64,))
    table = base.from_function(cells, np.full(64, 0.9), name="tiny")
    moved = jax.tree.map(lambda x: x, table)
    assert moved.dense_rows is table.dense_rows
    out = jax.jit(lambda t, c: base.query(t, c))(moved, cells)
    assert np.asarray(out.valid).all()


@pytest.mark.parametrize("x", [
    jnp.array([True, False, True]),
    jnp.array([-(2**31), -1, 0, 7], jnp.int32),
    jnp.array([-jnp.inf, jnp.nan, -0.0, 1.5], jnp.float32),
    jnp.arange(6, dtype=jnp.int8).reshape(2, 3),
], ids=["bool", "int32", "float32", "int8 matrix"])
def test_materialize_is_the_identity(x):
    out = jax.jit(fusion.materialize)(x)
    assert out.dtype == x.dtype and out.shape == x.shape
    np.testing.assert_array_equal(out, x)
