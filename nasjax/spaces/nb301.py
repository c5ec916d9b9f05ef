"""The NAS-Bench-301 (DARTS) genotype space as pure, jittable functions over fixed-shape arrays.

A genotype holds two cells, normal (``NORMAL = 0``) and reduction (``REDUCE = 1``), searched
together (Cassimon et al. §3.1). Each cell has 4 intermediate nodes ``k = 0..3`` (DARTS nodes
2..5), each fed by two (input, op) pairs. Input 0 and 1 are the cell's inputs (the outputs
of the two previous cells), input ``i >= 2`` is intermediate node ``i - 2``: node ``k`` reads
inputs in ``0..k+1`` and its two inputs differ. The cell output concatenates all 4 nodes.
Ops index :data:`OP_NAMES`, the order of NAS-Bench-301's configuration space and of the real
data (``shared/data/nb301_val_725.json``). ``PAD = -1`` fills padding genotypes.

Pair ``p`` of node ``k`` of cell ``c`` is ``(inputs[c, k, p], ops[c, k, p])``: the official
genotype lists ``[(op_name, input), ...]`` hold node ``k``'s pairs at ``2k, 2k + 1``. The two
pairs of a node are unordered; the *canonical* form orders them by (input, op).

Neighbours live in ``nb301_neighbours`` and the string encoding in ``nb301_string``;
:func:`make_space` assembles the :class:`~nasjax.spaces.base.SearchSpace`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from nasjax.spaces import graph

OP_NAMES = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
            "dil_conv_3x3", "dil_conv_5x5")  # NAS-Bench-301's op order, the one op table
NUM_OPS = len(OP_NAMES)
CELL_NAMES = ("normal", "reduce")
NORMAL, REDUCE = 0, 1
NUM_CELLS = len(CELL_NAMES)
NUM_NODES = 4  # intermediate nodes per cell
NUM_CELL_INPUTS = 2  # inputs 0 and 1: the outputs of the two previous cells
NUM_INPUTS = NUM_CELL_INPUTS + NUM_NODES  # 0..5: cell inputs, then nodes (node k reads < k + 2)
PAIRS_PER_NODE = 2  # (input, op) pairs feeding each node
PAD = -1
NUM_INPUT_CHOICES = np.arange(NUM_NODES) + NUM_CELL_INPUTS  # node k reads inputs 0..k+1
# Canonical cells per node (unordered pair of distinct inputs, an op each): 49, 147, 294, 490.
NODE_CHOICES = np.array([math.comb(int(m), 2) * NUM_OPS ** 2 for m in NUM_INPUT_CHOICES])
CELLS_PER_SPACE = int(np.prod(NODE_CHOICES))  # 1,037,664,180 canonical cells (< 2**30)


@flax.struct.dataclass
class Genotype:
    """A batch of NAS-Bench-301 genotypes (normal and reduction cell)."""

    inputs: jax.Array  # int8[..., 2, 4, 2]: cell, node, pair -> input 0..k+1
    ops: jax.Array  # int8[..., 2, 4, 2]: cell, node, pair -> op index into OP_NAMES

    @property
    def shape(self) -> tuple[int, ...]:
        """Batch shape."""
        return self.ops.shape[:-3]

    def __getitem__(self, index) -> Genotype:
        return Genotype(inputs=self.inputs[index], ops=self.ops[index])


def _cell_valid(inputs: jax.Array, ops: jax.Array) -> jax.Array:
    """bool[...]: one cell's validity, ``inputs, ops: int[..., 4, 2]``."""
    inputs, ops = inputs.astype(jnp.int32), ops.astype(jnp.int32)
    bound = jnp.asarray(NUM_INPUT_CHOICES)[:, None]
    inputs_ok = ((inputs >= 0) & (inputs < bound)).all((-2, -1))
    distinct = (inputs[..., 0] != inputs[..., 1]).all(-1)
    ops_ok = ((ops >= 0) & (ops < NUM_OPS)).all((-2, -1))
    return inputs_ok & distinct & ops_ok


def cell_valid(genotypes: Genotype) -> jax.Array:
    """bool[..., 2]: which cells are valid (see :func:`is_valid`)."""
    return _cell_valid(genotypes.inputs, genotypes.ops)


def is_valid(genotypes: Genotype) -> jax.Array:
    """bool[...]: in each cell node ``k``'s two inputs are distinct and in ``0..k+1``, and every
    op is in ``0..6``."""
    return cell_valid(genotypes).all(-1)


