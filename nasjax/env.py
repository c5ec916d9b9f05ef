"""The incremental NAS MDP of Cassimon et al. §3.2 over any search space, gymnax style.

A state is an architecture; the agent sees it and up to ``N`` of its neighbours (a uniform
random subset when it has more, §3.2.1), their token features (§3.2.3) and an action mask.
Action ``0`` stays and **terminates** the episode (no bootstrap); action ``k`` in ``1..N``
moves to the ``k``-th presented neighbour. A masked action (a padding slot) or one outside
``0..N`` is treated as ``0``: the agent stays, the episode terminates and
``info["invalid_action"]`` is True; it never moves to a padding slot, so a policy that samples
among the actions of ``action_mask`` can never pick it. An episode that reaches
``episode_length`` steps (16 in training, 32 in evaluation) without terminating is
**truncated**: a learner bootstraps there (partial episode bootstrapping, §3.2.3).

The reward of every move ``s -> s'``, the first included, is ``shaped(s') - shaped(s)`` with
``shaped(acc) = exp(alpha * (acc - 1))`` of the validation accuracy (§3.2.2), so an episode's
return is ``shaped(final) - shaped(initial)``. The paper's ``exp(alpha * acc)`` is this times
the constant ``exp(alpha)``: the same ordering and optimal policy, with Q-values of order 1
even at alpha = 32 (the Ape-X agent's ``reward_scale = "paper"`` multiplies its rewards back by
``exp(alpha)``). The paper's reward 0 on the "first timestep" is the reset, which has no
reward. ``alpha=None`` uses the accuracy itself. :func:`step_auto_reset` takes a traced
``alpha`` in place of the static one where shaping is on, so Ape-X sweep points that differ in
alpha train as one program.

The space, its neighbourhood strategy (:class:`~nasjax.spaces.base.Neighbourhood`: the
NAS-Bench-101 table or the on-the-fly edits, which give identical episodes for the same keys)
and the benchmark's oracle are fixed by :func:`make_params`; the environment never branches on
them. The state holds the neighbourhood's nodes; the observation (architectures, tokens) is
built from them by :func:`observe`, so under ``jit`` a policy that reads only the mask never
materialises it.

An invalid or absent initial architecture gives ``acc = NaN`` and ``valid = False`` in the
state; :func:`check_initial` rejects such initial states on the host with a clear error.
"""

from __future__ import annotations

import math
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from nasjax import config_fields, registry
from nasjax import config_rules as rules
from nasjax.benchmarks import base as bench_lib
from nasjax.config_fields import REQUIRED, field
from nasjax.spaces import base as space_lib

REPORT_METRICS = ("test", "val")  # the accuracy an episode reports

# The ``env`` block of the experiment configs (Cassimon et al. §§3.2.2, 4.1.1, 4.2.1). N, alpha
# and the neighbour strategy are the space's: its registration gives them (``env=...``).
FIELDS = config_fields.block(
    max_neighbours=field(REQUIRED, rules.positive_int(),
                         "N, neighbours presented per step (§4.1.1, §5.2)"),
    alpha=field(REQUIRED, rules.number(0.0, low_open=True),
                "reward shaping exponent; None = no shaping (§5.3)"),
    train_episode_length=field(16, rules.positive_int(), "training episodes (§4.1.1)"),
    eval_episode_length=field(32, rules.positive_int(), "evaluation episodes (§4.1.1)"),
    query_mode=field("mean", rules.one_of("mean", "noisy"),
                     "reward: mean of repeats/members (reduced-noise setting)"),
    neighbourhood=field(REQUIRED, rules.one_of("on_the_fly", "table"), "neighbour strategy"),
)


def config(space: str) -> ml_collections.ConfigDict:
    """The ``env`` block of a registered space: :data:`FIELDS` with the space's own defaults.

    Raises:
      ValueError: for an unknown space, or one whose registration lacks a default.
    """
    own = registry.entry("space", space).info.get("env", {})
    try:
        return FIELDS.config(**own)
    except ValueError as error:
        raise ValueError(f"space {space!r}: {error} (register it with env={{...}})") from None


