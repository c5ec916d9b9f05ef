"""The NAS-Bench-301 genotype space: validity, canonical form, hash, sampler, neighbours
(Cassimon et al. §3.2.1), tokens (§3.1 Fig. 1, §3.2.3) and the string encoding."""

from __future__ import annotations

import itertools
import math

import chex
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax.benchmarks import base as bench_lib
from nasjax.spaces import base, nb301, nb301_neighbours, nb301_string
from nasjax.spaces.nb301 import Genotype

MAX_POOL, AVG_POOL, SKIP, SEP3, SEP5, DIL3, DIL5 = range(7)
# The first real genotype of nb301_val_725.json: node k's pairs at 2k, 2k + 1.
REAL_NORMAL = [[0, 0], [1, 5], [1, 1], [0, 1], [1, 3], [0, 3], [1, 3], [3, 2]]
REAL_REDUCE = [[1, 0], [0, 2], [1, 3], [0, 3], [3, 0], [0, 1], [2, 0], [3, 6]]


def genotype(normal=REAL_NORMAL, reduce=REAL_REDUCE) -> Genotype:
    g = nb301.from_pairs(normal, reduce)
    return Genotype(inputs=jnp.asarray(g.inputs), ops=jnp.asarray(g.ops))


def same(a: Genotype, b: Genotype) -> bool:
    return bool((np.asarray(a.inputs) == np.asarray(b.inputs)).all()
                and (np.asarray(a.ops) == np.asarray(b.ops)).all())


def key_of(g: Genotype) -> tuple:
    return tuple(np.asarray(g.inputs).ravel()) + tuple(np.asarray(g.ops).ravel())


tokens = jax.jit(nb301.tokens)
hash_genotypes = jax.jit(nb301.hash_genotypes)
canonical = jax.jit(nb301.canonical)
NUM_SAMPLES = 20_000


@pytest.fixture(scope="module")
def samples() -> Genotype:
    return nb301.sample(jax.random.key(0), (NUM_SAMPLES,))


# ----------------------------------------------------------------------------- genotype


def test_from_pairs_lays_out_cell_node_pair():
    g = genotype()
    assert g.shape == () and g.inputs.dtype == jnp.int8 and g.ops.dtype == jnp.int8
    np.testing.assert_array_equal(g.inputs[nb301.NORMAL], [[0, 1], [1, 0], [1, 0], [1, 3]])
    np.testing.assert_array_equal(g.ops[nb301.NORMAL], [[0, 5], [1, 1], [3, 3], [3, 2]])
    np.testing.assert_array_equal(g.inputs[nb301.REDUCE], [[1, 0], [1, 0], [3, 0], [2, 3]])
    assert nb301.to_pairs(g) == (REAL_NORMAL, REAL_REDUCE)
    assert nb301.to_darts(g)["normal"][:2] == [("max_pool_3x3", 0), ("dil_conv_3x3", 1)]
    batch = nb301.Genotype(inputs=jnp.stack([g.inputs] * 3), ops=jnp.stack([g.ops] * 3))
    assert batch.shape == (3,) and same(batch[1], g)


@pytest.mark.parametrize("normal, message", [
    (REAL_NORMAL[:7], "normal cell must be 8 \\[input, op\\] pairs"),
    ([[0, 0], [2, 0]] + REAL_NORMAL[2:], "normal node 0 reads inputs \\[0, 2\\]; node 0 may"),
    (REAL_NORMAL[:2] + [[1, 0], [1, 3]] + REAL_NORMAL[4:], "normal node 1 reads input 1 twice"),
    (REAL_NORMAL[:7] + [[3, 7]], "normal cell has op indices"),
])
def test_from_pairs_rejects_bad_pairs_with_one_clear_line(normal, message):
    with pytest.raises(ValueError, match=message):
        nb301.from_pairs(normal, REAL_REDUCE)


def test_validity_rules():
    g = genotype()
    assert bool(nb301.is_valid(g))
    assert not bool(nb301.is_valid(nb301.padding()))
    broken = {
        "input out of range": g.inputs.at[0, 0, 1].set(2),
        "same input twice": g.inputs.at[1, 3].set(jnp.array([2, 2], jnp.int8)),
        "negative input": g.inputs.at[1, 2, 0].set(-1),
    }
    for why, inputs in broken.items():
        assert not bool(nb301.is_valid(Genotype(inputs=inputs, ops=g.ops))), why
    assert not bool(nb301.is_valid(Genotype(inputs=g.inputs, ops=g.ops.at[0, 2, 1].set(7))))
    np.testing.assert_array_equal(nb301.cell_valid(Genotype(inputs=broken["same input twice"],
                                                            ops=g.ops)), [True, False])
    assert nb301.padding((4, 2)).shape == (4, 2)


