"""A dense, jittable prioritized replay buffer (Schaul et al. 2016; Ape-X: Horgan et al. 2018).

:func:`make_prioritized_buffer` returns a :class:`PrioritizedBuffer`, a frozen dataclass of pure
functions (flashbax style)::

  buffer = make_prioritized_buffer(capacity=25_000, sample_batch_size=512)
  state = buffer.init(example_item)                      # one unbatched item
  state = buffer.add(state, items, priorities)           # items[k, ...], priorities[k]
  batch = buffer.sample(state, key)                      # batch.items[512, ...], .weights
  state = buffer.update_priorities(state, batch.indices, jnp.abs(td_errors))

The state is a pytree meant to be donated to ``jit`` (``donate_argnums``) so that ``add`` and
``update_priorities`` write in place. Items are any pytree of fixed-shape arrays; store compact
ones (architectures as small ints, not token matrices).

Prioritized replay, proportional variant: item ``i`` with priority ``p_i`` is drawn with
probability ``P(i) = (p_i + eps)^alpha / sum_j (p_j + eps)^alpha`` and its loss weighted by
``w_i = (size * P(i))^-beta / max w`` (Schaul et al. 2016, Alg. 1), normalised one of two ways
(:data:`NORMALISATIONS`): ``"batch_max"``, by the largest weight of the sampled batch (Schaul et
al. 2016, Alg. 1, line 10; our default), or ``"buffer_min"``, by the weight of the least probable
item in the whole buffer, ``(size * min_j P(j))^-beta``, as RLlib 1.13's
``PrioritizedReplayBuffer`` (the replay of the Ape-X that Cassimon et al. §4.1.1 ran) does.
Items come with the priorities their actor computed (Ape-X, Alg. 1): no "max priority" default.
The batch is stratified: ``B`` equal slices of the cumulative mass, one uniform draw in each
(Schaul et al. 2016, App. B.2.1), which keeps every item's expected count at ``B * P(i)``
with less variance than ``B`` independent draws.

The priorities are one dense vector ``float32[capacity]`` of ``(p + eps)^alpha``: ``sample``
takes its prefix sum (pairwise, ``lax.associative_scan``) and ``searchsorted``s the ``B``
targets; ``add`` and ``update_priorities`` are scatters. At 25,000 entries that is as fast as a
sum tree, and its sums are recomputed rather than patched.

Why not flashbax's prioritised buffer: its float32 sum tree patches its sums, so the root drifts
from the sum of the leaves and the sampling distribution with it; it assigns new items the
largest priority seen instead of the actor's; on speed the two are level here. The measurements
are in ``docs/replay.md``.

Ape-X's actors add while the learner samples; in one jitted loop, call ``update_priorities``
before the next ``add``, or an overwritten slot takes a priority computed for its old item.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from nasjax import config_fields
from nasjax import config_rules as rules
from nasjax.config_fields import field

NORMALISATIONS = ("batch_max", "buffer_min")  # importance-weight normalisations (module docstring)
# The replay fields of an Ape-X config (Cassimon et al. §4.1.1; Schaul et al. 2016
# proportional, beta fixed as RLlib's Ape-X).
FIELDS = config_fields.block(
    replay_capacity=field(25_000, rules.positive_int(), "replay entries (§4.1.1)"),
    priority_alpha=field(0.6, rules.number(0.0), "prioritized replay alpha (§4.1.1)"),
    priority_beta=field(0.4, rules.fraction(), "importance-sampling beta (§4.1.1)"),
    priority_eps=field(1e-6, rules.number(0.0, low_open=True),
                       "added to |td| (RLlib prioritized_replay_eps)"),
    importance_weights=field(
        "buffer_min", rules.one_of(*NORMALISATIONS),
        "importance weights divided by the buffer-wide minimum probability's weight (RLlib "
        "1.13's PrioritizedReplayBuffer); \"batch_max\": by the batch's largest weight (Schaul "
        "et al. 2016)"),
)


@flax.struct.dataclass
class ReplayState:
    """The buffer's contents; slots ``0..size-1`` are filled, written in ring order."""

    items: Any  # pytree, leaves [capacity, ...]
    priorities: jax.Array  # float32[capacity]: (p + eps)^alpha, 0 at empty slots
    position: jax.Array  # int32[]: next slot written
    size: jax.Array  # int32[]: filled slots, at most capacity


@flax.struct.dataclass
class ReplaySample:
    """A sampled batch."""

    indices: jax.Array  # int32[B]: slots, for update_priorities
    items: Any  # pytree, leaves [B, ...]
    probabilities: jax.Array  # float32[B]: P(i)
    weights: jax.Array  # float32[B]: importance weights in (0, 1] (see NORMALISATIONS)


@dataclasses.dataclass(frozen=True)
class PrioritizedBuffer:
    """A prioritized replay buffer as pure functions (see the module docstring)."""

    capacity: int
    sample_batch_size: int
    init: Callable[[Any], ReplayState]
    add: Callable[[ReplayState, Any, jax.Array], ReplayState]
    sample: Callable[..., ReplaySample]  # (state, key, beta=None)
    update_priorities: Callable[[ReplayState, jax.Array, jax.Array], ReplayState]


