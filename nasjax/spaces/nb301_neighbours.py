"""Neighbours of a NAS-Bench-301 genotype: one edit in each cell (Cassimon et al. §3.2.1).

A *cell* neighbour is one edit of one (input, op) pair, NASLib's DARTS neighbourhood:

1. change the pair's op to one of the 6 others (``8 pairs x 6 = 48``);
2. change the pair's input to another input of its node that the node does not read yet,
   so the node's two inputs stay distinct (node ``k`` has ``k + 2`` inputs, ``k`` of them
   free: ``2 x (0 + 1 + 2 + 3) = 12``).

Every valid cell so has exactly ``CELL_NEIGHBOURS = 60`` neighbours, all valid, all distinct
after canonicalisation and none the cell itself: an op edit changes one op and keeps the
inputs; an input edit ``{(a, x), (b, y)} -> {(c, x), (b, y)}`` with ``c`` not in ``{a, b}``
cannot equal ``{(a, x), (c', y)}`` (that would need ``a = b``). Cassimon et al. report
"around 70" per cell; allowing an input edit onto the node's other input (which the space
forbids) would give 68.

As the paper prescribes for several cells, a *genotype* neighbour is a tuple of one
neighbour of each cell: ``60 x 60 = MAX_NEIGHBOURS = 3600`` for every valid genotype (the
paper: "around 4900"), all distinct. Pair index ``i`` is (normal neighbour ``i // 60``,
reduction neighbour ``i % 60``), and cell neighbour ``e`` is row ``e`` of :data:`EDITS`:
nodes in order, within a node pair 0 then pair 1, within a pair the op edits (new op
ascending) then the input edits (new input ascending). :class:`OnTheFlyGenotypes` draws a uniform
subset of pair indices with Floyd's algorithm, never materialising the 3600 tuples.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from nasjax.spaces import base, graph, nb301
from nasjax.spaces.nb301 import NUM_NODES, NUM_OPS, PAIRS_PER_NODE, Genotype

OP_EDIT, INPUT_EDIT = 0, 1


def _edit_table() -> np.ndarray:
    """int32[60, 4]: (node, pair, kind, rank) of each cell edit in neighbour order."""
    rows = []
    for node in range(NUM_NODES):
        for pair in range(PAIRS_PER_NODE):
            rows += [(node, pair, OP_EDIT, rank) for rank in range(NUM_OPS - 1)]
            rows += [(node, pair, INPUT_EDIT, rank) for rank in range(node)]  # k free inputs
    return np.asarray(rows, np.int32)


EDITS = _edit_table()
CELL_NEIGHBOURS = len(EDITS)  # 60
MAX_NEIGHBOURS = CELL_NEIGHBOURS ** nb301.NUM_CELLS  # 3600
_SUBSET_SALT = np.uint32(0x68E31DA4)
_GOLDEN = np.uint32(0x9E3779B9)


def edit_cell(inputs: jax.Array, ops: jax.Array, edit: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Cell neighbour number ``edit`` (a row of :data:`EDITS`) of one valid cell, canonical.

    Args:
      inputs, ops: int8[4, 2], one valid cell.
      edit: int32[], in ``0..59``.
    Returns:
      ``(inputs int8[4, 2], ops int8[4, 2])`` with the node's pairs ordered by (input, op).
    """
    node, pair, kind, rank = jnp.asarray(EDITS)[edit]
    old_input, old_op = inputs[node, pair].astype(jnp.int32), ops[node, pair].astype(jnp.int32)
    low = jnp.minimum(inputs[node, 0], inputs[node, 1]).astype(jnp.int32)
    high = jnp.maximum(inputs[node, 0], inputs[node, 1]).astype(jnp.int32)
    new_op = rank + (rank >= old_op)  # the rank-th op other than the old one
    skip_low = rank + (rank >= low)
    new_input = skip_low + (skip_low >= high)  # the rank-th input other than low and high
    inputs = inputs.at[node, pair].set(
        jnp.where(kind == INPUT_EDIT, new_input, old_input).astype(inputs.dtype))
    ops = ops.at[node, pair].set(jnp.where(kind == OP_EDIT, new_op, old_op).astype(ops.dtype))
    edited = nb301.canonical(Genotype(inputs=inputs, ops=ops))
    return edited.inputs, edited.ops


def cell_neighbours(inputs: jax.Array, ops: jax.Array) -> tuple[jax.Array, jax.Array]:
    """All 60 neighbours of one valid cell in neighbour order: ``int8[60, 4, 2]`` twice."""
    return jax.vmap(edit_cell, in_axes=(None, None, 0))(inputs, ops, jnp.arange(CELL_NEIGHBOURS))


