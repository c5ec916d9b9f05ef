"""The NAS-Bench-101 cell space as pure, jittable functions over padded arrays.

A cell is stored in the compact pruned form of the official data set: vertices
``0..n-1`` in topological order, the input at 0, the output at ``n-1``, slots
``n..6`` padded (``PAD`` op, no edges). ``adj`` is strictly upper-triangular.
Op codes are those of the official data files: ``CONV3X3=0``, ``CONV1X1=1``,
``MAXPOOL3X3=2``, ``INPUT=-1``, ``OUTPUT=-2``, ``PAD=-3``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from nasjax.spaces import graph

NUM_VERTICES = 7  # at most 7 vertices, input and output included
MAX_EDGES = 9  # at most 9 edges
CONV3X3, CONV1X1, MAXPOOL3X3 = 0, 1, 2
INPUT, OUTPUT, PAD = -1, -2, -3
OP_NAMES = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
NUM_OPS = len(OP_NAMES)
INPUT_NAME, OUTPUT_NAME = "input", "output"
NUM_CELLS = 423_624  # valid cells up to isomorphism (Ying et al. 2019)

# Upper-triangular vertex pairs (i < j) in row-major order: bit k of a packed adjacency.
TRIU_ROWS, TRIU_COLS = np.triu_indices(NUM_VERTICES, k=1)
NUM_PAIRS = len(TRIU_ROWS)  # 21


@flax.struct.dataclass
class Cell:
    """A batch of NAS-Bench-101 cells in compact pruned form."""

    adj: jax.Array  # bool[..., 7, 7], adj[i, j]: edge i -> j, strictly upper-triangular
    ops: jax.Array  # int8[..., 7], op codes; INPUT at 0, OUTPUT at n-1, PAD after

    @property
    def shape(self) -> tuple[int, ...]:
        """Batch shape."""
        return self.ops.shape[:-1]

    def __getitem__(self, index) -> Cell:
        return Cell(adj=self.adj[index], ops=self.ops[index])


def vertex_mask(cells: Cell) -> jax.Array:
    """bool[..., 7]: which vertex slots hold a vertex."""
    return cells.ops != PAD


def num_vertices(cells: Cell) -> jax.Array:
    """int32[...]: number of vertices (input and output included)."""
    return vertex_mask(cells).sum(-1).astype(jnp.int32)


def num_edges(cells: Cell) -> jax.Array:
    """int32[...]: number of edges."""
    return cells.adj.sum((-2, -1)).astype(jnp.int32)


def _xp(array):
    return np if isinstance(array, np.ndarray) else jnp


def pack_adjacency(adj) -> np.ndarray | jax.Array:
    """Pack ``bool[..., 7, 7]`` upper-triangular adjacency into ``uint32[...]`` (bit k = pair k)."""
    xp = _xp(adj)
    bits = adj[..., TRIU_ROWS, TRIU_COLS].astype(xp.uint32)
    weights = xp.asarray(1 << np.arange(NUM_PAIRS), dtype=xp.uint32)
    return (bits * weights).sum(-1, dtype=xp.uint32)


def unpack_adjacency(packed) -> np.ndarray | jax.Array:
    """Inverse of :func:`pack_adjacency`: ``uint32[...]`` to ``bool[..., 7, 7]``."""
    xp = _xp(packed)
    bits = ((packed[..., None] >> xp.arange(NUM_PAIRS, dtype=xp.uint32)) & 1).astype(bool)
    adj = xp.zeros(packed.shape + (NUM_VERTICES, NUM_VERTICES), dtype=bool)
    if xp is np:
        adj[..., TRIU_ROWS, TRIU_COLS] = bits
        return adj
    return adj.at[..., TRIU_ROWS, TRIU_COLS].set(bits)


def prune(cells: Cell) -> Cell:
    """Drop every vertex that is not on an input -> output path, as the official ModelSpec does.

    The input is vertex 0 and the output the last present vertex. When input and
    output are disconnected nothing is kept: the result has no vertices and
    :func:`is_valid` is False for it.
    """
    keep_slot = vertex_mask(cells)
    adj = cells.adj & keep_slot[..., :, None] & keep_slot[..., None, :]
    n = keep_slot.sum(-1)
    sink = jnp.maximum(n - 1, 0)
    keep = graph.on_path(adj, jnp.zeros_like(sink), sink) & keep_slot
    adj, ops = graph.compact(adj, cells.ops, keep, PAD)
    return Cell(adj=adj, ops=ops.astype(jnp.int8))


def ops_in_place(ops: jax.Array) -> tuple[jax.Array, jax.Array, list[jax.Array]]:
    """The op rules of :func:`is_valid`, for ``ops: int32[B, 7]``: input at 0, output at
    ``n-1``, ops in the vocabulary between them, padding after, at least 2 vertices.

    Returns:
      ``(ok bool[B], n int32[B] vertices, here: 7 x bool[B] slot v is not padding)``.
    """
    i32, and_, or_ = np.int32, lax.bitwise_and, lax.bitwise_or  # lax, as in is_valid
    column = [ops[:, v] for v in range(NUM_VERTICES)]
    here = [lax.ne(op, i32(PAD)) for op in column]
    n = functools.reduce(lax.add, [lax.convert_element_type(p, jnp.int32) for p in here])
    last = lax.sub(n, i32(1))
    ok = and_(lax.ge(n, i32(2)), lax.eq(column[0], i32(INPUT)))
    for v, op in enumerate(column):
        # Padding only after the present vertices; the output at the last one.
        ok = and_(ok, lax.eq(here[v], lax.gt(n, i32(v))))
        ok = and_(ok, or_(lax.ne(last, i32(v)), lax.eq(op, i32(OUTPUT))))
        if v > 0:  # ops of the vocabulary between them
            in_vocabulary = and_(lax.ge(op, i32(0)), lax.lt(op, i32(NUM_OPS)))
            ok = and_(ok, or_(lax.le(last, i32(v)), in_vocabulary))
    return ok, n, here


def is_valid(cells: Cell) -> jax.Array:
    """bool[...]: a valid cell in compact pruned form.

    Input at 0, output at ``n-1``, ops in the vocabulary between them, padding
    after, at least 2 vertices, at most 9 edges, strictly upper-triangular, and
    every vertex on an input -> output path (in a DAG this holds exactly when every
    vertex but the input has an in-edge and every vertex but the output an out-edge).
    """
    # Unrolled over vertices and vertex pairs, each term a [B] vector (as graph.wl_hash):
    # elementwise XLA code, 4x faster than reductions over the small trailing axes. In lax
    # primitives, which trace in a third of the time of jnp's operators.
    v_max = NUM_VERTICES
    and_, or_, not_ = lax.bitwise_and, lax.bitwise_or, lax.bitwise_not
    adj = cells.adj.reshape(-1, v_max, v_max)
    ok, n, here = ops_in_place(cells.ops.reshape(-1, v_max).astype(jnp.int32))
    edge = {(u, w): adj[:, u, w] for u in range(v_max) for w in range(v_max)}
    for (u, w), e in edge.items():
        # Strictly upper-triangular, and edges only between present vertices.
        ok = and_(ok, not_(e) if w <= u else or_(not_(e), and_(here[u], here[w])))
    last = lax.sub(n, np.int32(1))
    for v in range(v_max):
        # Every present vertex but the input has an in-edge, every one but the output an
        # out-edge.
        if v > 0:
            has_in = functools.reduce(or_, [edge[u, v] for u in range(v)])
            ok = and_(ok, or_(not_(here[v]), has_in))
        at_output = or_(not_(here[v]), lax.eq(last, np.int32(v)))
        if v < v_max - 1:
            at_output = or_(at_output, functools.reduce(or_, [edge[v, w]
                                                              for w in range(v + 1, v_max)]))
        ok = and_(ok, at_output)
    edges = functools.reduce(lax.add, [lax.convert_element_type(edge[u, w], jnp.int32)
                                       for u in range(v_max) for w in range(u + 1, v_max)])
    ok = and_(ok, lax.le(edges, np.int32(MAX_EDGES)))
    return ok.reshape(cells.ops.shape[:-1])


def hash_cells(cells: Cell) -> jax.Array:
    """uint32[..., 2]: isomorphism-invariant 64-bit hash (see :func:`graph.wl_hash`).

    Equal for isomorphic cells; it refines vertices exactly as the official module
    hash does, so its equivalence classes are the official ones.
    """
    return graph.wl_hash(cells.adj, cells.ops, vertex_mask(cells))


# ----------------------------------------------------------------------------- host side


def _check_official(matrix, ops: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Validate an official (matrix, ops) spec; return (int matrix, op codes)."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"adjacency matrix must be square, got shape {matrix.shape}")
    n = matrix.shape[0]
    if n > NUM_VERTICES:
        raise ValueError(f"cell has {n} vertices, NAS-Bench-101 allows at most {NUM_VERTICES}")
    if n < 2:
        raise ValueError(f"cell has {n} vertices, it needs at least an input and an output")
    if not np.isin(matrix, (0, 1)).all():
        raise ValueError("adjacency matrix entries must be 0 or 1")
    matrix = matrix.astype(np.int64)
    ops = list(ops)
    if len(ops) != n:
        raise ValueError(f"{len(ops)} ops given for a {n}x{n} adjacency matrix")
    if ops[0] != INPUT_NAME or ops[-1] != OUTPUT_NAME:
        raise ValueError(f"first op must be 'input' and last 'output', got {ops[0]!r}, {ops[-1]!r}")
    codes = [INPUT]
    for op in ops[1:-1]:
        if op not in OP_NAMES:
            raise ValueError(f"unknown op {op!r}; NAS-Bench-101 ops are {', '.join(OP_NAMES)}")
        codes.append(OP_NAMES.index(op))
    codes.append(OUTPUT)
    if np.trace(matrix) or _has_cycle(matrix):
        raise ValueError("adjacency matrix is cyclic; a cell must be a DAG")
    if np.tril(matrix).any():
        raise ValueError("adjacency matrix must be upper-triangular (vertices in topological "
                         "order)")
    return matrix, np.asarray(codes, dtype=np.int8)


def _has_cycle(matrix: np.ndarray) -> bool:
    reach = matrix.astype(bool)
    for _ in range(matrix.shape[0]):
        reach = reach | ((reach.astype(int) @ reach.astype(int)) > 0)
    return bool(np.diag(reach).any())


def _prune_official(matrix: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Host-side pruning of an n x n spec; raises when input and output are disconnected."""
    n = matrix.shape[0]
    reach = matrix.astype(bool) | np.eye(n, dtype=bool)
    for _ in range(n):
        reach = reach | ((reach.astype(int) @ reach.astype(int)) > 0)
    keep = reach[0] & reach[:, n - 1]
    if not keep[n - 1]:
        raise ValueError("input and output are disconnected: no input -> output path")
    return matrix[np.ix_(keep, keep)], codes[keep]


