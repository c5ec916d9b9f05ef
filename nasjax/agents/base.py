"""What an agent is, and the scan that runs a search trial.

Two kinds of agents, each usable on any registered search space:

- an **episodic policy** (:class:`Policy`: random walk, local search, Ape-X) acts on the
  incremental MDP's observations: ``act(params, obs, key) -> action``; ``queries(obs)`` says
  how many benchmark queries it spends per step (local search: every presented neighbour),
  or it is None when an episode costs one query (Cassimon et al. §4.1.2);
- a **query-budget searcher** (:class:`Searcher`: random search, regularized evolution,
  ReMAADE) is a frozen dataclass of pure functions (flashbax style): ``init(key) -> state``,
  ``propose(state, key) -> Arch[batch]`` (all valid) and
  ``update(state, archs, metrics) -> state``.

An :class:`Agent` is what the registry holds: the factories of an agent's policy and/or
searcher, the name of the config block with its hyperparameters (declared beside the agent,
named by its registration) and how it counts queries. :func:`run_trial` runs one trial of a
searcher as a single ``lax.scan``; :func:`run_trials` vmaps trials (and shards them over
devices: :mod:`nasjax.sharding`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.struct
import jax

from nasjax import spaces
from nasjax.benchmarks import base as bench_lib


@dataclasses.dataclass(frozen=True)
class Searcher:
    """A query-budget search algorithm as pure functions (its config bound by its factory)."""

    name: str
    batch: int  # architectures proposed per step
    init: Callable[[jax.Array], Any]
    propose: Callable[[Any, jax.Array], Any]
    update: Callable[[Any, Any, bench_lib.Metrics], Any]


@dataclasses.dataclass(frozen=True)
class Policy:
    """An episodic policy over the incremental MDP (evaluated by
    :func:`nasjax.evaluation.episodes.run_episodes`)."""

    name: str
    act: Callable[[Any, Any, jax.Array], jax.Array]  # (params, obs, key) -> int32 action
    params: Any = None  # a pytree (network weights, an oracle), passed to act under jit
    queries: Callable[[Any], jax.Array] | None = None  # per-step queries; None: 1 per episode
    # A custom evaluation episode (env_params, initial, key) -> EpisodeStats, for agents that
    # do not step the MDP (random search jumps to a sampled architecture); None: act stepwise.
    episode: Callable[..., Any] | None = None
    # The most episodes stepped at once (None: ceil(E / EPISODES_PER_SLOT) of
    # nasjax.evaluation.episodes). A policy that does much work per step (a network over every
    # neighbour, a query of each) runs faster in a narrow batch whose arrays stay in cache.
    slots: int | None = None

    def __post_init__(self):
        if self.slots is not None and (not isinstance(self.slots, int) or self.slots < 1):
            raise ValueError(f"policy {self.name!r}: slots must be a positive int or None, "
                             f"got {self.slots!r}")


@flax.struct.dataclass
class EpisodeStats:
    """Per-episode record (batch-shaped): what :func:`nasjax.evaluation.episodes.run_episodes`
    gives and a policy's custom ``episode`` returns."""

    initial: jax.Array  # float32: reported accuracy of the initial architecture
    final: jax.Array  # float32: reported accuracy of the final architecture
    best: jax.Array  # float32: reported accuracy of the visited one with the best validation
    initial_val: jax.Array  # float32: validation accuracy of the initial architecture
    final_val: jax.Array  # float32
    best_val: jax.Array  # float32
    steps: jax.Array  # int32: steps taken (the final "stay" included)
    queries: jax.Array  # int32: benchmark queries spent
    num_neighbours: jax.Array  # int32: all neighbours of the initial architecture
    trace_queries: jax.Array  # int32[L]: queries spent after each step (0 after the last)
    trace_best_val: jax.Array  # float32[L]: best validation accuracy seen after each step
    trace_best: jax.Array  # float32[L]: reported accuracy of that best architecture


