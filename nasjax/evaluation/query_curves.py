"""Best accuracy vs number of queries from streams of evaluation episodes (Cassimon et al. Fig. 10).

Episodes of one stream (an agent seed on one set of initial states) are cut into
trials: consecutive episodes until the trial has spent ``max_queries`` queries. Within
a trial, every checkpoint ``(queries so far, validation accuracy, reported accuracy)``
is a query position; the curve is the reported accuracy of the best validation
accuracy found so far ("the data of the last preceding improvement").

Checkpoints of an episode: agents that spend one query an episode (random walk,
random search) contribute their final cell at query 1; local search contributes its
initial cell at query 1 and its best cell after every step, at the queries spent
(1 + every presented neighbour so far).
"""

from __future__ import annotations

import numpy as np

from nasjax.evaluation import stats


def episode_checkpoints(episodes, per_step: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(queries int[E, C], val float[E, C], reported float[E, C])``; queries 0 = no checkpoint.

    Args:
      episodes: EpisodeStats with numpy arrays, leading axis E.
      per_step: local search style (initial cell, then every step) or one final query.
    """
    if not per_step:
        ones = np.ones((len(episodes.final), 1), np.int64)
        return ones, np.asarray(episodes.final_val)[:, None], np.asarray(episodes.final)[:, None]
    queries = np.concatenate([np.ones((len(episodes.initial), 1)), episodes.trace_queries], 1)
    val = np.concatenate([np.asarray(episodes.initial_val)[:, None], episodes.trace_best_val], 1)
    reported = np.concatenate([np.asarray(episodes.initial)[:, None], episodes.trace_best], 1)
    return queries.astype(np.int64), val, reported


def stream_curves(queries: np.ndarray, val: np.ndarray, reported: np.ndarray,
                  max_queries: int) -> np.ndarray:
    """Best-so-far curves ``float[T, max_queries]`` of the complete trials of one stream.

    Args:
      queries: int[E, C] query count of each checkpoint within its episode (0 = none).
      val: float[E, C] validation accuracy at each checkpoint.
      reported: float[E, C] reported accuracy at each checkpoint.
      max_queries: queries per trial.
    """
    spent = queries.max(1)  # queries of each episode
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
    observed = np.full((complete, max_queries), np.nan)
    seen = np.full((complete, max_queries), np.nan)
    rows, cols = np.nonzero(queries > 0)
    position = offset[rows] + queries[rows, cols] - 1
    keep = (trial[rows] < complete) & (position < max_queries)
    rows, cols, position = rows[keep], cols[keep], position[keep]
    observed[trial[rows], position] = val[rows, cols]
    seen[trial[rows], position] = reported[rows, cols]
    return stats.best_so_far(observed, seen)[1]


def agent_curves(streams: list, per_step: bool, max_queries: int) -> np.ndarray:
    """Curves of all streams of one agent, stacked: ``float[T, max_queries]``."""
    curves = [stream_curves(*episode_checkpoints(episodes, per_step), max_queries)
              for episodes in streams]
    return np.concatenate(curves, 0)