@flax.struct.dataclass
class EnvParams:
    """Environment parameters: the neighbourhood and oracle are pytrees (jit arguments), the
    rest static. The reward uses validation accuracy; ``report_metric`` picks the accuracy
    reported."""

    neighbourhood: Any  # the space's Neighbourhood strategy
    oracle: Any  # the benchmark bound to the neighbourhood: oracle.metrics(node, key, mode)
    space: space_lib.SearchSpace = flax.struct.field(pytree_node=False)
    max_neighbours: int = flax.struct.field(pytree_node=False)
    alpha: float | None = flax.struct.field(pytree_node=False)
    episode_length: int = flax.struct.field(pytree_node=False)
    query_mode: str = flax.struct.field(pytree_node=False)
    report_metric: str = flax.struct.field(pytree_node=False)


def make_params(space: space_lib.SearchSpace, bench, *, max_neighbours: int,
                alpha: float | None, episode_length: int, query_mode: str = "mean",
                report_metric: str | None = None) -> EnvParams:
    """Environment parameters (the values of Cassimon et al. §4.1.1 live in ``configs/``).

    Args:
      space: the search space, with the neighbourhood strategy to use.
      bench: a benchmark of that space; its validation accuracy is the reward signal.
      max_neighbours: N >= 1, neighbours presented per step.
      alpha: reward shaping exponent (finite, >= 0), None for no shaping.
      episode_length: steps before an episode is truncated (>= 1).
      query_mode: ``mean`` (the papers' reduced-noise setting) or ``noisy``.
      report_metric: ``test`` or ``val``; default test where the benchmark has it, else val.
    Raises:
      ValueError naming the bad argument.
    """
    if bench.space != space.name:
        raise ValueError(f"benchmark {bench.name} scores the {bench.space} space, not {space.name}")
    if report_metric is None:
        report_metric = "test" if bench.has_test else "val"
    if report_metric not in REPORT_METRICS:
        raise ValueError(f"report_metric must be 'test' or 'val', got {report_metric!r}")
    if report_metric == "test" and not bench.has_test:
        raise ValueError(f"benchmark {bench.name} has no test accuracy; use report_metric='val'")
    if query_mode not in bench_lib.QUERY_MODES:
        raise ValueError(f"query_mode must be 'mean' or 'noisy', got {query_mode!r}")
    if int(max_neighbours) < 1:
        raise ValueError(f"max_neighbours must be >= 1, got {max_neighbours}")
    if int(episode_length) < 1:
        raise ValueError(f"episode_length must be >= 1, got {episode_length}")
    if alpha is not None and not (math.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be a finite number >= 0 (or None for no shaping), got "
                         f"{alpha}")
    neighbourhood = space.neighbourhood
    return EnvParams(neighbourhood=neighbourhood, oracle=bench_lib.bind(bench, neighbourhood),
                     space=space, max_neighbours=int(max_neighbours),
                     alpha=None if alpha is None else float(alpha),
                     episode_length=int(episode_length), query_mode=query_mode,
                     report_metric=report_metric)


def num_actions(params: EnvParams) -> int:
    """Actions per step: "stay" and one per presented neighbour (N + 1)."""
    return params.max_neighbours + 1


@flax.struct.dataclass
class Observation:
    """What the agent sees (one environment; batch axes lead when vmapped)."""

    arch: Any  # Arch: the current architecture (representative form)
    neighbours: Any  # Arch[N]: presented neighbours, padding where masked
    tokens: jax.Array  # float32[N + 1, D]: tokens of the current architecture, then neighbours;
    # zeros at padding
    action_mask: jax.Array  # bool[N + 1]; slot 0 (stay) always True
    nodes: Any  # Node[N + 1]: the neighbourhood's handles of the current architecture and the
    # presented neighbours, so a policy that queries the benchmark (local search) scores them
    # through the oracle without re-hashing architectures


@flax.struct.dataclass
class EnvState:
    """The environment's state (a pytree)."""

    node: Any  # the current architecture's node (settled)
    neighbours: Any  # Node[N]: presented neighbours, as the neighbourhood gives them
    action_mask: jax.Array  # bool[N + 1]
    acc: jax.Array  # float32[]: validation accuracy of the current architecture (reward signal)
    report_acc: jax.Array  # float32[]: reported accuracy of the current architecture
    valid: jax.Array  # bool[]: the current architecture is valid and in the benchmark
    num_neighbours: jax.Array  # int32[]: all neighbours of the current architecture
    t: jax.Array  # int32[]: steps taken in this episode