def canonical(genotypes: Genotype) -> Genotype:
    """The representative form: each node's two pairs ordered by (input, op).

    Genotypes that differ only in the order of a node's two pairs build the same network and
    get the same canonical form (and so the same hash, tokens and string).
    """
    inputs, ops = genotypes.inputs, genotypes.ops
    order = inputs.astype(jnp.int32) * NUM_OPS + ops.astype(jnp.int32)
    swap = (order[..., 0] > order[..., 1])[..., None]
    return Genotype(inputs=jnp.where(swap, inputs[..., ::-1], inputs),
                    ops=jnp.where(swap, ops[..., ::-1], ops))


def pair_rank(low: jax.Array, high: jax.Array, num_inputs) -> jax.Array:
    """int32[...]: rank of the input pair ``low < high`` among the pairs of ``0..num_inputs-1``
    in lexicographic order (``0_1, 0_2, ..., 1_2, ...``: the order of NAS-Bench-301's
    ``inputs_node_*`` choices)."""
    low, high = jnp.asarray(low, jnp.int32), jnp.asarray(high, jnp.int32)
    return low * (2 * jnp.asarray(num_inputs) - low - 1) // 2 + high - low - 1


_LANE_SALTS = np.array([0x3C6EF372, 0xA54FF53A, 0x510E527F], dtype=np.uint32)


def _cell_rank(inputs: jax.Array, ops: jax.Array) -> jax.Array:
    """uint32[...]: mixed-radix index of a canonical cell below :data:`CELLS_PER_SPACE`."""
    inputs, ops = inputs.astype(jnp.int32), ops.astype(jnp.int32)
    pair = pair_rank(inputs[..., 0], inputs[..., 1], jnp.asarray(NUM_INPUT_CHOICES))
    code = ((pair * NUM_OPS + ops[..., 0]) * NUM_OPS + ops[..., 1]).astype(jnp.uint32)
    rank = jnp.zeros(code.shape[:-1], jnp.uint32)
    for node in range(NUM_NODES):
        rank = rank * jnp.uint32(NODE_CHOICES[node]) + code[..., node]
    return rank


def hash_genotypes(genotypes: Genotype) -> jax.Array:
    """uint32[..., 2]: 64-bit hash of the canonical form, without collisions on valid genotypes.

    Each canonical cell has an exact index below 2**30 (:data:`CELLS_PER_SPACE`); the two
    indices are mixed by a 3-round Feistel network over murmur3's finaliser, a bijection of
    64-bit words, so distinct valid canonical genotypes always get distinct hashes.
    """
    genotypes = canonical(genotypes)
    rank = _cell_rank(genotypes.inputs, genotypes.ops)
    left, right = rank[..., NORMAL], rank[..., REDUCE]
    right = right ^ graph.fmix32(left ^ _LANE_SALTS[0])
    left = left ^ graph.fmix32(right ^ _LANE_SALTS[1])
    right = right ^ graph.fmix32(left ^ _LANE_SALTS[2])
    return jnp.stack([left, right], -1)


@jax.jit(static_argnames="shape")
def sample(key: jax.Array, shape: tuple[int, ...] = ()) -> Genotype:
    """Genotypes drawn uniformly, as NAS-Bench-301 and NASLib sample DARTS cells.

    For each cell and node ``k`` independently, the two inputs are an unordered pair drawn
    uniformly among the ``C(k+2, 2)`` pairs of distinct inputs in ``0..k+1`` (``choice(k+2, 2,
    replace=False)``), and each of the two ops is uniform over the 7 ops. Every canonical
    genotype so has probability ``1 / CELLS_PER_SPACE**2`` (about ``1/1.08e18``): uniform over
    the canonical genotypes, and also over all valid genotypes (each canonical one has
    exactly ``2**8`` pair orders). Returned in canonical form; deterministic given ``key``.
    """
    key_first, key_second, key_ops = jax.random.split(key, 3)
    grid = shape + (NUM_CELLS, NUM_NODES)
    num_inputs = jnp.asarray(NUM_INPUT_CHOICES)
    first = jax.random.randint(key_first, grid, 0, num_inputs)
    second = jax.random.randint(key_second, grid, 0, num_inputs - 1)
    second = second + (second >= first)  # uniform over the inputs other than ``first``
    inputs = jnp.stack([jnp.minimum(first, second), jnp.maximum(first, second)], -1)
    ops = jax.random.randint(key_ops, grid + (PAIRS_PER_NODE,), 0, NUM_OPS)
    return canonical(Genotype(inputs=inputs.astype(jnp.int8), ops=ops.astype(jnp.int8)))


def padding(shape: tuple[int, ...] = ()) -> Genotype:
    """An invalid all-``PAD`` genotype batch of ``shape``."""
    full = jnp.full(shape + (NUM_CELLS, NUM_NODES, PAIRS_PER_NODE), PAD, jnp.int8)
    return Genotype(inputs=full, ops=full)


