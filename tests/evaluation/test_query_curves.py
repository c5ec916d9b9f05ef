"""Best-vs-queries curves (Cassimon et al. Fig. 10) by hand: trials, free initial cells."""

from __future__ import annotations

import numpy as np

from nasjax.evaluation import query_curves
from nasjax.evaluation.episodes import EpisodeStats

NAN = np.nan


def _local_search_episodes() -> EpisodeStats:
    """Three local-search episodes (numpy EpisodeStats; reported = validation - 0.01).

    A: initial .50, step 1 shows 2 neighbours (best .70), step 2 shows 2 more and stays.
    B: initial .80, one step showing 2 neighbours, none better.
    C: initial .90, one step showing 3 neighbours, none better.
    """
    trace_queries = np.array([[2, 4, 0], [2, 0, 0], [3, 0, 0]])
    trace_best_val = np.array([[.70, .70, .70], [.80, .80, .80], [.90, .90, .90]])
    initial_val = np.array([.50, .80, .90])
    best_val = trace_best_val[:, -1]
    return EpisodeStats(
        initial=initial_val - .01, final=best_val - .01, best=best_val - .01,
        initial_val=initial_val, final_val=best_val, best_val=best_val,
        steps=np.array([2, 1, 1]), queries=np.array([4, 2, 3]),
        num_neighbours=np.array([2, 2, 3]), trace_queries=trace_queries,
        trace_best_val=trace_best_val, trace_best=trace_best_val - .01)


def test_the_free_initial_cell_enters_at_its_episodes_first_query():
    # Trial 1 is A (queries 1-4) then B (5-6): B's initial .80 is known before query 5 and
    # enters there, not at query 4 (A's). C starts trial 2, which stays incomplete.
    queries, val, reported = query_curves.episode_checkpoints(_local_search_episodes(), True)
    np.testing.assert_array_equal(queries, [[0, 2, 4, -1], [0, 2, -1, -1], [0, 3, -1, -1]])
    curves = query_curves.stream_curves(queries, val, reported, max_queries=6)
    np.testing.assert_allclose(curves, [[.49, .69, .69, .69, .79, .79]])


def test_a_trial_is_cut_after_the_episode_that_reaches_its_queries():
    queries, val, reported = query_curves.episode_checkpoints(_local_search_episodes(), True)
    curves = query_curves.stream_curves(queries, val, reported, max_queries=3)
    # A (4 queries) fills trial 1; B (2) does not fill trial 2, B + C (5) do. C's step at its
    # query 3 lies past the trial's 3 queries.
    np.testing.assert_allclose(curves, [[.49, .69, .69], [.79, .79, .89]])


def test_checkpoints_sharing_a_position_keep_the_best():
    # An episode that shows no neighbour costs nothing: its initial cell shares the next
    # episode's first position with that episode's initial cell, and a first step showing one
    # neighbour shares it too. The best validation accuracy there counts.
    queries = np.array([[0, 0], [0, 1], [0, 2]])
    val = np.array([[.60, .60], [.50, .55], [.40, .90]])
    curves = query_curves.stream_curves(queries, val, val, max_queries=3)
    np.testing.assert_allclose(curves, [[.60, .60, .90]])


def test_one_query_an_episode_puts_each_final_cell_at_its_query():
    episodes = _local_search_episodes()
    episodes = episodes.replace(queries=np.ones(3, np.int64), final_val=np.array([.7, NAN, .6]),
                                final=np.array([.69, NAN, .59]))
    queries, val, reported = query_curves.episode_checkpoints(episodes, False)
    np.testing.assert_array_equal(queries, [[1], [1], [1]])
    curves = query_curves.stream_curves(queries, val, reported, max_queries=3)
    np.testing.assert_allclose(curves, [[.69, .69, .69]])  # an invalid cell never improves
