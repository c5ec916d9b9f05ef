"""The NAS-Bench-101 cell space: representation, pruning, hashes, sampler, enumeration."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from nasjax.spaces import graph, nb101

C3, C1, MP = nb101.OP_NAMES


def stack(cells):
    return jax.tree.map(lambda *x: jnp.stack(x), *cells)


def raw_cell(matrix, codes) -> nb101.Cell:
    """An unpruned cell in prefix form (for testing `prune` itself)."""
    n = len(codes)
    adj = np.zeros((7, 7), bool)
    adj[:n, :n] = np.asarray(matrix, bool)
    ops = np.full(7, nb101.PAD, np.int8)
    ops[:n] = codes
    return nb101.Cell(adj=jnp.asarray(adj), ops=jnp.asarray(ops))


# ----------------------------------------------------------------------------- official specs


def test_from_official_keeps_a_valid_cell_and_round_trips():
    matrix = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    ops = ["input", C3, MP, "output"]
    cell = nb101.from_official(matrix, ops)
    assert cell.adj.shape == (7, 7) and cell.ops.dtype == jnp.int8
    assert list(np.asarray(cell.ops)) == [nb101.INPUT, nb101.CONV3X3, nb101.MAXPOOL3X3,
                                          nb101.OUTPUT, nb101.PAD, nb101.PAD, nb101.PAD]
    back_matrix, back_ops = nb101.to_official(cell)
    np.testing.assert_array_equal(back_matrix, matrix)
    assert back_ops == ops
    assert bool(nb101.is_valid(cell))


def test_from_official_prunes_a_dangling_vertex():
    # Vertex 2 has no path to the output: the official ModelSpec drops it.
    matrix = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    cell = nb101.from_official(matrix, ["input", C1, MP, "output"])
    back_matrix, back_ops = nb101.to_official(cell)
    np.testing.assert_array_equal(back_matrix, [[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    assert back_ops == ["input", C1, "output"]


@pytest.mark.parametrize(
    "matrix, ops, message",
    [
        ([[0, 1, 0], [0, 0, 1]], ["input", C3, "output"], "square"),
        ([[0, 1, 0], [0, 0, 1], [1, 0, 0]], ["input", C3, "output"], "cyclic"),
        (np.triu(np.ones((8, 8), int), 1), ["input"] + [C3] * 6 + ["output"], "at most 7"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"], "unknown op"),
        ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ["input", C3, "output"], "disconnected"),
        (np.triu(np.ones((7, 7), int), 1), ["input"] + [C3] * 5 + ["output"], "edges"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [C3, C3, "output"], "input"),
    ],
)
def test_from_official_rejects_bad_specs_naming_the_problem(matrix, ops, message):
    with pytest.raises(ValueError, match=message):
        nb101.from_official(matrix, ops)


def test_official_hash_reproduces_the_real_keys(real_specs):
    for matrix, ops, key in real_specs:
        assert nb101.official_hash(matrix, ops) == key


@pytest.mark.slow  # ~6 CPU-s of its own: out of the fast lane
def test_real_cells_are_valid_and_already_pruned(real_specs):
    cells = stack([nb101.from_official(m, o) for m, o, _ in real_specs])
    assert bool(nb101.is_valid(cells).all())
    pruned = nb101.prune(cells)
    np.testing.assert_array_equal(pruned.adj, cells.adj)
    np.testing.assert_array_equal(pruned.ops, cells.ops)


# ----------------------------------------------------------------------------- pruning, validity


def test_prune_drops_a_vertex_off_every_path_and_compacts():
    # 0 -> 1 -> 3(out), 0 -> 2 (dead end): vertex 2 goes, the output moves to slot 2.
    cell = raw_cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]],
                    [nb101.INPUT, nb101.CONV1X1, nb101.MAXPOOL3X3, nb101.OUTPUT])
    assert not bool(nb101.is_valid(cell))
    pruned = nb101.prune(cell)
    assert bool(nb101.is_valid(pruned))
    assert list(np.asarray(pruned.ops[:4])) == [nb101.INPUT, nb101.CONV1X1, nb101.OUTPUT, nb101.PAD]
    assert int(nb101.num_edges(pruned)) == 2


def test_disconnected_input_and_output_is_invalid_after_pruning():
    cell = raw_cell([[0, 1, 0], [0, 0, 0], [0, 0, 0]], [nb101.INPUT, nb101.CONV3X3, nb101.OUTPUT])
    pruned = nb101.prune(cell)
    assert int(nb101.num_vertices(pruned)) == 0
    assert not bool(nb101.is_valid(pruned))


def test_is_valid_rejects_too_many_edges_and_bad_labels():
    full = np.triu(np.ones((7, 7), bool), 1)
    ops = [nb101.INPUT] + [nb101.CONV3X3] * 5 + [nb101.OUTPUT]
    assert not bool(nb101.is_valid(raw_cell(full, ops)))
    chain = np.eye(3, k=1, dtype=bool)
    assert bool(nb101.is_valid(raw_cell(chain, [nb101.INPUT, nb101.CONV3X3, nb101.OUTPUT])))
    assert not bool(nb101.is_valid(raw_cell(chain, [nb101.INPUT, nb101.OUTPUT, nb101.OUTPUT])))
    assert not bool(nb101.is_valid(raw_cell(chain, [nb101.INPUT, 7, nb101.OUTPUT])))


# ----------------------------------------------------------------------------- hash


def permute(cell: nb101.Cell, order) -> nb101.Cell:
    """Relabel the vertices of a cell: new vertex k is old vertex order[k]."""
    order = np.asarray(order)
    adj = np.asarray(cell.adj)[np.ix_(order, order)]
    return nb101.Cell(adj=jnp.asarray(adj), ops=jnp.asarray(np.asarray(cell.ops)[order]))


def test_isomorphic_relabellings_hash_equal():
    # Two interior vertices that can be swapped in topological order.
    cell = nb101.from_official(
        [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
        ["input", C3, MP, C1, "output"],
    )
    swapped = permute(cell, [0, 2, 1, 3, 4, 5, 6])  # arbitrary vertex order, same graph
    assert (np.asarray(nb101.hash_cells(cell)) == np.asarray(nb101.hash_cells(swapped))).all()


def random_topological_order(adj: np.ndarray, n: int, rng) -> np.ndarray:
    """A uniformly chosen next-ready vertex at each step: some topological order of the DAG."""
    placed: list[int] = []
    while len(placed) < n:
        ready = [v for v in range(n) if v not in placed
                 and all(u in placed for u in range(n) if adj[u, v])]
        placed.append(int(rng.choice(ready)))
    return np.concatenate([placed, np.arange(n, 7)]).astype(int)


@pytest.mark.slow  # ~5 CPU-s of its own: out of the fast lane
def test_hash_is_invariant_to_the_choice_of_topological_order():
    rng = np.random.default_rng(0)
    cells = nb101.sample(jax.random.key(1), (200,))
    adj, ops = np.asarray(cells.adj), np.asarray(cells.ops)
    sizes = np.asarray(nb101.num_vertices(cells))
    relabelled = stack([permute(nb101.Cell(adj=a, ops=o), random_topological_order(a, int(n), rng))
                        for a, o, n in zip(adj, ops, sizes, strict=True)])
    assert bool(nb101.is_valid(relabelled).all())
    np.testing.assert_array_equal(nb101.hash_cells(cells), nb101.hash_cells(relabelled))


@pytest.mark.slow  # ~6 CPU-s of its own: out of the fast lane
def test_non_isomorphic_cells_hash_differently(real_specs):
    cells = stack([nb101.from_official(m, o) for m, o, _ in real_specs])
    hashes = graph.hash_to_uint64(np.asarray(nb101.hash_cells(cells)))
    keys = [key for _, _, key in real_specs]
    assert len(set(hashes.tolist())) == len(set(keys)) == 1000
    # A single label change always changes the hash.
    changed = cells.ops.at[:, 1].set((cells.ops[:, 1] + 1) % 3)
    other = graph.hash_to_uint64(np.asarray(nb101.hash_cells(nb101.Cell(cells.adj, changed))))
    assert not (other == hashes).any()


def test_hash_is_64_bits_as_two_uint32_lanes():
    hashes = nb101.hash_cells(nb101.sample(jax.random.key(0), (4, 3)))
    assert hashes.shape == (4, 3, 2) and hashes.dtype == jnp.uint32


# ----------------------------------------------------------------------------- sampler


def test_sampler_yields_valid_cells_with_uniform_vertex_counts():
    cells = nb101.sample(jax.random.key(0), (6000,))
    assert bool(nb101.is_valid(cells).all())
    counts = np.bincount(np.asarray(nb101.num_vertices(cells)), minlength=8)[2:]
    assert scipy.stats.chisquare(counts).pvalue > 1e-3


def test_sampler_is_deterministic_per_key_and_differs_across_keys():
    a = nb101.sample(jax.random.key(7), (50,))
    b = nb101.sample(jax.random.key(7), (50,))
    c = nb101.sample(jax.random.key(8), (50,))
    np.testing.assert_array_equal(a.adj, b.adj)
    np.testing.assert_array_equal(a.ops, b.ops)
    assert not np.array_equal(np.asarray(a.ops), np.asarray(c.ops))


def test_sampler_matches_the_seeds_rejection_sampler_in_distribution():
    """The table sampler equals rejection sampling of (adjacency, ops) given n: i.i.d.
    proposals of the paper's loop, drawn in NumPy, kept in order when ``is_valid`` accepts them
    (checked in one batched call instead of one eager call per proposal)."""
    rng = np.random.default_rng(0)
    n, draws, proposals = 5, 3000, 4096
    accepted = np.zeros(0, int)
    while len(accepted) < draws:  # the paper's loop, a batch of proposals at a time
        adj = np.zeros((proposals, 7, 7), bool)
        adj[:, :n, :n] = np.triu(rng.integers(0, 2, (proposals, n, n)), 1)
        ops = np.full((proposals, 7), nb101.PAD, np.int8)
        ops[:, 0], ops[:, n - 1] = nb101.INPUT, nb101.OUTPUT
        ops[:, 1:n - 1] = rng.integers(0, 3, (proposals, n - 2))
        cells = nb101.Cell(adj=jnp.asarray(adj), ops=jnp.asarray(ops))
        valid = np.asarray(jax.jit(nb101.is_valid)(cells))
        edges = np.asarray(jax.jit(nb101.num_edges)(cells))
        accepted = np.concatenate([accepted, edges[valid]])
    accepted = accepted[:draws]
    cells = nb101.sample(jax.random.key(3), (6 * draws,))
    ours = np.asarray(nb101.num_edges(cells))[np.asarray(nb101.num_vertices(cells)) == n]
    table = np.array([np.bincount(accepted, minlength=10), np.bincount(ours, minlength=10)])
    table = table[:, table.sum(0) > 0]
    assert scipy.stats.chi2_contingency(table).pvalue > 1e-3


# ----------------------------------------------------------------------------- jit hygiene


def test_jitted_entry_points_do_not_retrace():
    hash_fn = chex.assert_max_traces(nb101.hash_cells, n=1)
    valid_fn = chex.assert_max_traces(nb101.is_valid, n=1)
    jitted_hash, jitted_valid = jax.jit(hash_fn), jax.jit(valid_fn)
    for seed in range(3):
        cells = nb101.sample(jax.random.key(seed), (16,))
        jitted_hash(cells)
        jitted_valid(cells)


# ----------------------------------------------------------------------------- enumeration


def test_labelled_adjacency_counts_per_vertex_count():
    # Labelled n-vertex DAGs with <= 9 edges needing no pruning (before isomorphism).
    counts = [len(nb101._valid_adjacencies(n)) for n in range(2, 8)]
    assert counts == [1, 2, 10, 121, 1545, 4793]


@pytest.mark.slow
def test_enumeration_has_every_cell_once(data_dir, real_specs):
    cells = nb101.enumerate_cells(data_dir, progress=False)
    assert cells.shape == (nb101.NUM_CELLS,)
    assert bool(nb101.is_valid(cells).all())
    counts = np.bincount(np.asarray(nb101.num_vertices(cells)), minlength=8)
    # Per-vertex-count totals of the official data set.
    assert counts[2:].tolist() == [1, 6, 84, 2441, 62010, 359082]
    table = nb101.space_hashes(data_dir, progress=False)
    assert len(np.unique(graph.hash_to_uint64(np.asarray(table)))) == nb101.NUM_CELLS
    # index_of finds each real cell, and each row maps back to itself.
    real = stack([nb101.from_official(m, o) for m, o, _ in real_specs])
    rows = np.asarray(nb101.index_of(table, real))
    assert (rows >= 0).all()
    np.testing.assert_array_equal(nb101.hash_cells(cells[rows]), nb101.hash_cells(real))
    np.testing.assert_array_equal(nb101.index_of(table, cells[:1000]), np.arange(1000))


def test_index_of_returns_minus_one_for_a_cell_not_in_the_table():
    cells = nb101.sample(jax.random.key(0), (64,))
    hashes = graph.hash_to_uint64(np.asarray(nb101.hash_cells(cells)))
    absent = hashes[0]
    keys = np.unique(hashes[hashes != absent])
    table = jnp.asarray(np.stack([keys >> np.uint64(32), keys & np.uint64(0xFFFFFFFF)], -1)
                        .astype(np.uint32))
    rows = np.asarray(nb101.index_of(table, cells))
    assert rows[0] == -1
    present = hashes != absent
    np.testing.assert_array_equal(keys[rows[present]], hashes[present])


def _valid_by_hand(adj: np.ndarray, ops: np.ndarray) -> bool:
    """The validity rules of a compact pruned cell, one cell at a time in plain Python."""
    n = int((ops != nb101.PAD).sum())
    if n < 2 or any((ops[v] != nb101.PAD) != (v < n) for v in range(7)):
        return False
    if ops[0] != nb101.INPUT or ops[n - 1] != nb101.OUTPUT:
        return False
    if any(not 0 <= ops[v] < nb101.NUM_OPS for v in range(1, n - 1)):
        return False
    if np.tril(adj).any() or adj[n:, :].any() or adj[:, n:].any() or adj.sum() > 9:
        return False
    return all(adj[:v, v].any() for v in range(1, n)) and all(adj[v, v + 1:].any()
                                                              for v in range(n - 1))


@pytest.mark.slow  # ~5 CPU-s of its own: out of the fast lane
def test_is_valid_agrees_with_the_rules_on_garbage_and_near_misses():
    key_adj, key_ops, key_flip = jax.random.split(jax.random.key(11), 3)
    garbage = nb101.Cell(adj=jax.random.bernoulli(key_adj, 0.12, (3000, 7, 7)),
                         ops=jax.random.randint(key_ops, (3000, 7), -3, 3).astype(jnp.int8))
    near = nb101.sample(key_adj, (3000,))  # valid cells with a few bits flipped
    near = nb101.Cell(adj=near.adj ^ jax.random.bernoulli(key_flip, 0.02, (3000, 7, 7)),
                      ops=near.ops)
    for cells in (garbage, near):
        ours = np.asarray(jax.jit(nb101.is_valid)(cells))
        adj, ops = np.asarray(cells.adj), np.asarray(cells.ops)
        expected = np.array([_valid_by_hand(a, o) for a, o in zip(adj, ops, strict=True)])
        np.testing.assert_array_equal(ours, expected)
        assert 0 < expected.sum() < len(expected) or cells is garbage