def from_official(matrix, ops: Sequence[str]) -> Cell:
    """A cell from an official ``(matrix, ops)`` spec, pruned like the official ``ModelSpec``.

    Args:
      matrix: n x n 0/1 upper-triangular adjacency, n <= 7.
      ops: n op names, ``'input'`` first, ``'output'`` last.
    Raises:
      ValueError naming the problem: not square, cyclic, more than 7 vertices,
      more than 9 edges after pruning, unknown op, or input and output disconnected.
    """
    matrix, codes = _check_official(matrix, ops)
    matrix, codes = _prune_official(matrix, codes)
    if matrix.sum() > MAX_EDGES:
        raise ValueError(
            f"cell has {int(matrix.sum())} edges after pruning, at most {MAX_EDGES} allowed"
        )
    n = matrix.shape[0]
    adj = np.zeros((NUM_VERTICES, NUM_VERTICES), dtype=bool)
    adj[:n, :n] = matrix.astype(bool)
    padded = np.full(NUM_VERTICES, PAD, dtype=np.int8)
    padded[:n] = codes
    return Cell(adj=jnp.asarray(adj), ops=jnp.asarray(padded))


def to_official(cell: Cell) -> tuple[np.ndarray, list[str]]:
    """The official ``(matrix, ops)`` spec of one cell: ``int[n, n]`` and n op names."""
    ops = np.asarray(cell.ops)
    adj = np.asarray(cell.adj)
    if ops.ndim != 1:
        raise ValueError(f"to_official takes one cell, got batch shape {ops.shape[:-1]}")
    n = int((ops != PAD).sum())
    names = {INPUT: INPUT_NAME, OUTPUT: OUTPUT_NAME, **dict(enumerate(OP_NAMES))}
    return adj[:n, :n].astype(np.int64), [names[int(code)] for code in ops[:n]]


