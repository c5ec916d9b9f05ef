"""The string encoding of NAS-Bench-101: 26 categorical hyperparameters (ReMAADE §8).

This is the encoding of the NAS-Bench-101 paper's regularized-evolution and REINFORCE
baselines (Ying et al. 2019) and of ReMAADE's policy: every cell of the full 7-vertex
graph is written as ``N = 26`` categorical values ``a_1..a_N``:

- positions ``0..4``: the op of interior vertex ``1..5``, 3 choices each, valued with
  nb101's op codes (``CONV3X3=0``, ``CONV1X1=1``, ``MAXPOOL3X3=2``);
- positions ``5..25``: the 21 upper-triangular edges of the 7x7 matrix, in
  ``nb101.TRIU_ROWS/TRIU_COLS`` (row-major) order, 2 choices each (0 absent, 1 present).

Vertex 0 is the input and vertex 6 the output. A string is *valid* exactly when the
official ``ModelSpec`` accepts it: after pruning the vertices off every input -> output
path, input and output are connected and at most 9 edges remain. Many strings decode
to the same cell (ops of pruned vertices and their edges are free).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.spaces import nb101

NUM_OP_SLOTS = nb101.NUM_VERTICES - 2  # 5 interior vertices
NUM_HPARAMS = NUM_OP_SLOTS + nb101.NUM_PAIRS  # 26
CARDINALITIES: tuple[int, ...] = (nb101.NUM_OPS,) * NUM_OP_SLOTS + (2,) * nb101.NUM_PAIRS
MAX_CARDINALITY = max(CARDINALITIES)  # 3, the shared value vocabulary size D of ReMAADE §5
# Regularized evolution's per-position mutation probability at rate 1, as the official
# NAS-Bench-101 ``mutate_spec``: each op w.p. 1 / 5 (op spots), each edge w.p. 1 / 7 (vertices).
MUTATION_RATES: tuple[float, ...] = ((1.0 / NUM_OP_SLOTS,) * NUM_OP_SLOTS
                                     + (1.0 / nb101.NUM_VERTICES,) * nb101.NUM_PAIRS)
UNUSED_OP = nb101.CONV3X3  # op :func:`encode` writes for interior vertices a cell does not use
OUTPUT_SLOT = nb101.NUM_VERTICES - 1  # 6


def _full_cell(strings: jax.Array) -> nb101.Cell:
    """The unpruned 7-vertex cell a string spells out (every slot present)."""
    strings = jnp.asarray(strings)
    if strings.shape[-1:] != (NUM_HPARAMS,):
        raise ValueError(f"strings must have last axis {NUM_HPARAMS}, got shape {strings.shape}")
    batch = strings.shape[:-1]
    interior = strings[..., :NUM_OP_SLOTS].astype(jnp.int8)
    ops = jnp.concatenate(
        [jnp.full(batch + (1,), nb101.INPUT, jnp.int8), interior,
         jnp.full(batch + (1,), nb101.OUTPUT, jnp.int8)], axis=-1)
    edges = strings[..., NUM_OP_SLOTS:] != 0
    adj = jnp.zeros(batch + (nb101.NUM_VERTICES, nb101.NUM_VERTICES), bool)
    adj = adj.at[..., nb101.TRIU_ROWS, nb101.TRIU_COLS].set(edges)
    return nb101.Cell(adj=adj, ops=ops)


def decode(strings: jax.Array) -> tuple[nb101.Cell, jax.Array]:
    """The pruned compact cells of strings, and whether each is valid.

    Args:
      strings: int32[..., 26] with ``strings[..., i] < CARDINALITIES[i]``.
    Returns:
      ``(cells, valid)``: ``Cell[...]`` in compact pruned form (no vertices when input
      and output are disconnected) and ``bool[...]``, True exactly when the official
      ``ModelSpec`` accepts the string (connected, at most 9 edges after pruning).
    """
    cells = nb101.prune(_full_cell(strings))
    return cells, nb101.is_valid(cells)


def encode(cells: nb101.Cell) -> jax.Array:
    """The canonical string of valid compact cells.

    A compact cell with ``n`` vertices keeps vertices ``0..n-2`` in slots ``0..n-2`` and
    moves its output to slot 6; interior slots ``n-1..5`` get op :data:`UNUSED_OP` and no
    edges. ``decode(encode(c))`` is ``c`` (identical arrays, as the vertex order is kept).

    Args:
      cells: Cell[...], valid and compact (as :func:`decode` and the benchmarks return).
    Returns:
      int32[..., 26].
    """
    n = nb101.num_vertices(cells)[..., None]
    vertices = jnp.arange(nb101.NUM_VERTICES)
    slot = jnp.where(vertices == n - 1, OUTPUT_SLOT, vertices)  # [..., 7] new slot of vertex v
    move = (slot[..., :, None] == vertices) & (vertices < n)[..., :, None]  # [..., v, s]
    move = move.astype(jnp.int32)
    adj = jnp.einsum("...vs,...vw,...wt->...st", move, cells.adj.astype(jnp.int32), move) > 0
    ops = jnp.einsum("...vs,...v->...s", move, cells.ops.astype(jnp.int32))
    interior_used = jnp.einsum("...vs->...s", move)[..., 1:OUTPUT_SLOT] > 0
    interior = jnp.where(interior_used, ops[..., 1:OUTPUT_SLOT], UNUSED_OP)
    edges = adj[..., nb101.TRIU_ROWS, nb101.TRIU_COLS]
    return jnp.concatenate([interior, edges], axis=-1).astype(jnp.int32)


def valid_fraction_exact() -> float:
    """Fraction of uniformly random strings that are valid, by enumerating all 2^21 edge sets.

    Validity does not depend on the ops, so this is the fraction of the 2^21 upper-triangular
    7x7 matrices whose pruned graph connects input to output with at most 9 edges.
    """
    return float(valid_edge_sets(np.arange(1 << nb101.NUM_PAIRS, dtype=np.uint32)).mean())


def valid_edge_sets(codes: np.ndarray) -> np.ndarray:
    """bool[...]: whether strings with these edges are valid, whatever their ops (host side).

    Args:
      codes: uint32[...], edge sets packed in :func:`nb101.pack_adjacency` bit order.
    Returns:
      True where the output is reachable from the input and at most ``nb101.MAX_EDGES`` edges
      lie on input -> output paths: those pruning keeps (an edge ``u -> v`` with ``u``
      reachable from the input and ``v`` reaching the output lies on such a path).
    """
    codes = np.asarray(codes, np.uint32)
    vertices = nb101.NUM_VERTICES
    edge = {(int(u), int(v)): ((codes >> np.uint32(bit)) & np.uint32(1)).astype(bool)
            for bit, (u, v) in enumerate(zip(nb101.TRIU_ROWS, nb101.TRIU_COLS))}
    everywhere = np.ones(codes.shape, bool)
    from_input = [everywhere]
    for v in range(1, vertices):
        from_input.append(np.logical_or.reduce([from_input[u] & edge[u, v] for u in range(v)]))
    to_output = {vertices - 1: everywhere}
    for u in range(vertices - 2, -1, -1):
        to_output[u] = np.logical_or.reduce([edge[u, v] & to_output[v]
                                             for v in range(u + 1, vertices)])
    kept = sum((on & from_input[u] & to_output[v]).astype(np.int32)
               for (u, v), on in edge.items())
    return from_input[-1] & (kept <= nb101.MAX_EDGES)