def shaped_reward(acc: jax.Array, alpha: float | None) -> jax.Array:
    """``exp(alpha * (acc - 1))`` (Cassimon et al. §3.2.2, scaled by ``exp(-alpha)``); the
    accuracy itself when ``alpha`` is None."""
    return acc if alpha is None else jnp.exp(alpha * (acc - 1.0))


def _present(seed: jax.Array, params: EnvParams, node, acc, report, valid, t) -> EnvState:
    """The state at ``node``: a random subset of its neighbours."""
    neighbours, mask, count = params.neighbourhood.present(seed, node, params.max_neighbours)
    return EnvState(node=node, neighbours=neighbours,
                    action_mask=jnp.concatenate([jnp.ones(1, bool), mask]),
                    acc=acc, report_acc=report, valid=valid, num_neighbours=count, t=t)


def observation_of(node, neighbours, action_mask: jax.Array, params: EnvParams) -> Observation:
    """The observation of stored nodes (one environment): what :func:`observe` gives for a
    state with these fields, for replay buffers that store nodes instead of tokens."""
    nh = params.neighbourhood
    arch = nh.arch(node)
    shown = space_lib.select(action_mask[1:], nh.arch(nh.settle(neighbours)),
                             params.space.padding((params.max_neighbours,)))
    every = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), arch, shown)
    tokens = jnp.where(action_mask[:, None], params.space.tokens(every), 0.0)
    nodes = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), node, neighbours)
    return Observation(arch=arch, neighbours=shown, tokens=tokens, action_mask=action_mask,
                       nodes=nodes)


def observe(state: EnvState, params: EnvParams) -> Observation:
    """The observation of a state (built only where a policy reads it)."""
    return observation_of(state.node, state.neighbours, state.action_mask, params)


def _accuracies(key, params: EnvParams, node):
    """(validation accuracy for the reward, reported accuracy, valid) of a node."""
    mean = params.oracle.metrics(node)
    reported = mean.test_acc if params.report_metric == "test" else mean.val_acc
    if params.query_mode == "mean":
        return mean.val_acc, reported, mean.valid
    return params.oracle.metrics(node, key, "noisy").val_acc, reported, mean.valid


def _initial(key, params: EnvParams, initial):
    """The parts of a fresh episode's state, and the random word for its presentation."""
    key_arch, key_present, key_query = jax.random.split(key, 3)
    if initial is None:  # from the space's sampler
        node = params.neighbourhood.sample(key_arch)
    else:
        node = params.neighbourhood.locate(initial)
    accuracies = _accuracies(key_query, params, node)
    return (node, *accuracies, jnp.int32(0)), jax.random.bits(key_present, dtype=jnp.uint32)


def reset(key: jax.Array, params: EnvParams, initial=None) -> tuple[Observation, EnvState]:
    """Start an episode at ``initial`` (one architecture) or at one from the space's sampler.

    An invalid ``initial`` (or one absent from the benchmark; :func:`check_initial` refuses
    those on the host) masks every action but "stay", whose reward is 0.

    Returns ``(obs, state)`` for one environment; ``vmap`` for many.

    Raises:
      TypeError: when ``initial`` is not one architecture of the space.
    """
    if initial is not None:
        params.space.check_arch(initial, batch_ndim=0)
    parts, seed = _initial(key, params, initial)
    state = _present(seed, params, *parts)
    if initial is not None:  # an invalid cell has no neighbours to move to: only "stay"
        state = state.replace(action_mask=state.action_mask.at[1:].set(
            state.action_mask[1:] & state.valid))
    return observe(state, params), state


def _shaping(params: EnvParams, alpha: jax.Array | None) -> float | jax.Array | None:
    """The reward's shaping exponent: ``params.alpha``, or ``alpha`` (float32[], traced) in its
    place where shaping is on.

    Raises:
      ValueError: ``alpha`` given while ``params.alpha`` is None (no shaping: another reward).
    """
    if alpha is None:
        return params.alpha
    if params.alpha is None:
        raise ValueError("an alpha override needs reward shaping on; these params have "
                         "alpha=None (the accuracy itself)")
    return alpha