def make_prioritized_buffer(capacity: int = FIELDS["replay_capacity"].default,
                            sample_batch_size: int = 512,
                            alpha: float = FIELDS["priority_alpha"].default,
                            beta: float = FIELDS["priority_beta"].default,
                            eps: float = FIELDS["priority_eps"].default,
                            normalisation: str = "batch_max") -> PrioritizedBuffer:
    """A proportional prioritized replay buffer.

    Args:
      capacity: slots; the oldest item is overwritten when full.
      sample_batch_size: ``B``, items per ``sample``.
      alpha: priority exponent (0 = uniform).
      beta: importance-sampling exponent (0 = no correction, 1 = full).
      eps: added to every priority before the exponent; > 0, so that every stored item can be
        drawn and has a finite importance weight.
      normalisation: ``"batch_max"`` or ``"buffer_min"``, what the importance weights are
        divided by (see the module docstring).
    Returns:
      PrioritizedBuffer whose functions are jittable.
    Raises:
      ValueError: on a non-positive size or exponent out of range.
    """
    if capacity < 1 or sample_batch_size < 1:
        raise ValueError(f"capacity ({capacity}) and sample_batch_size ({sample_batch_size}) "
                         "must be positive")
    if alpha < 0 or not 0 <= beta <= 1 or eps <= 0:
        raise ValueError(f"need alpha >= 0, 0 <= beta <= 1, eps > 0; got alpha={alpha}, "
                         f"beta={beta}, eps={eps}")
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")
    exponent = beta

    def init(item: Any) -> ReplayState:
        """An empty buffer for items shaped like ``item`` (one unbatched item)."""
        items = jax.tree.map(lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.result_type(x)),
                             item)
        return ReplayState(items=items, priorities=jnp.zeros(capacity, jnp.float32),
                           position=jnp.int32(0), size=jnp.int32(0))

    def add(state: ReplayState, items: Any, priorities: jax.Array) -> ReplayState:
        """Writes ``k`` items in ring order, overwriting the oldest when full.

        Args:
          state: the buffer.
          items: pytree like the ``init`` item with a leading axis ``[k, ...]``, ``k <=
            capacity``.
          priorities: float32[k] non-negative (e.g. ``|td|`` from the actor's network).
        """
        if priorities.ndim != 1 or priorities.shape[0] > capacity:
            raise ValueError(f"add takes priorities float32[k] with k <= capacity={capacity}, "
                             f"got shape {priorities.shape}")
        count = priorities.shape[0]
        for buf, x in zip(jax.tree.leaves(state.items), jax.tree.leaves(items), strict=True):
            if x.shape != (count, *buf.shape[1:]):
                raise ValueError(f"add: an item leaf has shape {x.shape}, expected "
                                 f"{(count, *buf.shape[1:])} (k = {count} priorities)")
        slots = (state.position + jnp.arange(count, dtype=jnp.int32)) % capacity
        new_items = jax.tree.map(lambda buf, x: buf.at[slots].set(x.astype(buf.dtype)),
                                 state.items, items)
        return ReplayState(
            items=new_items,
            priorities=state.priorities.at[slots].set(_scaled(priorities)),
            position=(state.position + count) % capacity,
            size=jnp.minimum(state.size + count, capacity))

    def sample(state: ReplayState, key: jax.Array,
               beta: jax.Array | None = None) -> ReplaySample:
        """``B`` items by stratified proportional sampling (needs ``size >= 1``); ``beta``
        float32[] (traced: sweep points trained together) replaces the buffer's exponent.

        Duplicates are possible (an item heavier than ``1/B`` of the mass spans strata). An
        empty buffer gives NaN probabilities and weights.
        """
        # A prefix sum by pairwise tree (log depth; 3x faster than jnp.cumsum's sequential
        # lowering on CPU). Its rounding may differ between neighbouring entries at the 1e-7
        # level, which only matters for zero-mass slots: eps > 0 leaves those at the tail only.
        cumulative = jax.lax.associative_scan(jnp.add, state.priorities)
        total = cumulative[-1]
        strata = jnp.arange(sample_batch_size, dtype=jnp.float32)
        uniform = jax.random.uniform(key, (sample_batch_size,), jnp.float32)
        targets = (strata + uniform) * (total / sample_batch_size)
        # The first slot whose cumulative mass exceeds the target; the clip keeps rounding at
        # the end (a target reaching `total`, or empty slots) on the last filled slot.
        indices = jnp.searchsorted(cumulative, targets, side="right").astype(jnp.int32)
        indices = jnp.clip(indices, 0, jnp.maximum(state.size - 1, 0))
        mass = state.priorities[indices]
        probabilities = mass / total
        # (size P_i)^-beta / max_j (size P_j)^-beta = (P_i / min_j P_j)^-beta, the minimum over
        # the batch or over the buffer's filled slots.
        if normalisation == "batch_max":
            least = jnp.min(mass)
        else:
            filled = jnp.arange(capacity) < state.size
            least = jnp.min(jnp.where(filled, state.priorities, jnp.inf))
        weights = (mass / least) ** -(exponent if beta is None else beta)
        items = jax.tree.map(lambda buf: buf[indices], state.items)
        return ReplaySample(indices=indices, items=items, probabilities=probabilities,
                            weights=weights)

    def update_priorities(state: ReplayState, indices: jax.Array,
                          priorities: jax.Array) -> ReplayState:
        """Sets the priorities of slots ``indices`` (e.g. ``|td|`` of a sampled batch).

        Args:
          state: the buffer.
          indices: int32[k] slots from ``sample``; repeated slots must carry equal priorities.
          priorities: float32[k] non-negative.
        """
        if indices.ndim != 1 or indices.shape != priorities.shape:
            raise ValueError(f"update_priorities takes indices int32[k] and priorities "
                             f"float32[k], got shapes {indices.shape} and {priorities.shape}")
        return state.replace(priorities=state.priorities.at[indices].set(_scaled(priorities)))

    def _scaled(priorities: jax.Array) -> jax.Array:
        return (priorities.astype(jnp.float32) + eps) ** alpha

    return PrioritizedBuffer(capacity=capacity, sample_batch_size=sample_batch_size, init=init,
                             add=add, sample=sample, update_priorities=update_priorities)
