"""ReMAADE as a query-budget searcher (ReMAADE §7, with eqs. 1 and 10-14), over any space's
string encoding.

One step of the algorithm listing is one ``update``: learn from the rewards of the batch
just queried, then sample the next batch with the new policy and keep it in the state;
``propose`` returns that stored batch (``init`` samples the first). Details the paper leaves
open, fixed here:

- **Valid strings** (line 6, "sample B valid strings"): each round draws ``pool_factor * B``
  candidates, each with its own order from ``Z_S`` (eq. 13), and keeps valid ones in draw
  order, in a bounded ``lax.while_loop`` of at most ``max_rounds`` rounds, until ``B`` are
  found: rejection sampling from the policy restricted to valid strings. If a policy ever
  puts so little mass on valid strings that ``max_rounds`` rounds fall short, the valid
  strings found are repeated to fill the batch (sampling with replacement among them), or
  if there is none, a fixed valid string (the space's sample of PRNG key 0) fills it. Every
  step proposes exactly ``B``
  valid cells, each one query.
- **Duplicates**: as the listing counts (line 10, ``e <- e + B``), every sampled string is a
  query, repeats included (``duplicates="query"``). With ``duplicates="resample"`` (ours,
  :mod:`nasjax.agents.duplicates`) a candidate whose architecture was queried in the trial, or
  is already in the batch, is rejected like an invalid one: the batch is drawn from the policy
  restricted to valid, unqueried strings, and ``log P(a)`` is again the unrestricted one.
- **Orders**: ``Z_S`` is ``S`` uniform random permutations drawn at ``init`` and fixed for
  the trial; every string draws its order uniformly from ``Z_S``. ``S = 0`` stands for
  ``S = N!``: a fresh uniform permutation per string.
- **Reward** ``f(a)``: the validation accuracy the searcher sees, as a fraction in [0, 1]
  (Adam makes the update insensitive to a constant reward scale).
- **Baseline** ``b``: "an exponential moving average of the accuracies of previously sampled
  architectures" (§3): a bias-corrected EMA over batches of the mean reward; a batch's
  advantages ``A = f(a) - b`` use ``b`` from before that batch, which is then updated with
  it. The first batch has no previous architectures; the listing (§7, line 9) updates
  ``theta`` after every batch, so the first batch's baseline is its own mean reward (ours:
  the paper does not say; with no baseline at all its advantages would be zero, and the
  first two batches would both be drawn from the uniform initial policy).
- **Gradient over valid strings**: line 6 samples "``B`` valid hyper-parameter strings";
  ``log P(a)`` in eqs. 1 and 12 is the policy's unrestricted log-probability of each valid
  string drawn (invalid draws are discarded, never queried, and enter no gradient), as the
  paper writes it. For the policy conditioned on validity, ``P(a | valid) = P(a) / P(valid)``,
  the exact gradient would also subtract ``E[A] grad log P(valid)``, which vanishes when
  ``b`` is the mean reward and which the paper does not mention; we do not add it. The
  policy is thus not taught to avoid invalid strings, only to prefer good valid ones.
- **PPO**: ``ppo_epochs`` full-batch Adam steps on the clipped surrogate per batch; with
  ``ppo_epochs = 1`` PPO's gradient equals REINFORCE's (the ratio is 1).
"""

from __future__ import annotations

import functools
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from nasjax.agents import duplicates
from nasjax.agents.base import Searcher
from nasjax.agents.remaade import losses
from nasjax.agents.remaade.policy import StringPolicy
from nasjax.benchmarks import base as bench_lib
from nasjax.spaces import base as space_lib

OBJECTIVES = ("reinforce", "ppo")
ALL_ORDERS = 0  # num_orders value meaning S = N! (a fresh permutation per string)


def fallback_string(space: space_lib.SearchSpace) -> np.ndarray:
    """int32[N]: the valid string that fills a batch when sampling finds none (the space's
    sample of PRNG key 0); a constant even when the searcher is built under a trace."""
    with jax.ensure_compile_time_eval():
        return np.asarray(space.encode(space.sample(jax.random.key(0), ())), np.int32)


@flax.struct.dataclass
class ReMAADEState:
    """Searcher state; the batch to propose next is sampled by the previous update."""

    params: Any  # policy parameters theta
    opt_state: Any  # Adam state
    baseline: losses.EmaBaseline  # b of eq. 1
    orders: jax.Array  # int32[max(S, 1), N]: the fixed set Z_S
    strings: jax.Array  # int32[B, N]: the pending batch of valid strings
    string_orders: jax.Array  # int32[B, N]: the order each pending string was sampled in
    archs: Any  # Arch[B]: the pending strings decoded
    key: jax.Array  # PRNG key for the next sampling
    memory: Any = None  # duplicates.Memory of the queried architectures ("resample"), or None


