"""Neighbours under the five edits of seed 000, section 3.2.1."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax.spaces import graph, nb101, nb101_reference

C3, C1, MP = nb101.OP_NAMES


def spec_of(cell: nb101.Cell):
    n = int(nb101.num_vertices(cell))
    return np.asarray(cell.adj)[:n, :n].astype(int), [int(o) for o in np.asarray(cell.ops)[:n]]


def official_keys(cells: nb101.Cell, mask) -> list[str]:
    return [nb101._md5_module_hash(*spec_of(cells[i])) for i in np.flatnonzero(np.asarray(mask))]


def test_fig2_vertex_removal_rewires_predecessors_to_successors():
    # Seed Fig. 2: remove vertex 2 of 0->1->2, 0->2, 2->3->4, 2->4; its predecessors {0, 1}
    # and successors {3, 4} give 4 rewiring edges and 10 selections that leave every vertex
    # connected (vertex 1 needs an out-edge, vertex 3 an in-edge).
    matrix = np.zeros((5, 5), int)
    for u, v in [(0, 1), (1, 2), (0, 2), (2, 3), (3, 4), (2, 4)]:
        matrix[u, v] = 1
    cell = nb101.from_official(matrix, ["input", C3, MP, C1, "output"])
    found, mask = nb101.all_neighbours(cell)
    # After removal the vertices are 0, 1 (conv3x3), 2 (old 3, conv1x1), 3 (output):
    # base edges 0->1 and 2->3; a = 0->2, b = 0->3, c = 1->2, d = 1->3.
    a, b, c, d = (0, 2), (0, 3), (1, 2), (1, 3)
    selections = [{c}, {c, a}, {c, b}, {c, d}, {c, a, b}, {c, a, d}, {c, b, d}, {c, a, b, d},
                  {d, a}, {d, a, b}]
    expected = set()
    for chosen in selections:
        new = np.zeros((4, 4), int)
        for u, v in [(0, 1), (2, 3), *chosen]:
            new[u, v] = 1
        expected.add(nb101._md5_module_hash(new, [nb101.INPUT, 0, 1, nb101.OUTPUT]))
    removed_two = set()
    for index in np.flatnonzero(np.asarray(mask)):
        m, labels = spec_of(found[index])
        if len(labels) == 4 and labels[1:3] == [nb101.CONV3X3, nb101.CONV1X1]:
            removed_two.add(nb101._md5_module_hash(m, labels))
    assert removed_two == expected and len(expected) == 10


@pytest.mark.parametrize("seed", range(4))
def test_neighbours_equal_the_plain_python_reference(seed):
    cells = nb101.sample(jax.random.key(seed), (25,))
    found, mask = nb101.all_neighbours(cells)
    for index in range(25):
        ours = official_keys(found[index], mask[index])
        reference = [nb101._md5_module_hash(m, l)
                     for m, l in nb101_reference.neighbours(*spec_of(cells[index]))]
        assert ours == reference  # same set, same deterministic order


def test_every_neighbour_is_valid_distinct_and_not_the_cell():
    cells = nb101.sample(jax.random.key(11), (300,))
    found, mask = nb101.all_neighbours(cells)
    assert found.ops.shape == (300, nb101.MAX_NEIGHBOURS, 7)
    assert bool(jnp.where(mask, nb101.is_valid(found), True).all())
    pruned = nb101.prune(found)
    np.testing.assert_array_equal(jnp.where(mask[..., None], pruned.ops, 0),
                                  jnp.where(mask[..., None], found.ops, 0))
    own = graph.hash_to_uint64(np.asarray(nb101.hash_cells(cells)))
    hashes = graph.hash_to_uint64(np.asarray(nb101.hash_cells(found)))
    for index in range(300):
        keys = hashes[index][np.asarray(mask[index])]
        assert len(set(keys.tolist())) == len(keys)
        assert own[index] not in keys
        # Packed to the front.
        count = int(mask[index].sum())
        assert bool(mask[index, :count].all()) and not bool(mask[index, count:].any())


def test_random_subset_is_deterministic_uniform_and_padded():
    cell = nb101.from_official(
        [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
        ["input", C3, MP, C1, "output"],
    )
    everything, all_mask = nb101.all_neighbours(cell)
    total = int(all_mask.sum())
    assert total > 10
    universe = graph.hash_to_uint64(np.asarray(nb101.hash_cells(everything)))[np.asarray(all_mask)]
    picked, mask = nb101.neighbours(cell, jax.random.key(0), max_neighbours=10)
    again, _ = nb101.neighbours(cell, jax.random.key(0), max_neighbours=10)
    np.testing.assert_array_equal(picked.ops, again.ops)
    assert int(mask.sum()) == 10
    chosen = graph.hash_to_uint64(np.asarray(nb101.hash_cells(picked)))
    assert set(chosen.tolist()) <= set(universe.tolist())
    # Uniform: over many keys each neighbour is picked about 10/total of the time.
    keys = jax.random.split(jax.random.key(1), 2000)
    many, many_mask = jax.vmap(lambda k: nb101.neighbours(cell, k, max_neighbours=10))(keys)
    hits = graph.hash_to_uint64(np.asarray(nb101.hash_cells(many)))[np.asarray(many_mask)]
    counts = np.array([(hits == key).sum() for key in universe])
    assert counts.sum() == 2000 * 10
    np.testing.assert_allclose(counts / 2000, 10 / total, atol=0.05)
    # More slots than neighbours: all of them, then padding.
    wide, wide_mask = nb101.neighbours(cell, jax.random.key(0), max_neighbours=100)
    assert int(wide_mask.sum()) == total
    assert bool((wide.ops[total:] == nb101.PAD).all())


def test_all_neighbours_does_not_retrace():
    fn = jax.jit(chex.assert_max_traces(lambda c: nb101.all_neighbours(c), n=1))
    for seed in range(3):
        fn(nb101.sample(jax.random.key(seed), (8,)))


@pytest.mark.slow
def test_derived_bounds_hold_over_the_whole_space(data_dir):
    """FREE_PAIRS, MAX_CANDIDATES and M are exact maxima over all 423,624 cells."""
    from nasjax.spaces import nb101_neighbours as edits

    cells = nb101.enumerate_cells(data_dir, progress=False)

    @jax.jit
    def counts(batch):
        def one(cell):
            _, ok = edits._candidates(cell)
            free = cell.adj[:, :, None] & cell.adj[None, :, :] & ~cell.adj[:, None, :]
            return ok.sum(), free.sum((0, 2)).max()
        candidates, free = jax.vmap(one)(batch)
        _, mask = edits.all_neighbours(batch)
        return candidates.max(), free.max(), mask.sum(-1)

    size, most_candidates, most_free, neighbour_counts = 16384, 0, 0, []
    for start in range(0, nb101.NUM_CELLS, size):
        rows = np.arange(start, start + size) % nb101.NUM_CELLS
        c, f, m = counts(cells[rows])
        most_candidates, most_free = max(most_candidates, int(c)), max(most_free, int(f))
        neighbour_counts.append(np.asarray(m))
    neighbour_counts = np.concatenate(neighbour_counts)
    assert most_free == edits.FREE_PAIRS
    assert most_candidates == edits.MAX_CANDIDATES
    assert neighbour_counts.max() == edits.MAX_NEIGHBOURS
    assert 20 < neighbour_counts.mean() < 30  # the seed: "around 25 neighbours"
