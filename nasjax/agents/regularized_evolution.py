"""Regularized (ageing) evolution (Real et al. 2019), the NAS-Bench-101 baseline of ReMAADE §8.

As the NAS-Bench-101 authors ran it (the ``run_evolution_search`` / ``mutate_spec`` example
of the official repository, google-research/nasbench ``NASBench.ipynb``), over the string
encoding of any search space (``space.choices``, ``encode``, ``decode``; NAS-Bench-101's is
:mod:`nasjax.spaces.nb101_string`):

- the first ``P`` (population size) queries are random valid strings;
- every later query mutates the best of ``T`` (tournament size) members drawn without
  replacement from the population, and the child replaces the *oldest* member (ageing);
- the defaults are that code's: ``P = 50``, ``T = 10``, ``r = 1.0`` (``run_evolution_search``
  and ``mutate_spec`` defaults); ReMAADE does not state its own;
- a mutation with rate ``r`` changes each string position ``i`` with probability
  ``r * space.mutation_rates[i]`` to a uniformly drawn *other* value (NAS-Bench-101: each of
  the 21 edges flips with probability ``r / 7``, each of the 5 interior ops changes with
  probability ``r / 5``); binary positions draw from one random stream, the others from a
  second one; the child is redrawn until valid. Mutations act on the full string, so pruned-away
  vertices and edges are inherited and can come back later, as in the official code.

Like the official code (and ReMAADE's "every proposal is a query"), a child whose pruned cell
equals its parent's is queried again by default. Two options of ours redraw children:
``require_change`` (a child must differ from its parent as an architecture; off by default)
and the shared rule ``duplicates="resample"`` (:mod:`nasjax.agents.duplicates`: a child, or
a member of the first population, must differ from every architecture queried in the trial,
which implies the former). A redraw is rejection sampling in blocks of :data:`CANDIDATES`
iid candidates inside a ``lax.while_loop``: the first acceptable candidate is an exact draw
from the conditional distribution. :data:`MAX_ROUNDS` bounds the loop; a parent with no
acceptable child in that many draws passes its own string on (a repeat). That is
unreachable in practice for ``require_change``: about 13% of the mutations of the sparsest
cell (input -> output) change it, 61% on average over sampled parents, and even at 1% the
fallback would have probability ``0.99 ** 16384 < 1e-71``.

The state is a fixed-size pytree: the population is a ring buffer of strings and their
fitness (the validation accuracy the searcher saw), and the next query is prepared by
``update`` (``propose`` returns it), so a trial is one ``lax.scan``.
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from nasjax import config_fields
from nasjax import config_rules as rules
from nasjax.agents import duplicates
from nasjax.agents.base import Agent, Searcher
from nasjax.benchmarks import base as bench_lib
from nasjax.config_fields import field
from nasjax.spaces import base as space_lib

INITIAL = ("uniform_string", "sampler")  # how the first population is drawn
# The ``regularized_evolution`` block of the search configs: the official NASBench.ipynb values.
FIELDS = config_fields.block(
    population_size=field(50, rules.int_range(2, 100_000),
                          "P: members kept, the oldest dies (official default; no ReMAADE)"),
    tournament_size=field(10, rules.positive_int(),
                          "T: members sampled per tournament (same source)"),
    mutation_rate=field(1.0, rules.number(0.0, low_open=True),
                        "r: position i changes w.p. r * space.mutation_rates[i] (mutate_spec "
                        "default; NAS-Bench-101: edges w.p. r/7, ops w.p. r/5)"),
    initial=field("uniform_string", rules.one_of(*INITIAL),
                  "first P: 'uniform_string' (official) | 'sampler'"),
    require_change=field(False, rules.boolean(),
                         "redraw children equal to the parent: True ours, False official"),
)
CANDIDATES = 16  # iid candidates per rejection round (mutations and initial strings)
MAX_ROUNDS = 1024  # bound on rejection rounds per query (16,384 candidates)


@flax.struct.dataclass
class EvolutionState:
    """Population ring buffer; slot ``count % P`` holds the oldest member once full."""

    population: jax.Array  # int32[P, L]: member strings
    fitness: jax.Array  # float32[P]: their observed validation accuracy, -inf if unusable
    count: jax.Array  # int32[]: members added so far
    pending: jax.Array  # int32[L]: the string proposed next
    arch: Any  # Arch[1]: ``pending`` decoded
    key: jax.Array  # PRNG key for the next proposal
    memory: Any = None  # duplicates.Memory of the queried architectures ("resample"), or None


def first_accepted(draw, accept, key, fallback):
    """The first accepted of a stream of iid draws (exact rejection sampling, bounded).

    Args:
      draw: ``key -> int32[CANDIDATES, L]`` iid candidate strings.
      accept: ``int32[CANDIDATES, L] -> bool[CANDIDATES]``.
      key: PRNG key.
      fallback: int32[L] returned when :data:`MAX_ROUNDS` rounds accept nothing.
    Returns:
      int32[L].
    """

    def cond(carry):
        _, found, rounds, _ = carry
        return ~found & (rounds < MAX_ROUNDS)

    def body(carry):
        _, _, rounds, key = carry
        key, key_draw = jax.random.split(key)
        candidates = draw(key_draw)
        ok = accept(candidates)
        return candidates[jnp.argmax(ok)], ok.any(), rounds + 1, key

    string, found, _, _ = jax.lax.while_loop(
        cond, body, (fallback, jnp.bool_(False), jnp.int32(0), key))
    return jnp.where(found, string, fallback)


def _mutations(space: space_lib.SearchSpace, key: jax.Array, parent: jax.Array,
               mutation_rate: float) -> jax.Array:
    """int32[CANDIDATES, L]: iid mutations of ``parent`` (valid or not); see :func:`mutate`."""
    choices = np.asarray(space.choices)
    probability = jnp.asarray(mutation_rate * np.asarray(space.mutation_rates), jnp.float32)
    key_binary, key_other, key_shift = jax.random.split(key, 3)
    shape = (CANDIDATES, len(choices))
    uniform = jnp.where(choices == 2, jax.random.uniform(key_binary, shape),
                        jax.random.uniform(key_other, shape))
    mutate = uniform < probability
    shift = jax.random.randint(key_shift, shape, 1, jnp.asarray(np.maximum(choices, 2)))
    return jnp.where(mutate, (parent + shift) % choices, parent).astype(jnp.int32)


def _acceptable(space: space_lib.SearchSpace, candidates: jax.Array, parent: jax.Array,
                require_change, memory: duplicates.Memory | None = None) -> jax.Array:
    """bool[C]: valid candidates, (where ``require_change``) not the parent's architecture and
    (with a ``memory``) not an architecture it holds."""
    archs, valid = space.decode(jnp.concatenate([parent[None], candidates]))
    hashes = space.hash(archs)  # one hash call: parent first (compiles once)
    changed = (hashes[1:] != hashes[0]).any(-1)
    accepted = valid[1:] & (changed | ~jnp.asarray(require_change))
    if memory is None:
        return accepted
    return accepted & ~duplicates.contains(memory, hashes[1:])


def mutate(space: space_lib.SearchSpace, key: jax.Array, parent: jax.Array,
           mutation_rate: float, require_change: bool = False) -> jax.Array:
    """A valid mutated child of one string (``mutate_spec`` of the official NAS-Bench-101 code).

    Args:
      space: the search space (its string encoding).
      key: PRNG key.
      parent: int32[L], a valid string.
      mutation_rate: ``r``: position ``i`` changes, with probability
        ``r * space.mutation_rates[i]``, to a uniformly drawn *other* value.
      require_change: also redraw children whose architecture equals the parent's.
    Returns:
      int32[L], a valid string.
    """
    return first_accepted(lambda k: _mutations(space, k, parent, mutation_rate),
                           lambda c: _acceptable(space, c, parent, require_change), key, parent)


def uniform_valid_string(space: space_lib.SearchSpace, key: jax.Array) -> jax.Array:
    """int32[L]: a uniform valid string (``random_spec`` of the official code): every
    position uniform, redrawn until valid."""
    return first_accepted(lambda k: space_lib.uniform_strings(space, k, (CANDIDATES,)),
                           lambda c: space.decode(c)[1], key,
                           space.encode(space.sample(key, ())))


def tournament(key: jax.Array, fitness: jax.Array, tournament_size: int) -> jax.Array:
    """int32[]: index of the fittest of ``tournament_size`` members drawn without replacement.

    Args:
      key: PRNG key.
      fitness: float32[P] fitness of the population (``-inf`` for unusable members).
      tournament_size: ``T <= P``.
    """
    sample = jax.random.choice(key, fitness.shape[0], (tournament_size,), replace=False)
    return sample[jnp.argmax(fitness[sample])].astype(jnp.int32)


def make_regularized_evolution(
        space: space_lib.SearchSpace,
        population_size: int = FIELDS["population_size"].default,
        tournament_size: int = FIELDS["tournament_size"].default,
        mutation_rate: float = FIELDS["mutation_rate"].default,
        initial: str = FIELDS["initial"].default,
        require_change: bool = FIELDS["require_change"].default, duplicates_rule: str = "query",
        budget: int = 0) -> Searcher:
    """Regularized evolution over a space's string encoding, one query per step.

    Args:
      space: the search space.
      population_size: ``P``, members kept (the oldest dies when a child is born).
      tournament_size: ``T``, members sampled (without replacement) per tournament.
      mutation_rate: ``r`` of :func:`mutate`.
      initial: ``"uniform_string"`` (uniform valid strings, as the official NAS-Bench-101
        code) or ``"sampler"`` (strings of the space's sampler, Cassimon et al. §3.2.3).
      require_change: children must differ from their parent as architectures (ours; the
        official code, and so the default, queries an unchanged child again).
      duplicates_rule: ``"query"`` (every proposal is a query) or ``"resample"``
        (:mod:`nasjax.agents.duplicates`).
      budget: queries of a trial; the memory's capacity with ``"resample"``.
    Returns:
      A :class:`~nasjax.agents.base.Searcher` with ``batch = 1``.
    Raises:
      ValueError: for sizes out of range or an unknown ``initial``.
    """
    if not 1 <= tournament_size <= population_size:
        raise ValueError(f"need 1 <= tournament_size <= population_size, got "
                         f"{tournament_size} and {population_size}")
    if mutation_rate <= 0:
        raise ValueError(f"mutation_rate must be positive, got {mutation_rate}")
    if initial not in INITIAL:
        raise ValueError(f"unknown initial population {initial!r}; choose one of "
                         f"{', '.join(INITIAL)}")
    duplicates.check(duplicates_rule, budget)
    resample = duplicates_rule == "resample"

    def fresh(key):  # int32[CANDIDATES, L]: candidates for the initial population
        if initial == "uniform_string":
            return space_lib.uniform_strings(space, key, (CANDIDATES,))
        return space.encode(space.sample(key, (CANDIDATES,)))

    def next_string(population, fitness, count, key, memory):
        """A random member while the population fills, then a tournament winner's child."""
        key_tournament, key_loop, key_fallback = jax.random.split(key, 3)
        filling = count < population_size
        parent = population[tournament(key_tournament, fitness, tournament_size)]

        def draw(key):
            key_fresh, key_mutate = jax.random.split(key)
            return jnp.where(filling, fresh(key_fresh),
                             _mutations(space, key_mutate, parent, mutation_rate))

        def accept(candidates):
            return _acceptable(space, candidates, parent, require_change & ~filling, memory)

        fallback = jnp.where(filling, space.encode(space.sample(key_fallback, ())), parent)
        return first_accepted(draw, accept, key_loop, fallback)

    def prepared(population, fitness, count, key, pending, memory):
        arch, _ = space.decode(pending[None])
        return EvolutionState(population=population, fitness=fitness, count=count,
                              pending=pending, arch=arch, key=key, memory=memory)

    def init(key):
        key_next, key_first = jax.random.split(key)
        population = jnp.zeros((population_size, len(space.choices)), jnp.int32)
        fitness = jnp.full((population_size,), -jnp.inf, jnp.float32)
        if initial == "uniform_string":
            first = uniform_valid_string(space, key_first)
        else:
            first = space.encode(space.sample(key_first, ()))
        memory = duplicates.empty(space, budget) if resample else None
        return prepared(population, fitness, jnp.int32(0), key_next, first, memory)

    def propose(state, key):
        del key  # the query was drawn by the update that made the state
        return state.arch

    def update(state, archs, metrics: bench_lib.Metrics):
        del archs  # the state holds the string behind the architecture
        usable = metrics.valid[0] & jnp.isfinite(metrics.val_acc[0])
        slot = state.count % population_size  # the oldest member, once the population is full
        population = state.population.at[slot].set(state.pending)
        fitness = state.fitness.at[slot].set(jnp.where(usable, metrics.val_acc[0], -jnp.inf))
        count = state.count + 1
        key_next, key_string = jax.random.split(state.key)
        memory = state.memory
        if resample:
            memory = duplicates.add(memory, space.hash(state.arch))
        pending = next_string(population, fitness, count, key_string, memory)
        return prepared(population, fitness, count, key_next, pending, memory)

    return Searcher(name="regularized_evolution", batch=1, init=init, propose=propose,
                    update=update)


def make_searcher(space: space_lib.SearchSpace, config, *, duplicates: str = "query",
                  budget: int = 0) -> Searcher:
    """Regularized evolution with the hyperparameters of a :data:`FIELDS` block and the
    shared ``duplicates`` rule (see :func:`make_regularized_evolution`)."""
    return make_regularized_evolution(
        space, population_size=config.population_size, tournament_size=config.tournament_size,
        mutation_rate=config.mutation_rate, initial=config.initial,
        require_change=config.require_change, duplicates_rule=duplicates, budget=budget)


def agent(config: str) -> Agent:
    """The regularized-evolution agent, its hyperparameters in the config block ``config``
    (named by its registration)."""
    return Agent(name="regularized_evolution",
                 description="regularized (ageing) evolution, official NAS-Bench-101 settings",
                 queries="one query per child", config=config, make_searcher=make_searcher)
