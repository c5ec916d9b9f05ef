"""Loss primitives of the Ape-X agent (Cassimon et al. §3.2.3), rlax style.

The agent learns with 3-step double Q-learning against a target network, a Huber loss and
partial episode bootstrapping (PEB). Every function here is unbatched (one transition or one
window) and checks its ranks with chex; the learner vmaps and averages. Names follow rlax:
``q_tm1`` / ``a_tm1`` at the window's first state, ``r_t`` / ``discount_t`` for what leads to
the bootstrap state, ``q_t_*`` at that state. Rewards are used as they come: no clipping (the
shaped rewards of §3.2.2 are already of order one).

PEB (Pardo et al. 2018, "Time Limits in Reinforcement Learning", §3): a time limit is not part
of the task, so a window cut by ``truncated`` bootstraps from the last observation before the
reset (the environment's ``info["final_obs"]``), and only ``terminated`` (the agent chose
"stay") stops bootstrapping. Trained on 16-step episodes, the agent thus values states as in
episodes of unbounded length (§3.2.3, §4.1.1).
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

from nasjax import config_fields
from nasjax import config_rules as rules
from nasjax.agents.apex import network
from nasjax.config_fields import field

# The loss fields of an Ape-X config.
FIELDS = config_fields.block(
    n_step=field(3, rules.int_range(1, 64), "n-step bootstrapping (§3.2.3)"),
    huber_delta=field(1.0, rules.number(0.0, low_open=True),
                      "Huber threshold (RLlib DQN's huber_loss default)"),
)


class NStepReturn(NamedTuple):
    """The bootstrapped target's ingredients for one window (scalars)."""

    return_t: chex.Array  # float32[]: sum_{k<steps} gamma^k r_{k+1}
    discount_t: chex.Array  # float32[]: gamma^steps, or 0 when the window terminated
    steps: chex.Array  # int32[] in [1, n]: transitions used; bootstrap from the obs after them


def n_step_return(r_t: chex.Array, terminated_t: chex.Array, truncated_t: chex.Array,
                  gamma: float) -> NStepReturn:
    """The n-step return of a window of transitions, with partial episode bootstrapping.

    The window starts at a state ``s_0`` where action ``a_0`` was taken; entry ``k`` describes
    transition ``k+1``: its reward and whether the episode ended with it. The window stops at
    the first end: transitions after it (another episode, after an auto-reset) are ignored.
    The target is ``return_t + discount_t * Q(s_steps, .)``::

      G = sum_{k < m} gamma^k r_{k+1},  m = steps = 1 + index of the first end (else n)
      discount = 0 if the window ends by ``terminated``, else gamma^m

    (Sutton & Barto 2018, §7.1; Hessel et al. 2018, eq. 2; PEB: Pardo et al. 2018). A
    transition both terminated and truncated counts as terminated.

    Args:
      r_t: float32[n] rewards ``r_1..r_n``.
      terminated_t: bool[n] the episode terminated with this transition (no bootstrap).
      truncated_t: bool[n] the episode hit its time limit with this transition (bootstrap from
        its final observation).
      gamma: discount in [0, 1].
    Returns:
      NStepReturn.
    """
    chex.assert_rank([r_t, terminated_t, truncated_t], 1)
    chex.assert_equal_shape([r_t, terminated_t, truncated_t])
    ended = terminated_t | truncated_t
    # Transition k is used when no earlier one ended the episode.
    used = jnp.concatenate([jnp.ones(1, bool), jnp.cumsum(ended[:-1]) == 0])
    steps = jnp.sum(used).astype(jnp.int32)
    powers = gamma ** jnp.arange(r_t.shape[0], dtype=jnp.float32)
    return_t = jnp.sum(jnp.where(used, powers * r_t, 0.0))
    terminated = jnp.any(used & terminated_t)
    discount_t = jnp.where(terminated, 0.0, gamma ** steps.astype(jnp.float32))
    return NStepReturn(return_t.astype(jnp.float32), discount_t.astype(jnp.float32), steps)


