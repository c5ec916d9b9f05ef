"""The 26-hyperparameter string encoding of NAS-Bench-101 (ReMAADE §8)."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax import spaces
from nasjax.spaces import nb101
from nasjax.spaces import nb101_string as strings_lib
from nasjax.spaces.base import uniform_strings


def _uniform(key, shape):
    """Uniform NAS-Bench-101 strings (each position uniform over its choices)."""
    return uniform_strings(spaces.get("nb101"), key, shape)

C3, C1, MP = nb101.CONV3X3, nb101.CONV1X1, nb101.MAXPOOL3X3


def edge_position(i: int, j: int) -> int:
    """Position in the string of the edge i -> j."""
    pair = np.flatnonzero((nb101.TRIU_ROWS == i) & (nb101.TRIU_COLS == j))[0]
    return strings_lib.NUM_OP_SLOTS + int(pair)


def make_string(ops, edges) -> np.ndarray:
    """A string from 5 interior op codes and a list of (i, j) edges of the 7-vertex graph."""
    string = np.zeros(strings_lib.NUM_HPARAMS, np.int32)
    string[:5] = ops
    for i, j in edges:
        string[edge_position(i, j)] = 1
    return string


def test_layout():
    assert strings_lib.NUM_HPARAMS == 26
    assert strings_lib.CARDINALITIES == (3,) * 5 + (2,) * 21
    assert edge_position(0, 1) == 5 and edge_position(0, 6) == 10 and edge_position(5, 6) == 25


def test_decode_hand_built_chain_prunes_unused_vertices():
    # input -> 1 (conv1x1) -> 3 (maxpool) -> output; vertices 2, 4, 5 are dangling.
    string = make_string([C1, C3, MP, C3, C3], [(0, 1), (1, 3), (3, 6), (2, 4), (0, 5)])
    cell, valid = strings_lib.decode(jnp.asarray(string))
    assert bool(valid)
    expected = nb101.from_official(
        [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]],
        ["input", nb101.OP_NAMES[C1], nb101.OP_NAMES[MP], "output"])
    np.testing.assert_array_equal(cell.adj, expected.adj)
    np.testing.assert_array_equal(cell.ops, expected.ops)


def test_decode_direct_edge_is_the_two_vertex_cell():
    cell, valid = strings_lib.decode(jnp.asarray(make_string([MP] * 5, [(0, 6)])))
    assert bool(valid)
    assert list(np.asarray(cell.ops)) == [nb101.INPUT, nb101.OUTPUT] + [nb101.PAD] * 5
    assert int(nb101.num_edges(cell)) == 1


@pytest.mark.parametrize("edges, why", [
    ([], "no edges"),
    ([(0, 1), (1, 2), (3, 6)], "input and output disconnected"),
    ([(i, j) for i in range(7) for j in range(i + 1, 7)], "21 edges after pruning"),
    # A path 0-1-2-3-4-5-6 (6 edges) plus 4 chords: 10 edges, all on paths.
    ([(k, k + 1) for k in range(6)] + [(0, 2), (1, 3), (2, 4), (3, 5)], "10 edges"),
])
def test_decode_flags_invalid_strings(edges, why):
    _, valid = strings_lib.decode(jnp.asarray(make_string([C3] * 5, edges)))
    assert not bool(valid), why


def test_nine_edges_after_pruning_is_valid_even_with_more_before():
    # The 9-edge path-with-chords cell plus 3 dangling edges into vertex 5 -> 12 edges before.
    edges = [(k, k + 1) for k in range(4)] + [(4, 6), (0, 2), (1, 3), (2, 4), (0, 6)]
    edges += [(0, 5), (1, 5), (2, 5)]  # vertex 5 never reaches the output: pruned
    cell, valid = strings_lib.decode(jnp.asarray(make_string([C3] * 5, edges)))
    assert bool(valid)
    assert int(nb101.num_edges(cell)) == 9


@pytest.mark.slow  # ~5 CPU-s of its own: out of the fast lane
def test_decode_agrees_with_the_official_modelspec_on_random_strings():
    strings = np.asarray(_uniform(jax.random.key(0), (300,)))
    cells, valid = strings_lib.decode(jnp.asarray(strings))
    accepted, official = [], []
    for string in strings:
        matrix = np.zeros((7, 7), int)
        matrix[nb101.TRIU_ROWS, nb101.TRIU_COLS] = string[5:]
        ops = ["input"] + [nb101.OP_NAMES[o] for o in string[:5]] + ["output"]
        try:
            official.append(nb101.from_official(matrix, ops))  # raises where ModelSpec rejects
            accepted.append(True)
        except ValueError:
            accepted.append(False)
    np.testing.assert_array_equal(valid, accepted)
    official = jax.tree.map(lambda *x: jnp.stack(x), *official)
    np.testing.assert_array_equal(nb101.hash_cells(cells[valid]), nb101.hash_cells(official))


def test_round_trip_on_real_cells(graphs_1k):
    cells = nb101.Cell(adj=jnp.asarray(graphs_1k["adjacency"].astype(bool)),
                       ops=jnp.asarray(graphs_1k["operations"]))
    strings = strings_lib.encode(cells)
    assert strings.shape == (1000, 26) and strings.dtype == jnp.int32
    assert bool((strings < jnp.asarray(strings_lib.CARDINALITIES)).all())
    back, valid = strings_lib.decode(strings)
    assert bool(valid.all())
    np.testing.assert_array_equal(nb101.hash_cells(back), nb101.hash_cells(cells))
    np.testing.assert_array_equal(back.adj, cells.adj)  # the vertex order is kept, too
    np.testing.assert_array_equal(back.ops, cells.ops)


def test_encode_is_canonical():
    # input -> conv1x1 -> output: vertex 1 stays in slot 1, the output moves to slot 6.
    cell = nb101.from_official([[0, 1, 0], [0, 0, 1], [0, 0, 0]],
                               ["input", nb101.OP_NAMES[C1], "output"])
    expected = make_string([C1] + [strings_lib.UNUSED_OP] * 4, [(0, 1), (1, 6)])
    np.testing.assert_array_equal(strings_lib.encode(cell), expected)


@pytest.mark.slow  # ~6 CPU-s of its own: out of the fast lane
def test_sampled_cells_round_trip():
    cells = nb101.sample(jax.random.key(3), (500,))
    back, valid = strings_lib.decode(strings_lib.encode(cells))
    assert bool(valid.all())
    np.testing.assert_array_equal(nb101.hash_cells(back), nb101.hash_cells(cells))


def test_valid_fraction_of_uniform_strings():
    # Validity ignores the ops, so the exact fraction is a count over the 2^21 edge sets.
    exact = strings_lib.valid_fraction_exact()
    assert round(exact * 2**21) == 1_538_083  # 73.34% of uniformly random strings are valid
    _, valid = jax.jit(strings_lib.decode)(_uniform(jax.random.key(1), (20_000,)))
    standard_error = np.sqrt(exact * (1 - exact) / 20_000)
    assert abs(float(valid.mean()) - exact) < 4 * standard_error


def test_valid_edge_sets_are_those_pruning_leaves_valid():
    # The host-side count behind valid_fraction_exact against nb101.prune and nb101.is_valid,
    # on 65,536 random edge sets (all 2^21 agree: checked once, 11 CPU-s at the tests' -O0).
    codes = np.random.default_rng(0).integers(0, 1 << nb101.NUM_PAIRS, 1 << 16, np.uint32)

    @jax.jit
    def pruned_valid(codes):
        ops = jnp.asarray([nb101.INPUT] + [strings_lib.UNUSED_OP] * strings_lib.NUM_OP_SLOTS
                          + [nb101.OUTPUT], jnp.int8)
        cells = nb101.Cell(adj=nb101.unpack_adjacency(codes),
                           ops=jnp.broadcast_to(ops, codes.shape + ops.shape))
        return nb101.is_valid(nb101.prune(cells))

    expected = np.asarray(pruned_valid(jnp.asarray(codes)))
    np.testing.assert_array_equal(strings_lib.valid_edge_sets(codes), expected)
    assert 0.5 < expected.mean() < 0.9


def test_uniform_respects_cardinalities():
    strings = _uniform(jax.random.key(2), (4000,))
    for i, cardinality in enumerate(strings_lib.CARDINALITIES):
        assert set(np.unique(strings[:, i]).tolist()) == set(range(cardinality))


@pytest.mark.slow  # ~7 CPU-s of its own: out of the fast lane
def test_decode_and_encode_jit_without_retracing():
    decode = jax.jit(chex.assert_max_traces(strings_lib.decode, n=1))
    encode = jax.jit(chex.assert_max_traces(strings_lib.encode, n=1))
    for seed in range(3):
        strings = _uniform(jax.random.key(seed), (8,))
        decode(strings)
        encode(nb101.sample(jax.random.key(seed), (8,)))
    vmapped, _ = jax.vmap(strings_lib.decode)(strings)
    np.testing.assert_array_equal(vmapped.adj, strings_lib.decode(strings)[0].adj)


def test_bad_shape_is_rejected():
    with pytest.raises(ValueError, match="last axis 26"):
        strings_lib.decode(jnp.zeros((3, 25), jnp.int32))
