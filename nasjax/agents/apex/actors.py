"""Ape-X actors: epsilon-greedy workers filling the replay with 3-step transitions.

Ape-X (Horgan et al. 2018, §3, Alg. 1) as Cassimon et al. §4.1.1 ran it: ``W`` workers of
``E_w`` vectorised environments each (8 x 32 in the paper), here stepped as one batch of
``E = W * E_w`` environments. Worker ``i`` explores with
``eps_i = eps^(1 + exponent * i / (W - 1))`` (Horgan et al. §4.1, ``eps = 0.4``,
``exponent = 7``: RLlib's ``PerWorkerEpsilonGreedy``); a random action is drawn uniformly among
the *valid* actions (the observation's ``action_mask``), so an actor never picks a padding slot.
Actors act with their own copy of the parameters, refreshed by the learner
(:mod:`~nasjax.agents.apex.train`).

Reward scale. The environment's reward is a difference of ``exp(alpha * (acc - 1))``
(:mod:`nasjax.env`); the paper's is of ``exp(alpha * acc)`` (Cassimon et al. §3.2.2),
``exp(alpha)`` times larger (~400 at alpha = 6). The actors multiply the rewards they store by
``reward_scale`` (:func:`reward_factor`: 1, or ``exp(alpha)`` for the paper's scale); the scale
decides whether the Huber loss of the learner works in its quadratic or linear regime. Both may
be traced, so that sweep points over alpha train together (Fig. 19).

Transitions. Every environment keeps its last ``n`` steps (``n = 3``, Cassimon et al. §3.2.3);
after each step the window of those ``n`` steps becomes one replay item: the state where the
window's first action was taken, that action, the n-step return and discount of
:func:`~nasjax.agents.apex.losses.n_step_return` (a window stops at the first episode end:
``terminated`` does not bootstrap, ``truncated`` bootstraps from the final observation before
the reset, ``info["final_obs"]``) and the state to bootstrap from. Its initial priority is the
actor's ``|td|`` (Ape-X, Alg. 1): ``q(s_0, a_0)`` from acting, and the bootstrap value
``max_a q(s_m, a)`` from a forward pass over each step's final observation, both with the
actor's parameters (no target network at the actor, as in Ape-X).

Sharding. With ``shards = D`` the ``E`` environments split into ``D`` equal shards (one per
device, :mod:`~nasjax.agents.apex.train`): ``init(key, params, shard)`` builds shard
``shard``'s ``E / D`` environments with their workers' epsilons, and ``step`` steps one shard.

Items are compact: an observation is kept as the nodes it is built from (the current node,
the ``N`` presented neighbours as the neighbourhood gives them, the action mask; on
NAS-Bench-101 with the neighbour table, ``N + 1`` int32 rows), and the learner rebuilds tokens
with :func:`nasjax.env.observation_of`. The environment state does not keep the random word
that chose the presented subset, so the presented neighbours themselves are stored; this also
spares the learner a second draw of the neighbourhood (on NAS-Bench-301, generating every
neighbour of a genotype).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from nasjax import config_fields, env
from nasjax import config_rules as rules
from nasjax.agents.apex import losses, network
from nasjax.config_fields import field

# The exploration fields of an Ape-X config: the per-worker epsilon schedule (Horgan et al. §4.1).
FIELDS = config_fields.block(
    epsilon=field(0.4, rules.fraction(), "eps_i = epsilon^(1 + exponent i / (W - 1)) (§4.1.1, "
                  "RLlib default)"),
    epsilon_exponent=field(7.0, rules.number(0.0), "the schedule's alpha (§4.1.1, RLlib default)"),
)
REWARD_SCALES = ("unit", "paper")  # exp(alpha * (acc - 1)) differences, or exp(alpha * acc)'s


@flax.struct.dataclass
class Presented:
    """An observation, compactly: what :func:`nasjax.env.observation_of` rebuilds it from."""

    node: Any  # Node: the current architecture
    neighbours: Any  # Node[N]: presented neighbours as the neighbourhood gives them
    action_mask: jax.Array  # bool[N + 1]


@flax.struct.dataclass
class Transition:
    """A replay item: an n-step window (Ape-X; Cassimon et al. §3.2.3)."""

    obs_tm1: Presented  # where a_tm1 was taken
    a_tm1: jax.Array  # int32[]
    r_t: jax.Array  # float32[]: n-step return (losses.n_step_return)
    discount_t: jax.Array  # float32[]: gamma^m, 0 when the window terminated
    obs_t: Presented  # the state to bootstrap from


@flax.struct.dataclass
class Step:
    """One environment step as an actor remembers it (leaves ``[E, n, ...]`` in history)."""

    obs: Presented  # where the action was taken
    action: jax.Array  # int32[]
    q_taken: jax.Array  # float32[]: the actor's q(obs, action)
    reward: jax.Array  # float32[]
    terminated: jax.Array  # bool[]
    truncated: jax.Array  # bool[]
    end: Presented  # the state reached, before any auto-reset (info["final_obs"])
    end_value: jax.Array  # float32[]: the actor's max_a q(end, a)


@flax.struct.dataclass
class ActorState:
    """The actors' environments and their last ``n`` steps."""

    env_state: env.EnvState  # leaves [E, ...]
    history: Step  # leaves [E, n, ...], oldest first
    epsilons: jax.Array  # float32[E]: each environment's exploration rate (its worker's)