def _transition(key, state: EnvState, action: jax.Array, params: EnvParams,
                alpha: jax.Array | None = None):
    """Where ``action`` leads: the next state's parts, reward, terminated, truncated, info
    (``alpha``: :func:`_shaping`'s override)."""
    alpha = _shaping(params, alpha)
    n = params.max_neighbours
    index = jnp.clip(action, 0, n)
    allowed = (action >= 0) & (action <= n) & state.action_mask[index]
    move = allowed & (index > 0)
    chosen = jax.tree.map(lambda x: x[jnp.maximum(index - 1, 0)], state.neighbours)
    there = params.neighbourhood.settle(chosen)
    node = jax.tree.map(lambda a, b: jnp.where(move, a, b), there, state.node)
    acc, report, valid = _accuracies(key, params, node)
    acc = jnp.where(move, acc, state.acc)
    report = jnp.where(move, report, state.report_acc)
    valid = jnp.where(move, valid, state.valid)
    # staying earns 0 (also at an invalid architecture, whose accuracy is NaN)
    reward = jnp.where(move, shaped_reward(acc, alpha) - shaped_reward(state.acc, alpha), 0.0)
    t = state.t + 1
    terminated = ~move
    truncated = move & (t >= params.episode_length)
    info = {"invalid_action": ~allowed, "moved": move}
    return (node, acc, report, valid, t), reward.astype(jnp.float32), terminated, truncated, info


def step(key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams):
    """One transition: ``(obs, state, reward, terminated, truncated, info)``, one environment.

    ``info`` holds ``invalid_action`` (a masked or out-of-range action, treated as "stay"),
    ``moved`` and ``final_obs`` (here the returned observation itself; see
    :func:`step_auto_reset`).
    """
    key_present, key_query = jax.random.split(key)
    parts, reward, terminated, truncated, info = _transition(key_query, state, action, params)
    next_state = _present(jax.random.bits(key_present, dtype=jnp.uint32), params, *parts)
    obs = observe(next_state, params)
    return obs, next_state, reward, terminated, truncated, {**info, "final_obs": obs}


def step_auto_reset(key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams,
                    alpha: jax.Array | None = None):
    """:func:`step`, then a fresh episode (from the sampler) wherever it terminated or was
    truncated. ``alpha`` (float32[], traced), where ``params`` shape the reward, replaces
    ``params.alpha`` in it (sweep points over alpha train as one program); None keeps it.

    Exactly ``step(k1, ...)`` where the episode goes on and ``reset(k2, ...)`` where it ended,
    for ``k1, k2 = split(key)``; the reward, flags and info are the step's, and
    ``info["final_obs"]`` is the observation the step reached before the reset (where a
    truncated episode bootstraps). Neighbours are presented once for the kept state and once
    for the ended one only where ``final_obs`` is read.
    """
    key_step, key_reset = jax.random.split(key)
    key_present, key_query = jax.random.split(key_step)
    parts, reward, terminated, truncated, info = _transition(key_query, state, action, params,
                                                             alpha)
    done = terminated | truncated
    fresh, fresh_seed = _initial(key_reset, params, None)
    step_seed = jax.random.bits(key_present, dtype=jnp.uint32)
    pick = lambda new, old: jax.tree.map(lambda a, b: jnp.where(done, a, b), new, old)  # noqa: E731
    next_state = _present(jnp.where(done, fresh_seed, step_seed), params, *pick(fresh, parts))
    final_obs = observe(_present(step_seed, params, *parts), params)
    return (observe(next_state, params), next_state, reward, terminated, truncated,
            {**info, "final_obs": final_obs})


def check_initial(params: EnvParams, archs) -> None:
    """Host-side: raise ValueError naming the initial architectures (batch ``Arch[E]``) that
    are invalid or absent from the benchmark (their episodes would have NaN accuracies), and
    TypeError naming the expected type when ``archs`` is not a batch of the space's."""
    params.space.check_arch(archs, batch_ndim=1)
    valid = np.asarray(_initial_valid(params, archs))
    if not valid.all():
        bad = np.flatnonzero(~valid)
        raise ValueError(f"{len(bad)} of {len(valid)} initial architectures are invalid or not in "
                         f"the benchmark (first at index {int(bad[0])}); episodes from them "
                         "would have no accuracy")


@jax.jit
def _initial_valid(params: EnvParams, archs) -> jax.Array:
    return jax.vmap(lambda a: params.oracle.metrics(params.neighbourhood.locate(a)).valid)(archs)