def official_hash(matrix, ops: Sequence[str]) -> str:
    """The official NAS-Bench-101 md5 module hash of a spec (pruned first), in plain Python."""
    matrix, codes = _check_official(matrix, ops)
    matrix, codes = _prune_official(matrix, codes)
    return _md5_module_hash(matrix, codes.tolist())


def _md5_module_hash(matrix: np.ndarray, labels: list[int]) -> str:
    """``hash_module`` of the official ``graph_util``: md5 Weisfeiler-Lehman over (out, in,
    label)."""
    n = matrix.shape[0]
    in_degree = matrix.sum(0).tolist()
    out_degree = matrix.sum(1).tolist()
    hashes = [
        hashlib.md5(str(h).encode("utf-8")).hexdigest()
        for h in zip(out_degree, in_degree, labels)
    ]
    preds = [[w for w in range(n) if matrix[w, v]] for v in range(n)]
    succs = [[w for w in range(n) if matrix[v, w]] for v in range(n)]
    for _ in range(n):
        hashes = [
            hashlib.md5(
                (
                    "".join(sorted(hashes[w] for w in preds[v]))
                    + "|"
                    + "".join(sorted(hashes[w] for w in succs[v]))
                    + "|"
                    + hashes[v]
                ).encode("utf-8")
            ).hexdigest()
            for v in range(n)
        ]
    return hashlib.md5(str(sorted(hashes)).encode("utf-8")).hexdigest()