def test_canonical_orders_each_nodes_pairs_by_input_then_op():
    g = nb301.canonical(genotype())
    np.testing.assert_array_equal(g.inputs[nb301.NORMAL], [[0, 1], [0, 1], [0, 1], [1, 3]])
    np.testing.assert_array_equal(g.ops[nb301.NORMAL], [[0, 5], [1, 1], [3, 3], [3, 2]])
    np.testing.assert_array_equal(g.inputs[nb301.REDUCE], [[0, 1], [0, 1], [0, 3], [2, 3]])
    np.testing.assert_array_equal(g.ops[nb301.REDUCE], [[2, 0], [3, 3], [1, 0], [0, 6]])
    assert same(nb301.canonical(g), g)


def test_pair_rank_is_the_lexicographic_order_of_input_pairs():
    for m in range(2, 7):
        pairs = list(itertools.combinations(range(m), 2))  # lexicographic
        ranks = nb301.pair_rank(*np.array(pairs).T, m)
        np.testing.assert_array_equal(ranks, np.arange(math.comb(m, 2)))


def test_hash_ignores_pair_order_and_separates_genotypes(samples):
    g = genotype()
    swapped = Genotype(inputs=g.inputs[..., ::-1], ops=g.ops[..., ::-1])
    np.testing.assert_array_equal(hash_genotypes(g), hash_genotypes(swapped))
    h = hash_genotypes(samples)
    assert h.shape == (NUM_SAMPLES, 2) and h.dtype == jnp.uint32
    assert len({tuple(row) for row in np.asarray(h).tolist()}) == NUM_SAMPLES
    other = Genotype(inputs=g.inputs, ops=g.ops.at[1, 3, 1].set(DIL3))
    assert not (hash_genotypes(other) == hash_genotypes(g)).all()


def test_cell_rank_is_a_bijection_onto_its_range():
    # Nodes 0-1 fixed, nodes 2 and 3 over all their 294 x 490 canonical choices: distinct
    # ranks, all below CELLS_PER_SPACE (the exact count of canonical cells).
    assert nb301.NODE_CHOICES.tolist() == [49, 147, 294, 490]
    assert nb301.CELLS_PER_SPACE == 1_037_664_180 < 2 ** 30
    node = {k: [(pair, ops) for pair in itertools.combinations(range(k + 2), 2)
                for ops in itertools.product(range(7), repeat=2)] for k in (2, 3)}
    combos = list(itertools.product(node[2], node[3]))
    inputs = np.zeros((len(combos), 4, 2), np.int8)
    ops = np.zeros((len(combos), 4, 2), np.int8)
    inputs[:, :2] = [[0, 1], [1, 2]]
    for row, ((pair2, ops2), (pair3, ops3)) in enumerate(combos):
        inputs[row, 2], ops[row, 2], inputs[row, 3], ops[row, 3] = pair2, ops2, pair3, ops3
    ranks = np.asarray(jax.jit(nb301._cell_rank)(inputs, ops)).astype(np.int64)
    assert len(np.unique(ranks)) == len(combos) == 294 * 490
    assert ranks.max() < nb301.CELLS_PER_SPACE


def test_sampler_is_valid_canonical_deterministic_and_uniform(samples):
    assert bool(jax.jit(nb301.is_valid)(samples).all())
    assert same(canonical(samples), samples)
    assert same(nb301.sample(jax.random.key(0), (NUM_SAMPLES,)), samples)
    assert not same(nb301.sample(jax.random.key(1), (NUM_SAMPLES,)), samples)
    # Node 3 of the normal cell: each of the 10 input pairs with probability 1/10.
    inputs = np.asarray(samples.inputs[:, 0, 3]).astype(int)
    pairs = inputs[:, 0] * (9 - inputs[:, 0]) // 2 + inputs[:, 1] - inputs[:, 0] - 1
    counts = np.bincount(pairs, minlength=10)
    assert np.abs(counts / NUM_SAMPLES - 0.1).max() < 0.01
    # Ops uniform over 7, independently of the pair slot.
    op_counts = np.bincount(np.asarray(samples.ops).ravel(), minlength=7) / samples.ops.size
    assert np.abs(op_counts - 1 / 7).max() < 0.005