# ----------------------------------------------------------------------------- tokens
# The operations-on-nodes graph of one cell (Cassimon et al. §3.1, Fig. 1): every (input, op)
# pair becomes an op vertex with an in-edge from its input, every intermediate node a sum
# vertex fed by its two op vertices, and every sum vertex feeds the output. Vertex order,
# topological: 0, 1 the cell inputs; then per node k: op vertex of pair 0, of pair 1, the sum
# vertex (2 + 3k, 3 + 3k, 4 + 3k); 14 the output.

NUM_TOKEN_VERTICES = NUM_CELL_INPUTS + 3 * NUM_NODES + 1  # 15
TOKEN_LABELS = ("input", "output", "sum") + OP_NAMES  # one-hot vertex label vocabulary
INPUT_LABEL, OUTPUT_LABEL, SUM_LABEL = 0, 1, 2
FIRST_OP_LABEL = 3
OUTPUT_VERTEX = NUM_TOKEN_VERTICES - 1
OP_VERTEX = NUM_CELL_INPUTS + 3 * np.arange(NUM_NODES)[:, None] + np.arange(PAIRS_PER_NODE)
SUM_VERTEX = NUM_CELL_INPUTS + 3 * np.arange(NUM_NODES) + 2
SOURCE_VERTEX = np.concatenate([np.arange(NUM_CELL_INPUTS), SUM_VERTEX])  # vertex of input i
TRIL_ROWS, TRIL_COLS = np.tril_indices(NUM_TOKEN_VERTICES, k=-1)  # row-major lower triangle
NUM_EDGE_SLOTS = len(TRIL_ROWS)  # 105
CELL_TOKEN_SIZE = NUM_EDGE_SLOTS + NUM_TOKEN_VERTICES * len(TOKEN_LABELS)  # 105 + 150 = 255
TOKEN_SIZE = NUM_CELLS * CELL_TOKEN_SIZE  # 510


def _edge_slot(target, source):
    """Position of the edge ``source -> target`` (``source < target``) in a cell's tokens."""
    return target * (target - 1) // 2 + source


def _label_slot(vertex, label):
    """Position of ``label`` of ``vertex`` in a cell's tokens."""
    return NUM_EDGE_SLOTS + vertex * len(TOKEN_LABELS) + label


def _token_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tokens every cell shares, and the positions set by each pair's input and op."""
    shared = np.zeros(CELL_TOKEN_SIZE, np.float32)
    shared[_edge_slot(SUM_VERTEX[:, None], OP_VERTEX)] = 1  # op vertices -> their sum
    shared[_edge_slot(OUTPUT_VERTEX, SUM_VERTEX)] = 1  # sums -> output
    shared[_label_slot(np.arange(NUM_CELL_INPUTS), INPUT_LABEL)] = 1
    shared[_label_slot(SUM_VERTEX, SUM_LABEL)] = 1
    shared[_label_slot(OUTPUT_VERTEX, OUTPUT_LABEL)] = 1
    from_input = _edge_slot(OP_VERTEX[..., None], SOURCE_VERTEX)  # [4, 2, 6], valid inputs only
    with_op = _label_slot(OP_VERTEX[..., None], FIRST_OP_LABEL + np.arange(NUM_OPS))  # [4, 2, 7]
    return shared, from_input, with_op


_SHARED_TOKENS, _INPUT_SLOT, _OP_SLOT = _token_tables()


def tokens(genotypes: Genotype) -> jax.Array:
    """float32[..., 510]: the Q-network's features of valid genotypes (Cassimon et al. §3.2.3).

    Per cell, of its canonical form's operations-on-nodes graph (15 vertices, order above):
    the lower-triangular adjacency ``A[v, u]`` (edge ``u -> v``, ``u < v``) flattened by rows
    (105 entries: ``(1,0), (2,0), (2,1), (3,0), ...``), then the one-hot labels vertex by vertex
    (15 x 10 over :data:`TOKEN_LABELS`: input, output, sum, then the 7 ops). Every cell has
    the same 15 vertices, so no padding is needed. The normal cell's 255 values come first,
    then the reduction cell's. Each cell has 20 edges and 15 labels, so 70 ones in all.
    """
    genotypes = canonical(genotypes)
    inputs, ops = genotypes.inputs.astype(jnp.int32), genotypes.ops.astype(jnp.int32)
    pairs = np.arange(NUM_NODES * PAIRS_PER_NODE).reshape(NUM_NODES, PAIRS_PER_NODE)
    edge = jnp.asarray(_INPUT_SLOT.ravel())[pairs * NUM_INPUTS + inputs]  # [..., 2, 4, 2]
    label = jnp.asarray(_OP_SLOT.ravel())[pairs * NUM_OPS + ops]
    cell_offset = CELL_TOKEN_SIZE * np.arange(NUM_CELLS)[:, None, None]
    slots = jnp.stack([edge, label], -1) + cell_offset[..., None]  # [..., 2, 4, 2, 2]
    slots = slots.reshape(genotypes.shape + (-1,))
    shared = jnp.broadcast_to(np.tile(_SHARED_TOKENS, NUM_CELLS), genotypes.shape + (TOKEN_SIZE,))
    return jnp.put_along_axis(shared, slots, 1.0, axis=-1, inplace=False)