@flax.struct.dataclass
class ActorStats:
    """What one batched actor step saw (scalars, summed over environments)."""

    episodes: jax.Array  # int32[]: episodes that ended with this step
    final_acc_sum: jax.Array  # float32[]: sum of their final validation accuracies


@dataclasses.dataclass(frozen=True)
class Actors:
    """Batched Ape-X actors as pure functions (their settings bound by :func:`make_actors`).

    ``init(key, params, shard=0, all_epsilons=epsilons, alpha=alpha,
    reward_scale=reward_scale) -> (ActorState, ActorStats)`` resets the environments of one
    shard and takes the ``n - 1`` steps that fill every history (the stats count the episodes
    those steps ended); ``step(state, params, key, gamma=gamma, alpha=alpha,
    reward_scale=reward_scale) -> (state, Transition[E_s], priorities float32[E_s],
    ActorStats)`` takes one step of every environment of a shard (``E_s = num_envs / shards``;
    one shard holds them all by default). The exploration rates, the discount, the shaping
    exponent and the reward scale default to the bound ones; sweep points trained together
    pass their own (traced; ``alpha`` stays None where the environment does not shape).
    """

    num_envs: int
    envs_per_shard: int
    epsilons: jax.Array  # float32[E]
    init: Callable[..., tuple[ActorState, ActorStats]]
    step: Callable[..., tuple[ActorState, Transition, jax.Array, ActorStats]]


def worker_epsilons(num_workers: int, envs_per_worker: int,
                    epsilon: float = FIELDS["epsilon"].default,
                    exponent: float = FIELDS["epsilon_exponent"].default) -> jax.Array:
    """``float32[W * E_w]``: ``eps_i = epsilon^(1 + exponent * i / (W - 1))`` for the
    environments of worker ``i`` (Horgan et al. §4.1); ``epsilon`` alone for one worker."""
    i = jnp.arange(num_workers, dtype=jnp.float32)
    power = 1.0 + exponent * i / max(num_workers - 1, 1)
    return jnp.repeat(jnp.float32(epsilon) ** power, envs_per_worker)


def epsilon_greedy(q: jax.Array, action_mask: jax.Array, epsilon: jax.Array,
                   key: jax.Array) -> jax.Array:
    """The greedy valid action, or w.p. ``epsilon`` one drawn uniformly among valid actions.

    Args:
      q: float32[A] Q-values.
      action_mask: bool[A] valid actions (slot 0 always).
      epsilon: float32[] exploration probability.
      key: PRNG key.
    Returns:
      int32[] action.
    """
    key_explore, key_action = jax.random.split(key)
    r = jax.random.randint(key_action, (), 0, action_mask.sum())
    uniform = jnp.argmax(jnp.cumsum(action_mask) > r).astype(jnp.int32)
    greedy = network.masked_argmax(q, action_mask)
    return jnp.where(jax.random.uniform(key_explore) < epsilon, uniform, greedy)


def presented_state(state: env.EnvState) -> Presented:
    """The compact observation of an environment state."""
    return Presented(node=state.node, neighbours=state.neighbours, action_mask=state.action_mask)