# ----------------------------------------------------------------------------- neighbours


def test_edit_table_order_and_size():
    edits = nb301_neighbours.EDITS
    assert nb301_neighbours.CELL_NEIGHBOURS == 60 and nb301_neighbours.MAX_NEIGHBOURS == 3600
    assert (edits[:, 2] == nb301_neighbours.OP_EDIT).sum() == 48
    assert (edits[:, 2] == nb301_neighbours.INPUT_EDIT).sum() == 12
    # node 0 pair 0: 6 op edits; node 1 pair 0: 6 op edits then its 1 input edit
    np.testing.assert_array_equal(edits[:6], [[0, 0, 0, r] for r in range(6)])
    np.testing.assert_array_equal(edits[12:19], [[1, 0, 0, r] for r in range(6)] + [[1, 0, 1, 0]])


def test_cell_edits_by_hand():
    g = canonical(genotype())
    inputs, ops = g.inputs[nb301.NORMAL], g.ops[nb301.NORMAL]  # node 3 = (1, sep3), (3, skip)
    # Edit 0: node 0 pair 0 (input 0, max_pool) -> the first other op, avg_pool.
    new_inputs, new_ops = nb301_neighbours.edit_cell(inputs, ops, jnp.int32(0))
    np.testing.assert_array_equal(new_ops[0], [AVG_POOL, DIL3])
    np.testing.assert_array_equal(new_inputs, inputs)
    # Node 3's pair 0 (input 1) input edits go to the free inputs 0, 2, 4 (node 3 reads 1, 3);
    # moving it to 4 puts it after (3, skip) in canonical order.
    start = int(np.flatnonzero((nb301_neighbours.EDITS[:, 0] == 3)
                               & (nb301_neighbours.EDITS[:, 2] == 1))[0])
    targets = [nb301_neighbours.edit_cell(inputs, ops, jnp.int32(start + r)) for r in range(3)]
    assert [np.asarray(t[0][3]).tolist() for t in targets] == [[0, 3], [2, 3], [3, 4]]
    assert [np.asarray(t[1][3]).tolist() for t in targets] == [[SEP3, SKIP], [SEP3, SKIP],
                                                             [SKIP, SEP3]]


def test_every_cell_has_60_distinct_valid_canonical_neighbours(samples):
    cells_inputs = samples.inputs.reshape(-1, 4, 2)[:1000]
    cells_ops = samples.ops.reshape(-1, 4, 2)[:1000]

    @jax.jit
    def check(inputs, ops):
        n_inputs, n_ops = jax.vmap(nb301_neighbours.cell_neighbours)(inputs, ops)
        ranks = nb301._cell_rank(n_inputs, n_ops)  # exact, so equal ranks = equal cells
        ordered = jnp.sort(ranks, -1)
        distinct = 1 + (ordered[:, 1:] != ordered[:, :-1]).sum(-1)
        not_self = (ranks != nb301._cell_rank(inputs, ops)[:, None]).all(-1)
        valid = nb301._cell_valid(n_inputs, n_ops).all(-1)
        canon = nb301.canonical(Genotype(inputs=n_inputs, ops=n_ops))
        is_canonical = (canon.inputs == n_inputs).all((1, 2, 3)) & (canon.ops == n_ops).all(
            (1, 2, 3))
        return distinct, not_self & valid & is_canonical

    distinct, good = check(cells_inputs, cells_ops)
    assert (np.asarray(distinct) == 60).all() and bool(good.all())


def test_num_neighbours_is_the_product_of_the_cells():
    g = genotype()
    assert int(nb301_neighbours.num_neighbours(g)) == 60 * 60
    assert int(nb301_neighbours.num_neighbours(nb301.padding())) == 0


def test_neighbour_index_is_normal_major():
    g = canonical(genotype())
    # normal edit 1, reduction edit 1
    picked = jax.jit(nb301_neighbours.neighbour)(g, jnp.int32(61))
    for cell in (nb301.NORMAL, nb301.REDUCE):
        inputs, ops = nb301_neighbours.edit_cell(g.inputs[cell], g.ops[cell], jnp.int32(1))
        np.testing.assert_array_equal(picked.inputs[cell], inputs)
        np.testing.assert_array_equal(picked.ops[cell], ops)


