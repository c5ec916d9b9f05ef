"""The incremental NAS MDP of seed 000 (section 3.2), gymnax style, over NAS-Bench-101.

A state is a cell; the agent sees the cell and up to ``N`` of its neighbours
(:mod:`nasjax.spaces.nb101_neighbours`). Action ``0`` stays and terminates the
episode; action ``k`` in ``1..N`` moves to neighbour ``k``. A masked action (a
padded slot, or out of range) is rejected by treating it as ``0``: the agent stays,
the episode ends, and ``info["invalid_action"]`` is True -- it never moves to a
padded cell. The reward is the difference of shaped accuracy
``exp(alpha * acc)`` between consecutive cells (seed section 3.2.2; ``alpha=None``
means no shaping), and ``0`` on the first step of an episode, as the seed defines
it. Episodes end on "stay" or after ``episode_length`` steps.

Two equivalent ways to find neighbours: on the fly (:func:`nb101.all_neighbours`),
or, for speed, through a precomputed :class:`NeighbourTable`; for the same keys
both give identical episodes.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from nasjax.benchmarks import base as bench_lib
from nasjax.spaces import nb101
from nasjax.spaces.neighbour_table import NeighbourTable
from nasjax.spaces.nb101_neighbours import subset


@flax.struct.dataclass
class EnvParams:
    """Environment parameters; ``bench``/``table``/``enum_to_bench`` are arrays, the rest static."""

    bench: bench_lib.Benchmark  # must cover every cell an episode can reach
    table: NeighbourTable | None = None  # table mode when given
    enum_to_bench: jax.Array | None = None  # int32[K]: enumeration row -> benchmark row
    max_neighbours: int = flax.struct.field(pytree_node=False, default=50)  # N
    alpha: float | None = flax.struct.field(pytree_node=False, default=6.0)  # reward shaping
    episode_length: int = flax.struct.field(pytree_node=False, default=32)
    query_mode: str = flax.struct.field(pytree_node=False, default="mean")
    report: str = flax.struct.field(pytree_node=False, default="test")  # or "val"


def make_params(bench: bench_lib.Benchmark, table: NeighbourTable | None = None, *,
                max_neighbours: int = 50, alpha: float | None = 6.0, episode_length: int = 32,
                query_mode: str = "mean", report: str | None = None) -> EnvParams:
    """Environment parameters with the seed's defaults (N = 50, alpha = 6, 32-step evaluation).

    ``report`` defaults to test accuracy where the benchmark has it, else validation.
    """
    if report is None:
        report = "test" if bench.has_test else "val"
    if report not in ("test", "val"):
        raise ValueError(f"report must be 'test' or 'val', got {report!r}")
    if query_mode not in ("mean", "noisy"):
        raise ValueError(f"query_mode must be 'mean' or 'noisy', got {query_mode!r}")
    enum_to_bench = None
    if table is not None:
        enum_to_bench = bench.lookup(table.hashes)
    return EnvParams(bench=bench, table=table, enum_to_bench=enum_to_bench,
                     max_neighbours=max_neighbours, alpha=alpha, episode_length=episode_length,
                     query_mode=query_mode, report=report)


@flax.struct.dataclass
class Observation:
    """What the agent sees."""

    cell: nb101.Cell  # Cell[...]: the current cell
    neighbours: nb101.Cell  # Cell[..., N], padding all-PAD
    action_mask: jax.Array  # bool[..., N + 1]; slot 0 (stay) always True
    rows: jax.Array  # int32[..., N + 1]: benchmark rows of cell and neighbours, -1 = none


@flax.struct.dataclass
class EnvState:
    """The environment's state (a pytree)."""

    obs: Observation
    enum_rows: jax.Array  # int32[..., N + 1]: enumeration rows (table mode), else -1
    acc: jax.Array  # float32[...]: validation accuracy of the current cell (reward signal)
    report_acc: jax.Array  # float32[...]: reported accuracy of the current cell
    num_neighbours: jax.Array  # int32[...]: all neighbours of the current cell (before the N cap)
    t: jax.Array  # int32[...]: steps taken in this episode


def shaped_reward(acc: jax.Array, alpha: float | None) -> jax.Array:
    """The seed's reward shaping ``exp(alpha * acc)``; identity when ``alpha`` is None."""
    return acc if alpha is None else jnp.exp(alpha * acc)