def presented_obs(obs: env.Observation) -> Presented:
    """The compact form of one environment's observation (``nodes``: current first)."""
    return Presented(node=jax.tree.map(lambda x: x[0], obs.nodes),
                     neighbours=jax.tree.map(lambda x: x[1:], obs.nodes),
                     action_mask=obs.action_mask)


def observation(presented: Presented, params: env.EnvParams) -> env.Observation:
    """The full observation (tokens) of a compact one (one environment; vmap for a batch)."""
    return env.observation_of(presented.node, presented.neighbours, presented.action_mask,
                              params)


def reward_factor(name: str, alpha: float | None) -> float:
    """The factor from the environment's reward to the stored one: 1 for ``"unit"``,
    ``exp(alpha)`` for ``"paper"`` (Cassimon et al. §3.2.2's ``exp(alpha * acc)``; 1 without
    shaping, whose reward is the accuracy itself either way)."""
    if name not in REWARD_SCALES:
        raise ValueError(f"reward_scale must be one of {REWARD_SCALES}, got {name!r}")
    return 1.0 if name == "unit" or alpha is None else math.exp(alpha)


def final_accuracy(acc_before: jax.Array, reward: jax.Array,
                   alpha: float | jax.Array | None) -> jax.Array:
    """The validation accuracy a step reached, from the one it left and its reward.

    The reward is ``shaped(acc_after) - shaped(acc_before)`` (Cassimon et al. §3.2.2,
    :func:`nasjax.env.shaped_reward`), so ``acc_after = shaped^-1(shaped(acc_before) + r)``.
    """
    if alpha is None:
        return acc_before + reward
    return 1.0 + jnp.log(env.shaped_reward(acc_before, alpha) + reward) / alpha


def window(history: Step, gamma: float) -> tuple[Transition, jax.Array]:
    """The replay item of one environment's last ``n`` steps, and its initial priority.

    Args:
      history: Step with leaves ``[n, ...]``, oldest first.
      gamma: discount.
    Returns:
      (Transition, float32[] priority ``|td|`` with the actor's values).
    """
    ret = losses.n_step_return(history.reward, history.terminated, history.truncated, gamma)
    last = ret.steps - 1
    obs_t = jax.tree.map(lambda x: x[last], history.end)
    item = Transition(obs_tm1=jax.tree.map(lambda x: x[0], history.obs),
                      a_tm1=history.action[0], r_t=ret.return_t, discount_t=ret.discount_t,
                      obs_t=obs_t)
    td = ret.return_t + ret.discount_t * history.end_value[last] - history.q_taken[0]
    return item, jnp.abs(td)