def make_remaade(space: space_lib.SearchSpace, policy: StringPolicy, *, name: str = "remaade",
                 batch_size: int = 30,
                 num_orders: int = 1, learning_rate: float | jax.Array = 1e-2,
                 objective: str = "reinforce", clip_eps: float = 0.1, ppo_epochs: int = 4,
                 ema_decay: float | jax.Array = 0.9, pool_factor: int = 2,
                 max_rounds: int = 16, duplicates_rule: str = "query",
                 budget: int = 0, ema_rest: jax.Array | None = None) -> Searcher:
    """The ReMAADE searcher over a space's string encoding.

    Args:
      space: the search space (its ``choices``, ``decode`` and sampler).
      policy: density over strings with the space's ``choices``.
      name: the searcher's name.
      batch_size: ``B``, strings sampled and queried per update.
      num_orders: ``S``, size of the set of factorization orders (0 = all ``N!``).
      learning_rate: Adam's ``alpha``; a float32[] array too (traced: sweep points vmapped
        over it, see :func:`hyperparams`).
      objective: ``"reinforce"`` (eq. 1) or ``"ppo"`` (eq. 11).
      clip_eps: PPO's ``epsilon``.
      ppo_epochs: Adam steps per batch with PPO.
      ema_decay: decay of the baseline's moving average; a float32[] array too (traced,
        then with ``ema_rest``; the caller checks its range).
      pool_factor: candidates per sampling round, in units of ``B``.
      max_rounds: bound on sampling rounds per batch.
      duplicates_rule: ``"query"`` (every sampled string is a query) or ``"resample"``.
      budget: queries of a trial; the memory's capacity (rounded up to batches) with
        ``"resample"``.
      ema_rest: float32[], ``1 - ema_decay`` computed on the host in float64 (as Python
        computes it for a float ``ema_decay``), given with a traced ``ema_decay`` so that the
        traced program computes the single run's numbers; None: ``1 - ema_decay``.
    Returns:
      A :class:`~nasjax.agents.base.Searcher` with ``batch = batch_size``.
    """
    if tuple(policy.cardinalities) != tuple(space.choices):
        raise ValueError(f"policy cardinalities {policy.cardinalities} are not the {space.name} "
                         f"string encoding's {space.choices}")
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    if min(batch_size, ppo_epochs, pool_factor, max_rounds) < 1 or num_orders < 0:
        raise ValueError("batch_size, ppo_epochs, pool_factor and max_rounds must be >= 1 and "
                         f"num_orders >= 0; got {batch_size}, {ppo_epochs}, {pool_factor}, "
                         f"{max_rounds}, {num_orders}")
    if (isinstance(ema_decay, (int, float)) and not 0.0 <= ema_decay < 1.0) or clip_eps <= 0.0:
        raise ValueError(f"need 0 <= ema_decay < 1 and clip_eps > 0; got {ema_decay}, {clip_eps}")
    duplicates.check(duplicates_rule, budget)
    resample = duplicates_rule == "resample"
    n = len(space.choices)
    fallback = fallback_string(space)
    pool = pool_factor * batch_size
    optimizer = optax.adam(learning_rate)
    epochs = ppo_epochs if objective == "ppo" else 1

    def draw_orders(key, orders, count):
        if num_orders == ALL_ORDERS:
            return jax.vmap(lambda k: jax.random.permutation(k, n))(jax.random.split(key, count))
        return orders[jax.random.randint(key, (count,), 0, num_orders)]

    def policy_sampler(params):
        return lambda key, cand_orders: jax.vmap(policy.sample, in_axes=(None, 0, 0))(
            params, jax.random.split(key, pool), cand_orders)[0]

    def uniform_sampler(key, cand_orders):
        return space_lib.uniform_strings(space, key, cand_orders.shape[:1])

    def sample_batch(sampler, key, orders, memory):
        """``B`` valid strings from ``sampler(key, orders) -> int32[pool, N]``, their orders
        and cells (see the module docstring); with a ``memory``, each a new architecture."""
        slots = jnp.arange(batch_size)

        def cond(carry):
            _, _, found, rounds, _, _ = carry
            return (found < batch_size) & (rounds < max_rounds)

        def body(carry):
            strings, string_orders, found, rounds, key, batch = carry
            key, key_orders, key_sample = jax.random.split(key, 3)
            cand_orders = draw_orders(key_orders, orders, pool)
            cand = sampler(key_sample, cand_orders)
            cand_archs, valid = space.decode(cand)
            if memory is not None:  # new to the trial, to the batch so far, and to the pool
                hashes = space.hash(cand_archs)
                valid = duplicates.first_of_equals(
                    hashes, valid & ~duplicates.contains(memory, hashes)
                    & ~duplicates.contains(batch, hashes))
                batch = duplicates.add(batch, hashes, valid)
            slot = found + jnp.cumsum(valid) - 1
            slot = jnp.where(valid & (slot < batch_size), slot, batch_size)  # out of range: drop
            strings = strings.at[slot].set(cand, mode="drop")
            string_orders = string_orders.at[slot].set(cand_orders, mode="drop")
            found = jnp.minimum(found + valid.sum(), batch_size)
            return strings, string_orders, found, rounds + 1, key, batch

        empty = jnp.zeros((batch_size, n), jnp.int32)
        batch = None if memory is None else duplicates.empty(space, batch_size)
        strings, string_orders, found, _, _, _ = jax.lax.while_loop(
            cond, body, (empty, empty, jnp.int32(0), jnp.int32(0), key, batch))
        # Short after max_rounds: repeat the valid strings found, or use the fallback string.
        repeat = jnp.where(slots < found, slots, slots % jnp.maximum(found, 1))
        strings = jnp.where(found > 0, strings[repeat], fallback)
        string_orders = jnp.where(found > 0, string_orders[repeat], orders[0])
        archs, _ = space.decode(strings)
        return strings, string_orders, archs

    def init(key):
        key_params, key_orders, key_sample, key_next = jax.random.split(key, 4)
        params = policy.init(key_params)
        orders = jax.vmap(lambda k: jax.random.permutation(k, n))(
            jax.random.split(key_orders, max(num_orders, 1))).astype(jnp.int32)
        # Every policy starts uniform (zero density layer), so the first batch is drawn
        # from uniform strings: the same distribution, without a second copy of the sampler.
        capacity = -(-budget // batch_size) * batch_size  # the trial's queries, whole batches
        memory = duplicates.empty(space, capacity) if resample else None
        strings, string_orders, archs = sample_batch(uniform_sampler, key_sample, orders, memory)
        return ReMAADEState(params=params, opt_state=optimizer.init(params),
                            baseline=losses.ema_init(), orders=orders, strings=strings,
                            string_orders=string_orders, archs=archs, key=key_next,
                            memory=memory)

    def propose(state, key):
        del key  # the batch was sampled when the state was made
        return state.archs

    def batch_log_prob(params, strings, string_orders):
        return jax.vmap(policy.log_prob, in_axes=(None, 0, 0))(params, strings, string_orders)

    def update(state, archs, metrics: bench_lib.Metrics):
        del archs  # the state holds the strings behind them
        counted = metrics.valid & jnp.isfinite(metrics.val_acc)  # absent cells teach nothing
        weight = counted.astype(jnp.float32)
        reward = jnp.where(counted, metrics.val_acc, 0.0)
        count = weight.sum()
        baseline = jax.tree.map(
            lambda new, old: jnp.where(count > 0, new, old),
            losses.ema_update(state.baseline, (reward * weight).sum() / jnp.maximum(count, 1.0),
                              ema_decay, ema_rest),
            state.baseline)
        # b is the EMA of *previously* sampled architectures (ReMAADE §3): the batch's own
        # rewards enter it only after its advantages. The first batch, with none before it,
        # uses its own mean reward (the EMA just updated with it; see the module docstring).
        seen_before = state.baseline.denominator > 0
        b = jnp.where(seen_before, losses.ema_value(state.baseline), losses.ema_value(baseline))
        adv = (reward - b) * weight
        log_pi_old = batch_log_prob(state.params, state.strings, state.string_orders)

        def loss_fn(params):
            log_pi = batch_log_prob(params, state.strings, state.string_orders)
            if objective == "ppo":
                per_string = jax.vmap(functools.partial(losses.ppo_clip_loss, epsilon=clip_eps))(
                    log_pi, log_pi_old, adv)
            else:
                per_string = jax.vmap(losses.reinforce_loss)(log_pi, adv)
            return (per_string * weight).sum() / batch_size  # the 1/B sum of eq. 13

        def adam_step(_, carry):
            params, opt_state = carry
            grads = jax.grad(loss_fn)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        params, opt_state = jax.lax.fori_loop(0, epochs, adam_step,
                                              (state.params, state.opt_state))
        key_sample, key_next = jax.random.split(state.key)
        memory = state.memory
        if resample:
            memory = duplicates.add(memory, space.hash(state.archs))
        strings, string_orders, next_archs = sample_batch(policy_sampler(params), key_sample,
                                                           state.orders, memory)
        return ReMAADEState(params=params, opt_state=opt_state, baseline=baseline,
                            orders=state.orders, strings=strings, string_orders=string_orders,
                            archs=next_archs, key=key_next, memory=memory)

    return Searcher(name=name, batch=batch_size, init=init, propose=propose, update=update)