def _present(key, params: EnvParams, cell: nb101.Cell, enum_row):
    """Observation of a cell: its neighbours (a random subset of N) and their rows."""
    n = params.max_neighbours
    if params.table is None:
        everything, mask = nb101.all_neighbours(cell)
        chosen, valid = subset(key, mask, n)
        picked = jax.tree.map(lambda x: x[chosen], everything)
        neighbours = nb101.Cell(adj=picked.adj & valid[:, None, None],
                                ops=jnp.where(valid[:, None], picked.ops, nb101.PAD).astype(jnp.int8))
        hashes = nb101.hash_cells(nb101.Cell(
            adj=jnp.concatenate([cell.adj[None], neighbours.adj]),
            ops=jnp.concatenate([cell.ops[None], neighbours.ops])))
        rows = params.bench.lookup(hashes)
        enum_rows = jnp.full(n + 1, -1, jnp.int32)
    else:
        all_rows, mask = params.table.neighbour_rows(enum_row)
        chosen, valid = subset(key, mask, n)
        neighbour_rows = jnp.where(valid, all_rows[chosen], -1)
        neighbours = params.table.cells(neighbour_rows)
        enum_rows = jnp.concatenate([enum_row[None], neighbour_rows]).astype(jnp.int32)
        rows = jnp.where(enum_rows >= 0, params.enum_to_bench[jnp.maximum(enum_rows, 0)], -1)
    action_mask = jnp.concatenate([jnp.ones(1, bool), valid])
    rows = jnp.where(action_mask, rows, -1).astype(jnp.int32)
    obs = Observation(cell=cell, neighbours=neighbours, action_mask=action_mask, rows=rows)
    return obs, enum_rows, mask.sum().astype(jnp.int32)


def _accuracies(key, params: EnvParams, row):
    metrics = bench_lib.query_index(params.bench, row, key, params.query_mode)
    mean = metrics if params.query_mode == "mean" else bench_lib.query_index(params.bench, row)
    report = mean.test_acc if params.report == "test" else mean.val_acc
    return metrics.val_acc, report


def reset(key: jax.Array, params: EnvParams, initial: nb101.Cell | None = None):
    """Start an episode at ``initial`` (one cell) or at a cell from the seed's sampler.

    Returns ``(obs, state)`` for one environment; ``vmap`` for many.
    """
    key_cell, key_present, key_query = jax.random.split(key, 3)
    cell = nb101.sample(key_cell) if initial is None else initial
    enum_row = (jnp.int32(-1) if params.table is None
                else nb101.index_of(params.table.hashes, cell))
    obs, enum_rows, count = _present(key_present, params, cell, enum_row)
    acc, report = _accuracies(key_query, params, obs.rows[0])
    state = EnvState(obs=obs, enum_rows=enum_rows, acc=acc, report_acc=report,
                     num_neighbours=count, t=jnp.int32(0))
    return obs, state


def step(key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams):
    """One transition: ``(obs, state, reward, done, info)`` for one environment."""
    key_present, key_query = jax.random.split(key)
    n = params.max_neighbours
    obs = state.obs
    in_range = (action >= 0) & (action <= n)
    allowed = in_range & obs.action_mask[jnp.clip(action, 0, n)]
    move = allowed & (action > 0)
    index = jnp.clip(action - 1, 0, n - 1)
    cell = jax.tree.map(lambda cur, nb: jnp.where(move, nb[index], cur), obs.cell, obs.neighbours)
    row = jnp.where(move, obs.rows[index + 1], obs.rows[0])
    enum_row = jnp.where(move, state.enum_rows[index + 1], state.enum_rows[0])
    acc, report = _accuracies(key_query, params, row)
    acc = jnp.where(move, acc, state.acc)
    report = jnp.where(move, report, state.report_acc)
    reward = shaped_reward(acc, params.alpha) - shaped_reward(state.acc, params.alpha)
    reward = jnp.where(state.t == 0, 0.0, reward).astype(jnp.float32)
    t = state.t + 1
    done = ~move | (t >= params.episode_length)
    new_obs, enum_rows, count = _present(key_present, params, cell, enum_row)
    new_state = EnvState(obs=new_obs, enum_rows=enum_rows, acc=acc, report_acc=report,
                         num_neighbours=count, t=t)
    info = {"invalid_action": ~allowed, "moved": move, "acc": acc, "report_acc": report}
    return new_obs, new_state, reward, done, info


def step_auto_reset(key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams):
    """:func:`step`, then a fresh episode (from the sampler) wherever it ended."""
    key_step, key_reset = jax.random.split(key)
    obs, next_state, reward, done, info = step(key_step, state, action, params)
    reset_obs, reset_state = reset(key_reset, params)
    pick = lambda fresh, kept: jax.tree.map(lambda a, b: jnp.where(done, a, b), fresh, kept)
    return pick(reset_obs, obs), pick(reset_state, next_state), reward, done, info


def encode(cells: nb101.Cell) -> jax.Array:
    """The seed's token features of cells: float32[..., 21 + 7 * 6].

    Lower-triangular half of the adjacency, flattened row by row (seed section
    3.2.3; ``adj.T`` of our upper-triangular form, i.e. ``adj[j, i]`` for ``i > j``
    read as "i receives from j"), then the one-hot vertex labels over (input,
    output, conv3x3, conv1x1, maxpool3x3, pad), padded to 7 vertices.
    """
    lower_rows, lower_cols = jnp.tril_indices(nb101.NUM_VERTICES, k=-1)
    adjacency = jnp.swapaxes(cells.adj, -1, -2)[..., lower_rows, lower_cols]
    vocabulary = jnp.asarray([nb101.INPUT, nb101.OUTPUT, nb101.CONV3X3, nb101.CONV1X1,
                              nb101.MAXPOOL3X3, nb101.PAD], jnp.int8)
    labels = cells.ops[..., None] == vocabulary
    flat = labels.reshape(labels.shape[:-2] + (-1,))
    return jnp.concatenate([adjacency, flat], -1).astype(jnp.float32)
