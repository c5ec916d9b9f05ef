"""Best accuracy vs number of queries from streams of evaluation episodes (Cassimon et al. Fig. 10).

Episodes of one stream (an agent seed on one set of initial states) are cut into
trials: consecutive episodes until the trial has spent ``max_queries`` queries. Within
a trial, every checkpoint ``(queries so far, validation accuracy, reported accuracy)``
is a query position; the curve is the reported accuracy of the best validation
accuracy found so far ("the data of the last preceding improvement").

Queries follow the one rule of :mod:`nasjax.evaluation.episodes` (Cassimon et al. §4.1.2):
an episode's cost is its ``queries``. Checkpoints of an episode: an agent that spends one
query an episode (random walk, random search) contributes its final cell at that query; local
search contributes its best cell after every step, at the queries spent so far (every
presented neighbour), and its initial cell, which is free. The initial cell is known before the
first query of its episode; a curve has no column for "before a query", so it enters at the
episode's first query position (query 1 of a trial's first episode, the query after the
previous episode's last otherwise): never in a column of the previous episode, whose budget
did not draw it. Where two checkpoints share a position (an episode presenting no neighbour,
or a first step presenting one), the one with the higher validation accuracy counts, the
earlier on ties.
"""

from __future__ import annotations

import numpy as np

from nasjax.evaluation import episodes as episodes_lib
from nasjax.evaluation import stats


def episode_checkpoints(episodes, per_step: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(queries int[E, C], val float[E, C], reported float[E, C])``: the queries an episode
    has spent when each checkpoint is known (0: the free initial cell), -1 = no checkpoint.

    Args:
      episodes: EpisodeStats with numpy arrays, leading axis E.
      per_step: local search style (initial cell, then every step) or one final query.
    """
    if not per_step:
        spent = np.asarray(episodes.queries, np.int64)[:, None]
        return spent, np.asarray(episodes.final_val)[:, None], np.asarray(episodes.final)[:, None]
    trace = np.asarray(episodes.trace_queries, np.int64)
    taken = np.arange(trace.shape[1]) < np.asarray(episodes.steps)[:, None]
    initial = np.full((len(trace), 1), episodes_lib.start_queries(per_step), np.int64)
    queries = np.concatenate([initial, np.where(taken, trace, -1)], 1)
    val = np.concatenate([np.asarray(episodes.initial_val)[:, None], episodes.trace_best_val], 1)
    reported = np.concatenate([np.asarray(episodes.initial)[:, None], episodes.trace_best], 1)
    return queries, val, reported


def stream_curves(queries: np.ndarray, val: np.ndarray, reported: np.ndarray,
                  max_queries: int) -> np.ndarray:
    """Best-so-far curves ``float[T, max_queries]`` of the complete trials of one stream.

    Args:
      queries: int[E, C] queries spent within its episode when each checkpoint is known
        (0: free, before the episode's first query; -1: no checkpoint).
      val: float[E, C] validation accuracy at each checkpoint.
      reported: float[E, C] reported accuracy at each checkpoint.
      max_queries: queries per trial.
    """
    spent = np.maximum(queries.max(1), 0)  # queries of each episode
    trial = np.empty(len(spent), np.int64)
    offset = np.empty(len(spent), np.int64)
    current, used = 0, 0
    for index, cost in enumerate(spent):  # greedy cut into trials at episode boundaries
        trial[index], offset[index] = current, used
        used += cost
        if used >= max_queries:
            current, used = current + 1, 0
    complete = current  # the last, unfinished trial is dropped
    if complete == 0:  # the stream spent fewer than max_queries queries
        return np.empty((0, max_queries))
    rows, cols = np.nonzero(queries >= 0)
    position = offset[rows] + np.maximum(queries[rows, cols], 1) - 1  # column of query q: q - 1
    keep = (trial[rows] < complete) & (position < max_queries)
    rows, cols, position = rows[keep], cols[keep], position[keep]
    # One checkpoint per position: the highest validation accuracy, the earliest on ties.
    cell = trial[rows] * max_queries + position
    rank = np.nan_to_num(val[rows, cols].astype(np.float64), nan=-np.inf)
    order = np.lexsort((-np.arange(len(cell)), rank, cell))
    cell, rows, cols = cell[order], rows[order], cols[order]
    last = np.append(cell[1:] != cell[:-1], True)
    cell, rows, cols = cell[last], rows[last], cols[last]
    observed = np.full(complete * max_queries, np.nan)
    seen = np.full(complete * max_queries, np.nan)
    observed[cell] = val[rows, cols]
    seen[cell] = reported[rows, cols]
    shape = (complete, max_queries)
    return stats.best_so_far(observed.reshape(shape), seen.reshape(shape))[1]


def agent_curves(streams: list, per_step: bool, max_queries: int) -> np.ndarray:
    """Curves of all streams of one agent, stacked: ``float[T, max_queries]``."""
    curves = [stream_curves(*episode_checkpoints(episodes, per_step), max_queries)
              for episodes in streams]
    return np.concatenate(curves, 0)