def official_hash_of_cell(cell: Cell) -> str:
    """The official md5 module hash of one (already pruned) cell."""
    matrix, names = to_official(cell)
    return official_hash(matrix, names)


# ----------------------------------------------------------------------------- sampler


@functools.lru_cache(maxsize=1)
def _sampler_tables() -> tuple[np.ndarray, np.ndarray]:
    """Packed valid adjacencies of each vertex count, and where each count starts/ends."""
    per_count = [_valid_adjacencies(n) for n in range(2, NUM_VERTICES + 1)]
    bounds = np.cumsum([0] + [len(a) for a in per_count])
    return np.concatenate(per_count), bounds


@functools.lru_cache(maxsize=1)
def _label_starts() -> np.ndarray:
    """int64[A + 1]: where the labellings of each sampler adjacency start in
    :func:`sampler_index` order (an n-vertex adjacency has 3^(n-2) labellings)."""
    table, bounds = _sampler_tables()
    sizes = np.zeros(len(table), np.int64)
    for n in range(2, NUM_VERTICES + 1):
        sizes[bounds[n - 2]:bounds[n - 1]] = NUM_OPS ** (n - 2)
    return np.concatenate([[0], np.cumsum(sizes)])


def sampler_draws(key: jax.Array, shape: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    """The draws of :func:`sample`: ``(int32[...] adjacency row of the sampler table, int8[..., 7]
    ops with input, output and padding in place)``."""
    table, bounds = _sampler_tables()
    key_n, key_adj, key_ops = jax.random.split(key, 3)
    n = jax.random.randint(key_n, shape, 2, NUM_VERTICES + 1)
    low, high = jnp.asarray(bounds[:-1])[n - 2], jnp.asarray(bounds[1:])[n - 2]
    row = jax.random.randint(key_adj, shape, low, high)
    slots = jnp.arange(NUM_VERTICES)
    ops = jax.random.randint(key_ops, shape + (NUM_VERTICES,), 0, NUM_OPS)
    n = n[..., None]
    ops = jnp.where(slots == 0, INPUT, jnp.where(slots == n - 1, OUTPUT, ops))
    return row, jnp.where(slots >= n, PAD, ops).astype(jnp.int8)


@jax.jit(static_argnames="shape")
def sample(key: jax.Array, shape: tuple[int, ...] = ()) -> Cell:
    """Cells from Cassimon et al.'s sampler (Cassimon et al. §3.2.3).

    The vertex count n is uniform over 2..7; then adjacency (each upper-triangular
    pair of the n vertices an edge with probability 1/2) and op labels are drawn
    until the cell is valid with exactly n vertices (no pruning needed). That
    rejection loop accepts uniformly among the valid labelled n-vertex cells, so we
    draw from that set directly: a uniform valid n-vertex adjacency from a table,
    then uniform ops -- the same distribution, without a loop that accepts 0.2% of
    7-vertex draws. Deterministic given ``key``; returns a batch of ``shape``.
    """
    row, ops = sampler_draws(key, shape)
    return Cell(adj=unpack_adjacency(jnp.asarray(_sampler_tables()[0])[row]), ops=ops)


def sampler_index(row: jax.Array, ops: jax.Array) -> jax.Array:
    """int32[...]: the index of a draw of :func:`sample` among every labelled cell the sampler
    can draw (``row`` and ``ops`` of :func:`sampler_draws`): its adjacency's first labelling
    plus the interior ops read as a base-3 number."""
    interior = jnp.clip(ops[..., 1:NUM_VERTICES - 1].astype(jnp.int32), 0, NUM_OPS - 1)
    place = jnp.asarray(NUM_OPS ** np.arange(NUM_VERTICES - 2), jnp.int32)
    used = ops[..., 2:NUM_VERTICES] != PAD  # interior slot v is an op when slot v + 1 is present
    digits = (jnp.where(used, interior, 0) * place).sum(-1)
    return jnp.asarray(_label_starts()[:-1], jnp.int32)[row] + digits


def num_sampler_cells() -> int:
    """How many labelled cells the sampler can draw (1,293,208)."""
    return int(_label_starts()[-1])


def sampler_cells() -> Cell:
    """Every labelled cell the sampler can draw, in :func:`sampler_index` order (host side,
    NumPy): 1,293,208 cells."""
    table, bounds = _sampler_tables()
    adjacency, labels = [], []
    for n in range(2, NUM_VERTICES + 1):
        codes = table[bounds[n - 2]:bounds[n - 1]]
        # base-3 labellings, slot 1 the fastest digit
        count = NUM_OPS ** (n - 2)
        digits = (np.arange(count)[:, None] // NUM_OPS ** np.arange(n - 2)) % NUM_OPS
        ops = np.full((len(digits), NUM_VERTICES), PAD, np.int8)
        ops[:, 0], ops[:, n - 1] = INPUT, OUTPUT
        ops[:, 1:n - 1] = digits
        adjacency.append(np.repeat(codes, len(digits)))
        labels.append(np.tile(ops, (len(codes), 1)))
    return Cell(adj=unpack_adjacency(np.concatenate(adjacency)), ops=np.concatenate(labels))


def index_of(table: jax.Array, cells: Cell) -> jax.Array:
    """int32[...]: row of each cell in a hash-sorted table (e.g. the enumeration), -1 if absent.

    Args:
      table: uint32[K, 2], the sorted hashes of the table's cells
        (``space_hashes()`` for the enumeration).
      cells: Cell[...].
    """
    return graph.sorted_lookup(table, hash_cells(cells))


# ----------------------------------------------------------------------------- enumeration

SPACE_FILE = "nb101_space_v2.npz"  # bump the version when the hash or the order changes
_CHUNK = 1 << 16


def _valid_adjacencies(n: int) -> np.ndarray:
    """uint32[A]: packed adjacencies of n-vertex DAGs needing no pruning, with <= 9 edges, in
    ascending order of their bits over the pairs of the first n vertices."""
    pairs = np.flatnonzero(TRIU_COLS < n)  # pair indices inside the first n vertices
    codes = np.arange(1 << len(pairs), dtype=np.uint32)  # bit i: the edge of pairs[i]

    def any_edge(chosen: np.ndarray) -> np.ndarray:  # bool[2^len(pairs)]: an edge among them
        mask = np.uint32(sum(1 << i for i in np.flatnonzero(chosen)))
        return (codes & mask) != 0

    keep = _popcount(codes) <= MAX_EDGES
    for v in range(n):
        if v > 0:
            keep &= any_edge(TRIU_COLS[pairs] == v)  # an in-edge
        if v < n - 1:
            keep &= any_edge(TRIU_ROWS[pairs] == v)  # an out-edge
    kept = codes[keep]
    packed = np.zeros(len(kept), np.uint32)
    for i, pair in enumerate(pairs):
        packed |= ((kept >> np.uint32(i)) & np.uint32(1)) << np.uint32(pair)
    return packed


def _popcount(x: np.ndarray) -> np.ndarray:
    """uint32[...]: the set bits of each uint32 (NumPy < 2 has no ``bitwise_count``)."""
    x = x - ((x >> np.uint32(1)) & np.uint32(0x55555555))
    x = (x & np.uint32(0x33333333)) + ((x >> np.uint32(2)) & np.uint32(0x33333333))
    x = (x + (x >> np.uint32(4))) & np.uint32(0x0F0F0F0F)
    return (x * np.uint32(0x01010101)) >> np.uint32(24)


def _labelings(n: int) -> np.ndarray:
    """int8[L, 7]: every op labelling of n vertices (interior ops in row-major product order)."""
    interior = np.indices((NUM_OPS,) * (n - 2)).reshape(n - 2, NUM_OPS ** (n - 2)).T
    ops = np.full((len(interior), NUM_VERTICES), PAD, dtype=np.int8)
    ops[:, 0], ops[:, n - 1] = INPUT, OUTPUT
    ops[:, 1 : n - 1] = interior
    return ops


_hash_jit = jax.jit(hash_cells)


def _hash_packed(packed: np.ndarray, ops: np.ndarray) -> np.ndarray:
    """Host helper: uint64 hashes of packed cells, in fixed-size jitted chunks."""
    out = np.empty(len(packed), dtype=np.uint64)
    for start in range(0, len(packed), _CHUNK):
        stop = min(start + _CHUNK, len(packed))
        pad = _CHUNK - (stop - start)
        chunk_adj = unpack_adjacency(np.pad(packed[start:stop], (0, pad)))
        chunk_ops = np.pad(ops[start:stop], ((0, pad), (0, 0)), constant_values=PAD)
        hashes = np.asarray(_hash_jit(Cell(adj=jnp.asarray(chunk_adj), ops=jnp.asarray(chunk_ops))))
        out[start:stop] = graph.hash_to_uint64(hashes[: stop - start])
    return out


def build_enumeration(progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Enumerate the space from scratch (see :func:`enumerate_cells`).

    Returns:
      ``(adj_packed uint32[K], ops int8[K, 7], hashes uint32[K, 2])`` sorted by hash.
    """
    from tqdm.auto import tqdm

    all_packed, all_ops, all_hashes = [], [], []
    jobs = [(n, _valid_adjacencies(n), _labelings(n)) for n in range(2, NUM_VERTICES + 1)]
    total = sum(len(adjs) * len(labels) for _, adjs, labels in jobs)
    with tqdm(total=total, desc="enumerating NAS-Bench-101", unit="cell",
              disable=not progress) as bar:
        for n, adjacencies, labelings in jobs:
            # Candidates in a fixed order: adjacency code, then labelling.
            packed = np.repeat(adjacencies, len(labelings))
            ops = np.tile(labelings, (len(adjacencies), 1))
            hashes = np.empty(len(packed), dtype=np.uint64)
            for start in range(0, len(packed), 16 * _CHUNK):
                stop = min(start + 16 * _CHUNK, len(packed))
                hashes[start:stop] = _hash_packed(packed[start:stop], ops[start:stop])
                bar.update(stop - start)
            _, first = np.unique(hashes, return_index=True)
            all_packed.append(packed[first])
            all_ops.append(ops[first])
            all_hashes.append(hashes[first])
    packed, ops, hashes = map(np.concatenate, (all_packed, all_ops, all_hashes))
    order = np.argsort(hashes, kind="stable")
    hashes = hashes[order]
    if len(np.unique(hashes)) != len(hashes):
        raise RuntimeError("64-bit hash collision between cells with different vertex counts")
    lanes = np.stack([(hashes >> np.uint64(32)), hashes & np.uint64(0xFFFFFFFF)], -1)
    return packed[order], ops[order], lanes.astype(np.uint32)


def _space_path(data_dir=None):
    from nasjax.paths import data_dir as default_dir

    return default_dir(data_dir) / SPACE_FILE


def load_enumeration(data_dir=None,
                     progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cached enumeration ``(adj_packed, ops, hashes)``, built and cached when missing or
    when it fails its checksum (with a warning)."""
    from nasjax import paths

    path = _space_path(data_dir)
    remake = (f"python -m nasjax.launch.prepare_data --benchmark=nb101-space "
              f"--data_dir={path.parent}")
    if paths.cached(path, remake):
        try:
            with np.load(path) as data:
                packed, ops, hashes = data["adj_packed"], data["ops"], data["hashes"]
        except Exception as error:  # corrupt or foreign file: say which and how to fix
            raise ValueError(f"cannot read the NAS-Bench-101 space cache {path}: {error}; "
                             "delete it and it will be rebuilt") from error
        if len(ops) != NUM_CELLS or hashes.shape != (NUM_CELLS, 2):
            raise ValueError(f"space cache {path} holds {len(ops)} cells, expected {NUM_CELLS}; "
                             "delete it and it will be rebuilt")
        return packed, ops, hashes
    packed, ops, hashes = build_enumeration(progress)
    with paths.verified_write(path) as handle:
        np.savez_compressed(handle, adj_packed=packed, ops=ops, hashes=hashes)
    return packed, ops, hashes


def enumerate_cells(data_dir=None, progress: bool = True) -> Cell:
    """Every valid NAS-Bench-101 cell exactly once: ``Cell[423624]``.

    Order: ascending 64-bit :func:`hash_cells` value (lane 0, then lane 1), so that
    :func:`index_of` is a binary search. Each isomorphism class is represented by
    its first member in the order (vertex count, packed adjacency, op labelling).
    Cached under the data directory (``$NASJAX_DATA``, default ``~/.cache/nasjax``)
    and built, with a progress bar, when missing.
    """
    packed, ops, _ = load_enumeration(data_dir, progress)
    return Cell(adj=jnp.asarray(unpack_adjacency(packed)), ops=jnp.asarray(ops))


def space_hashes(data_dir=None, progress: bool = True) -> jax.Array:
    """uint32[423624, 2]: the sorted hashes of :func:`enumerate_cells`, the table of
    :func:`index_of`."""
    return jnp.asarray(load_enumeration(data_dir, progress)[2])


def prepare(source=None, data_dir=None, progress: bool = True) -> dict:
    """``launch.prepare_data --benchmark=nb101-space``: enumerate (or read) the cached space;
    returns cells per vertex count and the edge histogram."""
    import time

    del source
    start = time.perf_counter()
    cells = enumerate_cells(data_dir, progress=progress)
    vertices = np.bincount(np.asarray(num_vertices(cells)), minlength=NUM_VERTICES + 1)
    edges = np.bincount(np.asarray(num_edges(cells)), minlength=MAX_EDGES + 1)
    return {
        "benchmark": "nb101-space",
        "cells": int(cells.shape[0]),
        "cells_per_vertex_count": {str(n): int(vertices[n]) for n in range(2, NUM_VERTICES + 1)},
        "cells_per_edge_count": {str(e): int(edges[e]) for e in range(len(edges))},
        "seconds": round(time.perf_counter() - start, 1),
        "file": str(_space_path(data_dir)),
    }