def test_random_subset_is_floyds_uniform_subset():
    draw = jax.jit(jax.vmap(nb301_neighbours.random_subset, in_axes=(0, None, None)),
                   static_argnums=2)
    seeds = jnp.arange(20_000, dtype=jnp.uint32)
    chosen, mask = draw(seeds, jnp.int32(5), 2)
    assert bool(mask.all())
    chosen = np.asarray(chosen)
    assert (chosen[:, 0] < chosen[:, 1]).all() and chosen.max() < 5
    counts = np.bincount(chosen[:, 0] * 5 + chosen[:, 1], minlength=25)
    pairs = [a * 5 + b for a, b in itertools.combinations(range(5), 2)]
    assert np.abs(counts[pairs] / 20_000 - 0.1).max() < 0.01  # each 2-subset of 5: 1/10
    # Fewer items than asked: all of them, in order, then padding.
    chosen, mask = nb301_neighbours.random_subset(jnp.uint32(3), jnp.int32(3), 5)
    np.testing.assert_array_equal(chosen, [0, 1, 2, 0, 0])
    np.testing.assert_array_equal(mask, [True, True, True, False, False])
    # 50 of 3600: distinct and ascending; every item equally likely (mean index 1799.5).
    chosen, _ = draw(seeds[:2000], jnp.int32(3600), 50)
    chosen = np.asarray(chosen)
    assert (np.diff(chosen, axis=1) > 0).all()
    assert abs(chosen.mean() - 1799.5) < 20


def test_present_draws_distinct_one_edit_per_cell_tuples():
    space = nb301.make_space()
    node = space.neighbourhood.locate(genotype())
    present = jax.jit(chex.assert_max_traces(space.neighbourhood.present, n=1),
                      static_argnums=2)
    found, mask, count = present(jnp.uint32(11), node, 50)
    again, _, _ = present(jnp.uint32(11), node, 50)
    other, _, _ = present(jnp.uint32(12), node, 50)
    assert int(count) == 3600 and bool(mask.all()) and same(found, again)
    assert not same(found, other)
    assert bool(nb301.is_valid(found).all())
    assert len({tuple(h) for h in np.asarray(hash_genotypes(found)).tolist()}) == 50
    found_inputs, found_ops = np.asarray(found.inputs), np.asarray(found.ops)
    for cell in (nb301.NORMAL, nb301.REDUCE):
        cell_inputs, cell_ops = jax.jit(nb301_neighbours.cell_neighbours)(node.inputs[cell],
                                                                          node.ops[cell])
        allowed = {key_of(Genotype(inputs=i, ops=o))
                   for i, o in zip(np.asarray(cell_inputs), np.asarray(cell_ops))}
        assert all(key_of(Genotype(inputs=found_inputs[j, cell], ops=found_ops[j, cell]))
                   in allowed for j in range(50))
    # The order is the pair-index order of the drawn subset.
    index, _ = nb301_neighbours.random_subset(jnp.uint32(11), jnp.int32(3600), 50)
    expected = jax.jit(jax.vmap(nb301_neighbours.neighbour, in_axes=(None, 0)))(node, index)
    assert same(found, expected)
    # An invalid node has no neighbours: all padding.
    found, mask, count = present(jnp.uint32(11), nb301.padding(), 50)
    assert int(count) == 0 and not bool(mask.any()) and same(found, nb301.padding((50,)))


def test_neighbourhood_protocol_and_oracle():
    hood = nb301_neighbours.OnTheFlyGenotypes()
    g = genotype()
    assert same(hood.locate(g), nb301.canonical(g)) and same(hood.settle(g), nb301.canonical(g))
    assert hood.arch(g) is g and hood.max_neighbours == 3600

    @flax.struct.dataclass
    class SkipCount:  # a benchmark whose "accuracy" is the fraction of skip connections
        def query(self, arch, key=None, mode="mean"):
            return (arch.ops == SKIP).mean((-3, -2, -1)), mode

    oracle = bench_lib.bind(SkipCount(), hood)
    value, mode = oracle.metrics(g, jax.random.key(0), "noisy")  # noisy needs a key
    assert float(value) == pytest.approx(2 / 16) and mode == "noisy"


# ----------------------------------------------------------------------------- tokens