@dataclasses.dataclass(frozen=True)
class Agent:
    """A registered agent: its factories, its config block and how it counts queries.

    ``make_policy(env_params, config, seed) -> Policy`` (the policy of agent seed ``seed``:
    a trained agent brings one set of parameters per training seed) and
    ``make_searcher(space, config) -> Searcher``; either may be None. ``config`` names its
    block of the experiment's config (None: no hyperparameters); ``overrides`` are applied to
    that block for this agent (the ReMAADE ablations of ReMAADE Tables 4 and 6 are variants
    of one block). ``seeds(config)`` is how many agent seeds the agent brings (a trained agent:
    its checkpoints), or None for "as many as the experiment asks". Every ``make_searcher``
    also takes ``duplicates`` and ``budget`` keywords: the rule for repeated proposals shared
    by all searchers (:mod:`nasjax.agents.duplicates`). ``traced`` names the fields of its
    block that keep every array shape: ``hyperparams(block)`` gives them as arrays, and
    ``make_searcher(..., hyper=those arrays)`` builds a searcher from traced values, so that
    sweep points differing only in them run in one program (:func:`run_point_trials`).
    """

    name: str
    description: str
    queries: str  # how a query is counted, for reports
    config: str | None = None
    overrides: tuple = ()  # ((field, value), ...)
    make_policy: Callable[..., Policy] | None = None
    make_searcher: Callable[..., Searcher] | None = None
    seeds: Callable[[Any], int | None] | None = None
    traced: tuple[str, ...] = ()
    hyperparams: Callable[[Any], dict[str, jax.Array]] | None = None

    def block(self, config):
        """This agent's hyperparameters: its block of ``config`` with the overrides applied
        (an unlocked copy; ``config`` is left as it is); a plain value is returned as it is."""
        if self.config is None:
            return None
        block = config[self.config]
        if not hasattr(block, "copy_and_resolve_references"):
            return block
        block = block.copy_and_resolve_references()
        with block.unlocked():
            for field, value in self.overrides:
                block[field] = value
        return block


@flax.struct.dataclass
class TrialResult:
    """Per-query record of trials: leading axes ``[trials, queries]``."""

    observed: jax.Array  # float32: validation accuracy the searcher saw (noisy or mean)
    reported: jax.Array  # float32: the accuracy reported for that query (see run_trial)
    valid: jax.Array  # bool: the architecture was valid and in the benchmark
    train_seconds: jax.Array  # float32: simulated training time charged for the query
    arch_hash: jax.Array  # [..., H]: the space's (isomorphism-invariant) hash of the query


def _trial_parts(searcher: Searcher, bench, budget: int, mode: str, report_metric: str):
    """A trial's two functions (the arguments as :func:`run_trial`'s):
    ``start(key) -> (state, key[S])``, the searcher's state and the keys of its ``S`` steps;
    ``step(state, key) -> (state, TrialResult[batch])``, one batch proposed, queried and learnt.
    """
    space = spaces.get(bench.space)
    steps = -(-budget // searcher.batch)

    def start(key):
        key_init, key_scan = jax.random.split(key)
        return searcher.init(key_init), jax.random.split(key_scan, steps)

    def step(state, key):
        key_propose, key_query = jax.random.split(key)
        archs = searcher.propose(state, key_propose)
        seen = bench_lib.query(bench, archs, key_query, mode)
        state = searcher.update(state, archs, seen)
        if report_metric == "test":
            reported = seen.test_acc
        else:
            reported = (seen if mode == "mean" else bench_lib.query(bench, archs)).val_acc
        return state, TrialResult(seen.val_acc, reported, seen.valid, seen.train_seconds,
                                  space.hash(archs))

    return start, step


def run_trial(searcher: Searcher, bench, key: jax.Array, budget: int, mode: str = "mean",
              report_metric: str = "test") -> TrialResult:
    """One trial of ``budget`` queries as one ``lax.scan`` (``budget`` rounded up to batches).

    Args:
      searcher: the algorithm.
      bench: benchmark queried with ``mode`` (what the searcher sees).
      key: PRNG key of the trial.
      budget: number of queries.
      mode: ``"mean"`` or ``"noisy"``.
      report_metric: ``"test"``: the test accuracy of the same query (with ``mode="noisy"`` the
        same drawn repeat, ReMAADE §8: "the corresponding random test error"); ``"val"``:
        the mean validation accuracy of the queried architecture.
    Returns:
      TrialResult with leading axis ``[budget]``, hashes ``[budget, H]``.
    """
    start, step = _trial_parts(searcher, bench, budget, mode, report_metric)
    _, result = jax.lax.scan(step, *start(key))  # [S, batch, ...]
    return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:])[:budget], result)