def huber_loss(x: chex.Array, delta: float = FIELDS["huber_delta"].default) -> chex.Array:
    """Huber (1964) loss: ``x^2 / 2`` for ``|x| <= delta``, else ``delta (|x| - delta / 2)``.

    Its gradient is ``x`` clipped to ``[-delta, delta]``: DQN's error clipping (Mnih et al.
    2015, Methods).

    Args:
      x: float[...].
      delta: threshold > 0.
    Returns:
      float[...], elementwise.
    """
    abs_x = jnp.abs(x)
    quadratic = jnp.minimum(abs_x, delta)
    return 0.5 * quadratic**2 + delta * (abs_x - quadratic)


def double_q_learning(q_tm1: chex.Array, a_tm1: chex.Array, r_t: chex.Array,
                      discount_t: chex.Array, q_t_value: chex.Array, q_t_selector: chex.Array,
                      mask_t: chex.Array) -> chex.Array:
    """Double Q-learning TD error with a target network and an action mask.

    ``target = r_t + discount_t * q_t_value[argmax_{valid a} q_t_selector[a]]`` and
    ``td = target - q_tm1[a_tm1]`` (van Hasselt et al. 2016, "Deep RL with Double Q-learning",
    eq. 4): the online network (``q_t_selector``) picks the action, the target network
    (``q_t_value``, Mnih et al. 2015) values it. With ``r_t, discount_t`` from
    :func:`n_step_return` it is the n-step target of Ape-X (Horgan et al. 2018, eq. 1). The
    target is a constant (stop-gradient). Equals ``rlax.double_q_learning`` when every action
    is valid.

    Args:
      q_tm1: float32[A] online Q-values at the window's first state.
      a_tm1: int32[] action taken there (valid).
      r_t: float32[] (n-step) return.
      discount_t: float32[] discount of the bootstrap value (0 when terminated).
      q_t_value: float32[A] target-network Q-values at the bootstrap state.
      q_t_selector: float32[A] online Q-values at the bootstrap state.
      mask_t: bool[A] valid actions at the bootstrap state (slot 0 always).
    Returns:
      float32[] TD error.
    """
    chex.assert_rank([q_tm1, a_tm1, r_t, discount_t, q_t_value, q_t_selector, mask_t],
                     [1, 0, 0, 0, 1, 1, 1])
    chex.assert_equal_shape([q_tm1, q_t_value, q_t_selector, mask_t])
    best_t = network.masked_argmax(q_t_selector, mask_t)
    target_tm1 = jax.lax.stop_gradient(r_t + discount_t * q_t_value[best_t])
    return target_tm1 - q_tm1[a_tm1]


def apex_loss(q_tm1: chex.Array, a_tm1: chex.Array, r_t: chex.Array, discount_t: chex.Array,
              q_t_value: chex.Array, q_t_selector: chex.Array, mask_t: chex.Array,
              weight_tm1: chex.Array,
              delta: float = FIELDS["huber_delta"].default) -> tuple[chex.Array, chex.Array]:
    """Importance-weighted Huber loss of the double-Q TD error, and the TD error.

    ``loss = w * huber(td)`` with ``w`` the prioritized-replay importance weight (Schaul et al.
    2016, Alg. 1; a constant). ``|td|`` is the new priority of the item (Horgan et al. 2018,
    Alg. 2). Arguments as :func:`double_q_learning`, plus:

    Args:
      weight_tm1: float32[] importance weight of this item.
      delta: Huber threshold.
    Returns:
      (loss float32[], td_error float32[]).
    """
    chex.assert_rank(weight_tm1, 0)
    td = double_q_learning(q_tm1, a_tm1, r_t, discount_t, q_t_value, q_t_selector, mask_t)
    return jax.lax.stop_gradient(weight_tm1) * huber_loss(td, delta), td
