"""Neighbours under the five edits of Cassimon et al. §3.2.1."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax.spaces import graph, nb101, nb101_reference
from nasjax.spaces.nb101_neighbours import MAX_NEIGHBOURS, all_neighbours
from tests.conftest import OPTIMISED

C3, C1, MP = nb101.OP_NAMES


def spec_of(cell: nb101.Cell):
    n = int((np.asarray(cell.ops) != nb101.PAD).sum())  # num_vertices of a compact cell
    return np.asarray(cell.adj)[:n, :n].astype(int), [int(o) for o in np.asarray(cell.ops)[:n]]


def official_keys(cells: nb101.Cell, mask) -> list[str]:
    return [nb101._md5_module_hash(*spec_of(cells[i])) for i in np.flatnonzero(np.asarray(mask))]


@pytest.mark.slow  # ~5 CPU-s of its own: out of the fast lane
def test_fig2_vertex_removal_rewires_predecessors_to_successors():
    # Cassimon et al. Fig. 2: remove vertex 2 of 0->1->2, 0->2, 2->3->4, 2->4; its
    # predecessors {0, 1} and successors {3, 4} give 4 rewiring edges and 10 selections that
    # leave every vertex connected (vertex 1 needs an out-edge, vertex 3 an in-edge).
    matrix = np.zeros((5, 5), int)
    for u, v in [(0, 1), (1, 2), (0, 2), (2, 3), (3, 4), (2, 4)]:
        matrix[u, v] = 1
    cell = nb101.from_official(matrix, ["input", C3, MP, C1, "output"])
    found, mask = all_neighbours(cell)
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


@pytest.mark.slow  # ~11 CPU-s of its own: out of the fast lane
@pytest.mark.parametrize("seed", range(4))
def test_neighbours_equal_the_plain_python_reference(seed):
    cells = nb101.sample(jax.random.key(seed), (75,))  # 300 cells over the four seeds
    found, mask = jax.tree.map(np.asarray, all_neighbours(cells))  # read in NumPy below
    cells = jax.tree.map(np.asarray, cells)
    for index in range(75):
        ours = official_keys(found[index], mask[index])
        reference = [nb101._md5_module_hash(matrix, labels)
                     for matrix, labels in nb101_reference.neighbours(*spec_of(cells[index]))]
        assert ours == reference  # same set, same deterministic order


@pytest.mark.slow  # hashes 300 cells' neighbours op by op (~17 CPU-s)
def test_every_neighbour_is_valid_distinct_and_not_the_cell():
    cells = nb101.sample(jax.random.key(11), (300,))
    found, mask = all_neighbours(cells)
    mask = np.asarray(mask)  # indexed per cell below: NumPy, not one eager JAX slice each
    assert found.ops.shape == (300, MAX_NEIGHBOURS, 7)
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


@pytest.mark.slow  # ~6 CPU-s of its own: out of the fast lane
def test_an_edge_against_the_vertex_order_is_added_when_it_closes_no_cycle():
    # 0->1->2->3->5, 0->3, 1->3, 0->4->5: the edge 4 -> 1 closes no cycle (no path 1 -> 4),
    # so it is a neighbour although it points backwards in this vertex order; 3 -> 1 is not.
    matrix = np.array([[0, 1, 0, 1, 1, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 1, 0, 0],
                       [0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]])
    cell = nb101.from_official(matrix, ["input", MP, MP, MP, MP, "output"])
    found, mask = all_neighbours(cell)
    keys = official_keys(found, mask)
    labels = [nb101.INPUT] + [nb101.MAXPOOL3X3] * 4 + [nb101.OUTPUT]
    back_edge = matrix.copy()
    back_edge[4, 1] = 1
    assert nb101._md5_module_hash(back_edge, labels) in keys
    cycle = matrix.copy()
    cycle[3, 1] = 1
    assert nb101._md5_module_hash(cycle, labels) not in keys


@pytest.mark.slow  # ~5 CPU-s of its own: out of the fast lane
def test_a_vertex_against_the_vertex_order_is_added_when_it_closes_no_cycle():
    # The diamond 0 -> {1 conv3x3, 2 maxpool} -> 3: a new conv1x1 on maxpool -> new -> conv3x3
    # goes against this vertex order but closes no cycle; no forward addition gives it.
    matrix = np.array([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]])
    cell = nb101.from_official(matrix, ["input", C3, MP, "output"])
    found, mask = all_neighbours(cell)
    grown = np.pad(matrix, ((0, 1), (0, 1)))
    grown[2, 4] = grown[4, 1] = 1
    labels = [nb101.INPUT, nb101.CONV3X3, nb101.MAXPOOL3X3, nb101.OUTPUT, nb101.CONV1X1]
    assert nb101._md5_module_hash(grown, labels) in official_keys(found, mask)


@pytest.mark.slow  # ~5 CPU-s of its own: out of the fast lane
def test_all_neighbours_does_not_retrace():
    fn = jax.jit(chex.assert_max_traces(lambda c: all_neighbours(c), n=1))
    for seed in range(3):
        fn(nb101.sample(jax.random.key(seed), (8,)))


@pytest.mark.slow
def test_derived_bounds_hold_over_the_whole_space(data_dir, full_neighbour_table):
    """FREE_PAIRS, MAX_CANDIDATES and M are exact maxima over all 423,624 cells (M: the
    neighbour counts of the session's table, which ran ``all_neighbours`` over every cell)."""
    from nasjax.spaces import nb101_neighbours as edits

    cells = nb101.enumerate_cells(data_dir, progress=False)

    @functools.partial(jax.jit, compiler_options=OPTIMISED)  # 26 batches, 9x faster than at -O0
    def counts(batch):
        def one(cell):
            _, _, ok = edits._candidates(cell)
            free = cell.adj[:, :, None] & cell.adj[None, :, :] & ~cell.adj[:, None, :]
            return ok.sum(), free.sum((0, 2)).max()
        candidates, free = jax.vmap(one)(batch)
        return candidates.max(), free.max()

    size, most_candidates, most_free = 16384, 0, 0
    for start in range(0, nb101.NUM_CELLS, size):
        rows = np.arange(start, start + size) % nb101.NUM_CELLS
        c, f = counts(cells[rows])
        most_candidates, most_free = max(most_candidates, int(c)), max(most_free, int(f))
    assert most_free == edits.FREE_PAIRS
    assert most_candidates == edits.MAX_CANDIDATES
    neighbour_counts = np.diff(np.asarray(full_neighbour_table.offsets))
    assert neighbour_counts.max() == edits.MAX_NEIGHBOURS
    assert round(float(neighbour_counts.mean()), 2) == 25.71  # figure of the module docstring