def num_neighbours(genotypes: Genotype) -> jax.Array:
    """int32[...]: 3600 for a valid genotype, 0 for an invalid one."""
    return jnp.where(nb301.is_valid(genotypes), MAX_NEIGHBOURS, 0).astype(jnp.int32)


def neighbour(genotype: Genotype, index: jax.Array) -> Genotype:
    """Neighbour number ``index`` (``0..3599``) of one valid genotype, canonical."""
    edits = jnp.stack([index // CELL_NEIGHBOURS, index % CELL_NEIGHBOURS])
    inputs, ops = jax.vmap(edit_cell)(genotype.inputs, genotype.ops, edits)
    return Genotype(inputs=inputs, ops=ops)


def _random_word(seed: jax.Array, counter: jax.Array) -> jax.Array:
    """uint32[...]: a counter-based random word of ``seed`` (murmur3 finaliser, 32-bit ops)."""
    key = graph.fmix32(jnp.asarray(seed, jnp.uint32) ^ _SUBSET_SALT)
    return graph.fmix32(key + (jnp.asarray(counter, jnp.uint32) + 1) * _GOLDEN)


def random_subset(seed: jax.Array, count: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """A uniform random subset of ``min(n, count)`` of ``0..count-1``, ascending (Floyd's).

    Floyd's algorithm: for ``j = count - m, ..., count - 1`` draw ``t`` uniform in ``0..j`` and
    take ``t``, or ``j`` when ``t`` is taken already; every ``m``-subset is equally likely.
    ``n`` sequential steps of ``n`` comparisons, 32-bit integer ops only, no table of size
    ``count``. ``t`` is a hashed word of (``seed``, step) modulo ``j + 1``, whose bias is
    below ``count / 2**32`` (under 1e-6 for 3600).

    Args:
      seed: uint32[], the only source of randomness.
      count: int32[], how many items there are.
      n: static, how many to draw at most.
    Returns:
      ``(int32[n] chosen items ascending, 0 where padded; bool[n] mask, True in front)``.
    """
    count = jnp.asarray(count, jnp.int32)
    size = jnp.minimum(count, n)
    empty = jnp.iinfo(jnp.int32).max

    def step(i, chosen):
        j = count - size + i
        t = (_random_word(seed, i) % jnp.maximum(j + 1, 1).astype(jnp.uint32)).astype(jnp.int32)
        pick = jnp.where((chosen == t).any(), j, t)
        return chosen.at[i].set(jnp.where(i < size, pick, empty))

    chosen = jax.lax.fori_loop(0, n, step, jnp.full((n,), empty, jnp.int32))
    mask = jnp.arange(n) < size
    return jnp.where(mask, jnp.sort(chosen), 0), mask


@flax.struct.dataclass
class OnTheFlyGenotypes:
    """NAS-Bench-301 neighbours computed on the fly; a node is the canonical genotype.

    Implements the :class:`~nasjax.spaces.base.Neighbourhood` protocol. Neighbours are the
    3600 (normal, reduction) tuples of the module docstring, in pair-index order.
    """

    max_neighbours = MAX_NEIGHBOURS  # a class constant, not a field

    def locate(self, arch: Genotype) -> Genotype:
        """The node of a valid genotype: its canonical form."""
        return nb301.canonical(arch)

    def settle(self, node: Genotype) -> Genotype:
        """The representative node of any node: its canonical form."""
        return nb301.canonical(node)

    def sample(self, key: jax.Array) -> Genotype:
        """The canonical genotype :func:`nb301.sample` draws from ``key``."""
        return nb301.canonical(nb301.sample(key, ()))

    def arch(self, node: Genotype) -> Genotype:
        """The genotype of node(s): the node itself."""
        return node

    def present(self, seed: jax.Array, node: Genotype, n: int
                ) -> tuple[Genotype, jax.Array, jax.Array]:
        """A uniform random subset of ``min(n, 3600)`` neighbours of one settled node.

        The pair indices come from :func:`random_subset` of ``seed`` and are presented in
        ascending order; each tuple is built from its two cell edits alone.

        Returns:
          ``(Genotype[n] canonical, bool[n] mask, int32[] count)``: ``count`` is 3600 for a
          valid node and 0 (all padding) for an invalid one; padding entries are all ``PAD``.
        """
        count = num_neighbours(node)
        index, mask = random_subset(seed, count, n)
        genotypes = jax.vmap(neighbour, in_axes=(None, 0))(node, index)
        return base.select(mask, genotypes, nb301.padding((n,))), mask, count