def expected_cell_tokens(pairs) -> np.ndarray:
    """Fig. 1 by hand: vertex ids 0, 1 inputs; node k's op vertices 2+3k, 3+3k, sum 4+3k;
    14 output. ``pairs``: per node its two canonical (input, op)."""
    source = {0: 0, 1: 1, 2: 4, 3: 7, 4: 10, 5: 13}
    edges, labels = [], {0: 0, 1: 0, 14: 1}
    for k, node_pairs in enumerate(pairs):
        for p, (inp, op) in enumerate(node_pairs):
            vertex = 2 + 3 * k + p
            edges += [(source[inp], vertex), (vertex, 4 + 3 * k)]
            labels[vertex] = 3 + op
        edges.append((4 + 3 * k, 14))
        labels[4 + 3 * k] = 2
    into = np.zeros((15, 15))
    for u, v in edges:
        into[v, u] = 1
    flat = [into[v, u] for v in range(15) for u in range(v)]
    one_hot = np.zeros((15, 10))
    for vertex, label in labels.items():
        one_hot[vertex, label] = 1
    return np.concatenate([flat, one_hot.ravel()])


def test_tokens_of_the_real_genotype_by_hand():
    normal = [[(0, MAX_POOL), (1, DIL3)], [(0, AVG_POOL), (1, AVG_POOL)],
              [(0, SEP3), (1, SEP3)], [(1, SEP3), (3, SKIP)]]
    reduce = [[(0, SKIP), (1, MAX_POOL)], [(0, SEP3), (1, SEP3)],
              [(0, AVG_POOL), (3, MAX_POOL)], [(2, MAX_POOL), (3, DIL5)]]
    expected = np.concatenate([expected_cell_tokens(normal), expected_cell_tokens(reduce)])
    found = jax.jit(chex.assert_max_traces(nb301.tokens, n=1))(genotype())
    assert nb301.TOKEN_SIZE == 510 and found.shape == (510,) and found.dtype == jnp.float32
    np.testing.assert_array_equal(found, expected)
    assert float(found.sum()) == 2 * (20 + 15)  # 20 edges and 15 labels per cell


def test_tokens_batch_and_ignore_pair_order(samples):
    batch = Genotype(inputs=samples.inputs[:6].reshape(2, 3, 2, 4, 2),
                     ops=samples.ops[:6].reshape(2, 3, 2, 4, 2))
    swapped = Genotype(inputs=batch.inputs[..., ::-1], ops=batch.ops[..., ::-1])
    found = tokens(batch)
    assert found.shape == (2, 3, 510)
    np.testing.assert_array_equal(tokens(swapped), found)
    np.testing.assert_array_equal(found[1, 2], tokens(samples[5]))


# ----------------------------------------------------------------------------- strings


def test_string_layout_and_round_trip(samples):
    assert nb301_string.CARDINALITIES == (2, 7, 2, 7, 3, 7, 3, 7, 4, 7, 4, 7, 5, 7, 5, 7) * 2
    string = nb301_string.encode(genotype())
    np.testing.assert_array_equal(string[:16], [0, 0, 1, 5, 0, 1, 1, 1, 0, 3, 1, 3, 1, 3, 3, 2])
    decoded, valid = jax.jit(lambda g: nb301_string.decode(nb301_string.encode(g)))(samples)
    assert bool(valid.all()) and same(decoded, samples)


def test_decode_flags_a_node_reading_one_input_twice():
    string = np.asarray(nb301_string.encode(genotype())).copy()
    string[12] = 3  # normal node 3 pair 0 reads input 3, as its pair 1 does
    _, valid = nb301_string.decode(jnp.asarray(string))
    assert not bool(valid)
    with pytest.raises(ValueError, match="last axis 32"):
        nb301_string.decode(jnp.zeros((4, 31), jnp.int32))
    # Uniform strings are valid with probability (1/2 * 2/3 * 3/4 * 4/5) ** 2 = 1/25.
    uniform = jax.random.randint(jax.random.key(0), (20_000, 32), 0,
                                 jnp.asarray(nb301_string.CARDINALITIES))
    _, valid = jax.jit(nb301_string.decode)(uniform)
    assert abs(float(valid.mean()) - 1 / 25) < 0.006


# ----------------------------------------------------------------------------- the space


def test_make_space_assembles_the_interface():
    space = nb301.make_space()
    assert isinstance(space, base.SearchSpace) and space.name == "nb301"
    assert space.token_size == 510 and space.max_neighbours == 3600
    assert len(space.choices) == 32
    archs, mask = jax.jit(space.neighbours, static_argnums=2)(jax.random.key(0), genotype(), 50)
    assert archs.shape == (50,) and bool(mask.all()) and bool(space.is_valid(archs).all())
    assert "3,600 neighbours (OnTheFlyGenotypes)" in repr(space)
