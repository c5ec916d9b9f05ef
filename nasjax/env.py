"""The incremental NAS MDP of seed 000 (section 3.2), gymnax style, over NAS-Bench-101.

A state is an architecture; the agent sees the current cell and up to ``N`` of its
neighbours (:mod:`nasjax.spaces.nb101_neighbours`), a uniform random subset when it
has more. Action ``0`` stays and terminates the episode; action ``k`` in ``1..N``
moves to neighbour ``k``. A masked action (a padding slot) or one outside ``0..N``
is rejected: it is treated as ``0`` -- the agent stays, the episode ends, and
``info["invalid_action"]`` is True; it never moves to a padding slot. The reward
is the difference of shaped validation accuracy ``exp(alpha * acc)`` between
consecutive cells (seed section 3.2.2; ``alpha=None``: no shaping), and ``0`` on
the first step of an episode, as the seed defines it. An episode ends on "stay"
or after ``episode_length`` steps (16 in training, 32 in evaluation).

Cells are kept in the enumeration's representative form
(:func:`neighbour_table.canonical`): neighbours depend on the representation, so
this makes the MDP a function of the architecture alone. Neighbours come either
from a precomputed :class:`NeighbourTable` (fast) or are generated on the fly;
for the same keys both modes give identical episodes, observations included.

The observation's neighbour cells are built by :func:`observe` from the state;
under ``jit`` a policy that reads only the mask and rows never materialises them.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from nasjax.benchmarks import base as bench_lib
from nasjax.spaces import nb101
from nasjax.spaces.neighbour_table import NeighbourTable, canonical

MAX_NEIGHBOURS = 50  # N, neighbours presented at each step (seed section 4.1.1)
ALPHA = 6.0  # reward shaping exponent for NAS-Bench-101 (seed section 3.2.2)
TRAIN_EPISODE_LENGTH = 16  # seed section 4.1.1
EVAL_EPISODE_LENGTH = 32
REPORTS = ("test", "val")
QUERY_MODES = ("mean", "noisy")


@flax.struct.dataclass
class EnvParams:
    """Environment parameters; ``bench``/``table``/``enum_to_bench`` are arrays, the rest static.

    The reward always uses validation accuracy (the seed's signal); ``report`` picks
    the accuracy reported for evaluation.
    """

    bench: bench_lib.Benchmark  # must cover every cell an episode can reach
    table: NeighbourTable | None = None  # table mode when given
    enum_to_bench: jax.Array | None = None  # int32[K]: enumeration row -> benchmark row
    max_neighbours: int = flax.struct.field(pytree_node=False, default=MAX_NEIGHBOURS)
    alpha: float | None = flax.struct.field(pytree_node=False, default=ALPHA)
    episode_length: int = flax.struct.field(pytree_node=False, default=EVAL_EPISODE_LENGTH)
    query_mode: str = flax.struct.field(pytree_node=False, default="mean")
    report: str = flax.struct.field(pytree_node=False, default="test")


def make_params(bench: bench_lib.Benchmark, table: NeighbourTable | None = None, *,
                max_neighbours: int = MAX_NEIGHBOURS, alpha: float | None = ALPHA,
                episode_length: int = EVAL_EPISODE_LENGTH, query_mode: str = "mean",
                report: str | None = None) -> EnvParams:
    """Environment parameters with the seed's defaults (N = 50, alpha = 6, 32-step evaluation).

    Args:
      bench: the benchmark; its validation accuracy is the reward signal.
      table: the precomputed neighbour table (table mode), or None (on the fly).
      max_neighbours: N >= 1.
      alpha: reward shaping exponent, None for no shaping.
      episode_length: steps before an episode is cut (>= 1).
      query_mode: ``mean`` (the seed's reduced-noise setting) or ``noisy``.
      report: ``test`` or ``val``; default test where the benchmark has it, else val.
    Raises:
      ValueError naming the bad argument.
    """
    if report is None:
        report = "test" if bench.has_test else "val"
    if report not in REPORTS:
        raise ValueError(f"report must be 'test' or 'val', got {report!r}")
    if report == "test" and not bench.has_test:
        raise ValueError(f"benchmark {bench.name} has no test accuracy; use report='val'")
    if query_mode not in QUERY_MODES:
        raise ValueError(f"query_mode must be 'mean' or 'noisy', got {query_mode!r}")
    if int(max_neighbours) < 1:
        raise ValueError(f"max_neighbours must be >= 1, got {max_neighbours}")
    if int(episode_length) < 1:
        raise ValueError(f"episode_length must be >= 1, got {episode_length}")
    if alpha is not None:
        alpha = float(alpha)
    enum_to_bench = None if table is None else bench.lookup(table.hashes)
    return EnvParams(bench=bench, table=table, enum_to_bench=enum_to_bench,
                     max_neighbours=int(max_neighbours), alpha=alpha,
                     episode_length=int(episode_length), query_mode=query_mode, report=report)


@flax.struct.dataclass
class Observation:
    """What the agent sees."""

    cell: nb101.Cell  # Cell[...]: the current cell
    neighbours: nb101.Cell  # Cell[..., N]: presented neighbours, padding all-PAD
    action_mask: jax.Array  # bool[..., N + 1]; slot 0 (stay) always True
    rows: jax.Array  # int32[..., N + 1]: benchmark rows of cell and neighbours, -1 = padding


@flax.struct.dataclass
class EnvState:
    """The environment's state (a pytree)."""

    cell: nb101.Cell  # Cell[...]: current cell, in representative form
    rows: jax.Array  # int32[..., N + 1]: benchmark rows of cell and neighbours, -1 = padding
    enum_rows: jax.Array  # int32[..., N + 1]: enumeration rows (table mode), else -1
    neighbours: nb101.Cell | None  # Cell[..., N] as generated (on the fly); None in table mode
    action_mask: jax.Array  # bool[..., N + 1]
    acc: jax.Array  # float32[...]: validation accuracy of the current cell (reward signal)
    report_acc: jax.Array  # float32[...]: reported accuracy of the current cell
    num_neighbours: jax.Array  # int32[...]: all neighbours of the current cell (before the cap)
    t: jax.Array  # int32[...]: steps taken in this episode


def shaped_reward(acc: jax.Array, alpha: float | None) -> jax.Array:
    """The seed's reward shaping ``exp(alpha * acc)``; identity when ``alpha`` is None."""
    return acc if alpha is None else jnp.exp(alpha * acc)


# ----------------------------------------------------------------------------- presentation


def _words(seed: jax.Array, count: int) -> jax.Array:
    """uint32[count] pseudo-random words from one random word (counter-based murmur3 mix).

    Cheaper than ``count`` threefry words, which dominate a table-mode step on CPU.
    """
    z = seed + jnp.arange(count, dtype=jnp.uint32) * jnp.uint32(0x9E3779B9)
    z = (z ^ (z >> 16)) * jnp.uint32(0x85EBCA6B)
    z = (z ^ (z >> 13)) * jnp.uint32(0xC2B2AE35)
    return z ^ (z >> 16)


def _below(words: jax.Array, bound: jax.Array) -> jax.Array:
    """``floor(words * bound / 2^32)``: integers uniform in ``[0, bound)`` (bias < bound / 2^32)."""
    bound = bound.astype(jnp.uint32)
    high, low = words >> 16, words & jnp.uint32(0xFFFF)
    return ((high * bound + ((low * bound) >> 16)) >> 16).astype(jnp.int32)


def subset(seed: jax.Array, count: jax.Array, size: int, max_neighbours: int):
    """A uniform random subset of ``min(count, N)`` of the entries ``0..count-1`` of ``size``.

    Reservoir sampling (Vitter's algorithm R): slot ``s`` starts with entry ``s``;
    entry ``i >= N`` replaces slot ``r`` for ``r`` uniform in ``0..i`` when ``r < N``.
    With ``count <= N`` every entry is kept, in order.

    Args:
      seed: uint32 random word.
      count: int32, entries available (packed to the front).
      size: M, the static number of entry slots.
      max_neighbours: N.
    Returns:
      ``(int32[N] entry of each slot, bool[N] slot holds an entry)``.
    """
    n = max_neighbours
    slots = jnp.arange(n, dtype=jnp.int32)
    if size > n:
        entries = jnp.arange(n, size, dtype=jnp.int32)
        draws = _below(_words(seed, size - n), entries + 1)
        draws = jnp.where(entries < count, draws, n)  # absent entries replace nothing
        hits = draws[None, :] == slots[:, None]  # [N, M - N]
        last = jnp.max(jnp.where(hits, entries[None, :], -1), axis=-1)
        slots = jnp.where(last >= 0, last, slots)
    return slots, jnp.arange(n) < count


def _present(seed, params: EnvParams, cell: nb101.Cell, row, enum_row, acc, report, t):
    """The state at ``cell``: a random subset of its neighbours and their rows."""
    n = params.max_neighbours
    if params.table is None:
        everything, mask = nb101.all_neighbours(cell)
        count = mask.sum().astype(jnp.int32)
        chosen, valid = subset(seed, count, mask.shape[-1], n)
        neighbours = _padded(jax.tree.map(lambda x: x[chosen], everything), valid)
        # As generated; the hash does not depend on the representation.
        neighbour_rows = jnp.where(valid, params.bench.lookup(nb101.hash_cells(neighbours)), -1)
        neighbour_enum = jnp.full(n, -1, jnp.int32)
    else:
        everything, mask = params.table.neighbour_rows(enum_row)
        count = mask.sum().astype(jnp.int32)
        chosen, valid = subset(seed, count, mask.shape[-1], n)
        neighbour_enum = jnp.where(valid, everything[chosen], -1)
        neighbour_rows = jnp.where(valid, params.enum_to_bench[jnp.maximum(neighbour_enum, 0)], -1)
        neighbours = None
    return EnvState(
        cell=cell,
        rows=jnp.concatenate([row[None], neighbour_rows]).astype(jnp.int32),
        enum_rows=jnp.concatenate([enum_row[None], neighbour_enum]).astype(jnp.int32),
        neighbours=neighbours,
        action_mask=jnp.concatenate([jnp.ones(1, bool), valid]),
        acc=acc, report_acc=report, num_neighbours=count, t=t)


def _padded(cells: nb101.Cell, valid: jax.Array) -> nb101.Cell:
    """Cells with the invalid ones replaced by all-PAD padding."""
    return nb101.Cell(adj=cells.adj & valid[..., None, None],
                      ops=jnp.where(valid[..., None], cells.ops, nb101.PAD).astype(jnp.int8))


def observe(state: EnvState, params: EnvParams) -> Observation:
    """The observation of a state: neighbour cells in representative form, rebuilt from the
    table (table mode) or canonicalised here (on the fly), only where a policy reads them."""
    if params.table is None:
        neighbours = _padded(canonical(state.neighbours), state.action_mask[..., 1:])
    else:
        neighbours = params.table.cells(state.enum_rows[..., 1:])
    return Observation(cell=state.cell, neighbours=neighbours, action_mask=state.action_mask,
                       rows=state.rows)


def _accuracies(key, params: EnvParams, row):
    """(validation accuracy for the reward, reported accuracy) of a benchmark row."""
    mean = bench_lib.query_index(params.bench, row)
    reported = mean.test_acc if params.report == "test" else mean.val_acc
    if params.query_mode == "mean":
        return mean.val_acc, reported
    return bench_lib.query_index(params.bench, row, key, "noisy").val_acc, reported


def _locate(params: EnvParams, cell: nb101.Cell):
    """(representative cell, benchmark row, enumeration row or -1) of a valid cell."""
    if params.table is None:
        cell = canonical(cell)
        return cell, params.bench.lookup(nb101.hash_cells(cell)), jnp.int32(-1)
    enum_row = params.table.index_of(cell)
    row = jnp.where(enum_row >= 0, params.enum_to_bench[jnp.maximum(enum_row, 0)], -1)
    return params.table.cells(enum_row), row, enum_row


def _initial(key, params: EnvParams, initial: nb101.Cell | None):
    """The parts of a fresh episode's state, and the random word for its presentation."""
    key_cell, key_present, key_query = jax.random.split(key, 3)
    cell = nb101.sample(key_cell) if initial is None else initial
    cell, row, enum_row = _locate(params, cell)
    acc, report = _accuracies(key_query, params, row)
    return (cell, row, enum_row, acc, report, jnp.int32(0)), jax.random.bits(key_present)


def reset(key: jax.Array, params: EnvParams, initial: nb101.Cell | None = None):
    """Start an episode at ``initial`` (one valid cell) or at a cell from the seed's sampler.

    Returns ``(obs, state)`` for one environment; ``vmap`` for many.
    """
    parts, seed = _initial(key, params, initial)
    state = _present(seed, params, *parts)
    return observe(state, params), state


def _transition(key, state: EnvState, action: jax.Array, params: EnvParams):
    """Where ``action`` leads: the next state's parts, reward, done and info."""
    n = params.max_neighbours
    index = jnp.clip(action, 0, n)
    allowed = (action >= 0) & (action <= n) & state.action_mask[index]
    move = allowed & (index > 0)
    target = jnp.where(move, index, 0)
    row, enum_row = state.rows[target], state.enum_rows[target]
    if params.table is None:
        there = canonical(jax.tree.map(lambda x: x[target - 1], state.neighbours))
        cell = jax.tree.map(lambda a, b: jnp.where(move, a, b), there, state.cell)
    else:
        cell = params.table.cells(enum_row)
    acc, report = _accuracies(key, params, row)
    acc = jnp.where(move, acc, state.acc)
    report = jnp.where(move, report, state.report_acc)
    reward = shaped_reward(acc, params.alpha) - shaped_reward(state.acc, params.alpha)
    reward = jnp.where(state.t == 0, 0.0, reward).astype(jnp.float32)
    t = state.t + 1
    done = ~move | (t >= params.episode_length)
    info = {"invalid_action": ~allowed, "moved": move}
    return (cell, row, enum_row, acc, report, t), reward, done, info


def step(key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams):
    """One transition: ``(obs, state, reward, done, info)`` for one environment.

    ``info`` holds ``invalid_action`` (a masked or out-of-range action, treated as
    "stay") and ``moved``.
    """
    key_present, key_query = jax.random.split(key)
    parts, reward, done, info = _transition(key_query, state, action, params)
    next_state = _present(jax.random.bits(key_present), params, *parts)
    return observe(next_state, params), next_state, reward, done, info


def step_auto_reset(key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams):
    """:func:`step`, then a fresh episode (from the sampler) wherever it ended.

    Exactly ``step(k1, ...)`` where not done and ``reset(k2, ...)`` where done, for
    ``k1, k2 = split(key)``; the reward, done and info are the step's. Neighbours are
    presented once, for whichever state is kept.
    """
    key_step, key_reset = jax.random.split(key)
    key_present, key_query = jax.random.split(key_step)
    parts, reward, done, info = _transition(key_query, state, action, params)
    fresh, fresh_seed = _initial(key_reset, params, None)
    pick = lambda new, old: jax.tree.map(lambda a, b: jnp.where(done, a, b), new, old)
    seed = jnp.where(done, fresh_seed, jax.random.bits(key_present))
    next_state = _present(seed, params, *pick(fresh, parts))
    return observe(next_state, params), next_state, reward, done, info


def encode(cells: nb101.Cell) -> jax.Array:
    """The seed's token features of cells: float32[..., 21 + 7 * 6] (seed section 3.2.3).

    The lower-triangular half of the adjacency, flattened row by row: our
    ``adj[i, j]`` (edge ``i -> j``, ``i < j``) is read transposed, so feature
    ``(j, i)`` for ``j > i`` says "j receives from i". Then the one-hot vertex labels
    over (input, output, conv3x3, conv1x1, maxpool3x3, pad), padded to 7 vertices.
    """
    lower_rows, lower_cols = jnp.tril_indices(nb101.NUM_VERTICES, k=-1)
    adjacency = jnp.swapaxes(cells.adj, -1, -2)[..., lower_rows, lower_cols]
    labels = cells.ops[..., None] == jnp.asarray(LABELS, jnp.int8)
    flat = labels.reshape(labels.shape[:-2] + (-1,))
    return jnp.concatenate([adjacency, flat], -1).astype(jnp.float32)


LABELS = (nb101.INPUT, nb101.OUTPUT, nb101.CONV3X3, nb101.CONV1X1, nb101.MAXPOOL3X3, nb101.PAD)
ENCODING_SIZE = nb101.NUM_PAIRS + nb101.NUM_VERTICES * len(LABELS)  # 63