# ----------------------------------------------------------------------------- host side


def _cell_from_pairs(pairs, cell_name: str) -> tuple[np.ndarray, np.ndarray]:
    """(inputs int8[4, 2], ops int8[4, 2]) of 8 ``[input, op]`` pairs, with a precise error."""
    pairs = np.asarray(pairs)
    expected = (NUM_NODES * PAIRS_PER_NODE, 2)
    if pairs.shape != expected:
        raise ValueError(f"{cell_name} cell must be {expected[0]} [input, op] pairs, "
                         f"got shape {pairs.shape}")
    inputs, ops = pairs[:, 0].reshape(NUM_NODES, 2), pairs[:, 1].reshape(NUM_NODES, 2)
    for node in range(NUM_NODES):
        high = node + NUM_CELL_INPUTS
        if not ((inputs[node] >= 0) & (inputs[node] < high)).all():
            raise ValueError(f"{cell_name} node {node} reads inputs {inputs[node].tolist()}; "
                             f"node {node} may read inputs 0..{high - 1}")
        if inputs[node, 0] == inputs[node, 1]:
            raise ValueError(f"{cell_name} node {node} reads input {inputs[node, 0]} twice; "
                             "a node's two inputs must differ")
    if not ((ops >= 0) & (ops < NUM_OPS)).all():
        raise ValueError(f"{cell_name} cell has op indices {ops.ravel().tolist()}; "
                         f"ops are 0..{NUM_OPS - 1} ({', '.join(OP_NAMES)})")
    return inputs.astype(np.int8), ops.astype(np.int8)


def from_pairs(normal: Sequence[Sequence[int]], reduce: Sequence[Sequence[int]]) -> Genotype:
    """One genotype (numpy leaves, as given) from two lists of 8 ``[input, op]`` pairs.

    This is the layout of ``nb301_val_725.json``: node ``k``'s pairs at ``2k, 2k + 1``.

    Raises:
      ValueError naming the cell and node of a bad pair.
    """
    cells = [_cell_from_pairs(pairs, name) for pairs, name in zip((normal, reduce), CELL_NAMES)]
    return Genotype(inputs=np.stack([c[0] for c in cells]), ops=np.stack([c[1] for c in cells]))


def to_pairs(genotype: Genotype) -> tuple[list[list[int]], list[list[int]]]:
    """The two lists of 8 ``[input, op]`` pairs of one genotype (inverse of :func:`from_pairs`)."""
    inputs, ops = np.asarray(genotype.inputs), np.asarray(genotype.ops)
    if inputs.shape != (NUM_CELLS, NUM_NODES, PAIRS_PER_NODE):
        raise ValueError(f"to_pairs takes one genotype, got inputs of shape {inputs.shape}")
    pairs = np.stack([inputs, ops], -1).reshape(NUM_CELLS, -1, 2)
    return pairs[NORMAL].tolist(), pairs[REDUCE].tolist()


def to_darts(genotype: Genotype) -> dict[str, list[tuple[str, int]]]:
    """One genotype in DARTS' own form: ``{"normal": [(op_name, input), ...], "reduce": ...}``
    (the lists of ``Genotype.normal`` / ``.reduce`` of DARTS and NAS-Bench-301's API)."""
    return {name: [(OP_NAMES[op], inp) for inp, op in pairs]
            for name, pairs in zip(CELL_NAMES, to_pairs(genotype))}


# ----------------------------------------------------------------------------- the space


def make_space():
    """The ``nb301`` :class:`~nasjax.spaces.base.SearchSpace` with the on-the-fly neighbours."""
    from nasjax.spaces import base, nb301_neighbours, nb301_string

    return base.SearchSpace(
        name="nb301",
        sample=sample,
        is_valid=is_valid,
        canonical=canonical,
        hash=hash_genotypes,
        num_neighbours=nb301_neighbours.num_neighbours,
        max_neighbours=nb301_neighbours.MAX_NEIGHBOURS,
        tokens=tokens,
        token_size=TOKEN_SIZE,
        choices=nb301_string.CARDINALITIES,
        encode=nb301_string.encode,
        decode=nb301_string.decode,
        mutation_rates=nb301_string.MUTATION_RATES,
        padding=padding,
        neighbourhood=nb301_neighbours.OnTheFlyGenotypes(),
        description="NAS-Bench-301 / DARTS genotypes (normal + reduction cell, ~1.1e18),",
    )