def run_trials(searcher: Searcher, bench, keys: jax.Array, budget: int, mode: str = "mean",
               report_metric: str = "test") -> TrialResult:
    """Trials of ``keys`` (one per trial), vmapped and sharded over the local devices.

    The benchmark is an argument of the compiled function, not a baked-in constant.
    """
    from nasjax import sharding

    return sharding.map_batch(_trials, keys, bench, static=(searcher, budget, mode, report_metric))


def _trials(keys, bench, searcher, budget, mode, report_metric):
    """:func:`run_trial` of every key, its steps vmapped inside one scan over the steps.

    The same numbers as vmapping whole trials, traced in about half the time: vmapping a scan
    batches its body again until it knows which of its carries are batched, and each pass
    batches every loop inside the body once more (a ReMAADE program 5.6 -> 3.3 s)."""
    start, step = _trial_parts(searcher, bench, budget, mode, report_metric)
    state, step_keys = jax.vmap(start)(keys)  # every leaf [T, ...], key[T, S]
    _, result = jax.lax.scan(jax.vmap(step), state, step_keys.swapaxes(0, 1))  # [S, T, batch..]
    return jax.tree.map(
        lambda x: x.swapaxes(0, 1).reshape((x.shape[1], -1) + x.shape[3:])[:, :budget], result)


def run_point_trials(make: Callable[[dict], Searcher], hypers: dict[str, jax.Array], bench,
                     keys: jax.Array, budget: int, mode: str = "mean",
                     report_metric: str = "test", points_at_once: int = 1) -> TrialResult:
    """The trials of several sweep points in one compiled program, sharded over the devices by
    trials as :func:`run_trials` shards them.

    Point ``p`` runs the searcher ``make(its hyperparameters)``, built from traced values, on
    the trials of ``keys[:, p]``: each point computes its single run's numbers (the
    hyperparameters enter as the same float32 values a constant would).

    Args:
      make: builds a point's searcher from ``{name: float32[]}`` (hashable: compiled in).
      hypers: ``{name: float32[P]}``, the points' traced hyperparameters (may be empty).
      bench: the benchmark.
      keys: key[T, P], trial ``t`` of point ``p``.
      budget, mode, report_metric: as :func:`run_trial`.
      points_at_once: points vmapped together (``lax.map``'s batch size); 1 runs them one
        after another inside the program, each point's sampling loop
        (``lax.while_loop``) bounded by its own trials rather than by the slowest point's.
    Returns:
      TrialResult with leading axes ``[P, T, budget]``.
    """
    from nasjax import sharding

    result = sharding.map_batch(_point_trials, keys, hypers, bench,
                                static=(make, budget, mode, report_metric, points_at_once))
    return jax.tree.map(lambda x: x.swapaxes(0, 1), result)


def _point_trials(keys, hypers, bench, make, budget, mode, report_metric, points_at_once):
    def point(args):
        hyper, point_keys = args
        return _trials(point_keys, bench, make(hyper), budget, mode, report_metric)

    at_once = points_at_once if points_at_once > 1 else None
    result = jax.lax.map(point, (hypers, keys.swapaxes(0, 1)), batch_size=at_once)
    return jax.tree.map(lambda x: x.swapaxes(0, 1), result)  # [T, P, ...]: sharded by trials