def make_actors(net: network.QNetwork, env_params: env.EnvParams, *, num_workers: int,
                envs_per_worker: int, epsilon: float, epsilon_exponent: float,
                n_step: int, gamma: float, shards: int = 1,
                reward_scale: float = 1.0) -> Actors:
    """Ape-X actors over ``num_workers * envs_per_worker`` environments (see the module
    docstring).

    Args:
      net: the Q-network (the actors' parameters are passed to ``step``).
      env_params: the training environment (16-step episodes, §4.1.1).
      num_workers: W, workers (each with its own epsilon).
      envs_per_worker: E_w, environments per worker.
      epsilon: base epsilon of the per-worker schedule.
      epsilon_exponent: its exponent.
      n_step: n, steps per replay window.
      gamma: discount of the n-step returns.
      shards: D, equal shards of the environments (one per device).
      reward_scale: factor on the rewards the items carry (:func:`reward_factor`).
    Returns:
      Actors.
    Raises:
      ValueError: when D does not divide the environments.
    """
    num_envs = num_workers * envs_per_worker
    if shards < 1 or num_envs % shards:
        raise ValueError(f"{num_envs} environments ({num_workers} workers x {envs_per_worker}) "
                         f"do not split into {shards} equal shards")
    per_shard = num_envs // shards
    epsilons = worker_epsilons(num_workers, envs_per_worker, epsilon, epsilon_exponent)
    alpha = env_params.alpha
    v_observe = jax.vmap(env.observe, in_axes=(0, None))
    v_step = jax.vmap(env.step_auto_reset, in_axes=(0, 0, 0, None, None))
    v_act = jax.vmap(epsilon_greedy)
    v_window = jax.vmap(window, in_axes=(0, None))

    def env_step(env_state: env.EnvState, epsilons: jax.Array, params, key: jax.Array,
                 alpha: float | jax.Array | None, reward_scale: float | jax.Array):
        """One step of a shard's environments: (env_state, Step[E_s], ActorStats)."""
        key_act, key_env = jax.random.split(key)
        obs = v_observe(env_state, env_params)
        q = net.apply(params, obs.tokens, obs.action_mask)  # [E_s, N+1]
        action = v_act(q, obs.action_mask, epsilons, jax.random.split(key_act, per_shard))
        _, next_state, reward, terminated, truncated, info = v_step(
            jax.random.split(key_env, per_shard), env_state, action, env_params, alpha)
        final = info["final_obs"]
        end_q = net.apply(params, final.tokens, final.action_mask)
        acc = final_accuracy(env_state.acc, reward, alpha)
        reward = reward * jnp.float32(reward_scale)  # exact where the scale is 1
        record = Step(obs=presented_state(env_state), action=action,
                      q_taken=jnp.take_along_axis(q, action[:, None], axis=1)[:, 0],
                      reward=reward, terminated=terminated, truncated=truncated,
                      end=jax.vmap(presented_obs)(final),
                      end_value=network.masked_max(end_q, final.action_mask))
        done = terminated | truncated
        stats = ActorStats(episodes=done.sum().astype(jnp.int32),
                           final_acc_sum=jnp.sum(jnp.where(done, acc, 0.0)))
        return next_state, record, stats

    def init(key: jax.Array, params, shard: int | jax.Array = 0,
             all_epsilons: jax.Array = epsilons, alpha: float | jax.Array | None = alpha,
             reward_scale: float | jax.Array = reward_scale) -> tuple[ActorState, ActorStats]:
        """Fresh episodes in every environment of a shard, then ``n - 1`` steps into the
        histories; the stats of those steps, summed. ``all_epsilons`` (float32[E], every
        shard's environments), ``alpha`` and ``reward_scale`` (float32[] when traced) default
        to the bound ones; a sweep point passes its own."""
        key_reset, key_steps = jax.random.split(key)
        _, env_state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(key_reset, per_shard), env_params)
        shard_epsilons = jax.lax.dynamic_slice_in_dim(all_epsilons, shard * per_shard,
                                                      per_shard)

        def fill(env_state, key):
            env_state, record, stats = env_step(env_state, shard_epsilons, params, key, alpha,
                                                reward_scale)
            return env_state, (record, stats)

        env_state, (records, stats) = jax.lax.scan(fill, env_state,
                                                   jax.random.split(key_steps, n_step - 1))
        # [n-1, E] -> [E, n-1]; a zero step in front is dropped by the first ``step``.
        records = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), records)
        _, first, _ = jax.eval_shape(env_step, env_state, shard_epsilons, params, key, alpha,
                                     reward_scale)
        blank = jax.tree.map(lambda s: jnp.zeros((per_shard, 1, *s.shape[1:]), s.dtype), first)
        history = jax.tree.map(lambda a, b: jnp.concatenate([a, b], axis=1), blank, records)
        stats = jax.tree.map(lambda x: jnp.sum(x, axis=0), stats)
        return ActorState(env_state=env_state, history=history, epsilons=shard_epsilons), stats

    def step(state: ActorState, params, key: jax.Array, gamma: float | jax.Array = gamma,
             alpha: float | jax.Array | None = alpha,
             reward_scale: float | jax.Array = reward_scale):
        """Every environment steps once; each yields the item of its last ``n`` steps
        (``gamma``, ``alpha``, ``reward_scale``, float32[] when traced: the discount of their
        returns, the shaping exponent and the reward scale, by default the bound ones)."""
        env_state, record, stats = env_step(state.env_state, state.epsilons, params, key, alpha,
                                            reward_scale)
        history = jax.tree.map(lambda h, r: jnp.concatenate([h[:, 1:], r[:, None]], axis=1),
                               state.history, record)
        items, priorities = v_window(history, gamma)
        return state.replace(env_state=env_state, history=history), items, priorities, stats

    return Actors(num_envs=num_envs, envs_per_shard=per_shard, epsilons=epsilons, init=init,
                  step=step)
