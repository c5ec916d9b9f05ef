"""Policy-gradient primitives of ReMAADE (ReMAADE §§3, 6), rlax style.

Each loss is unbatched (one sampled string ``tau = (z, a)``), checks its ranks with chex,
and is vmapped and averaged by the caller, the ``1/B`` sum of eq. 13. Losses are to be
minimised: they are the negated objectives. ``log_pi_a`` is ``log P(a | z; theta)``; the
``1/S`` of eq. 10 is a constant and cancels in gradients and ratios.
"""

from __future__ import annotations

import chex
import flax.struct
import jax
import jax.numpy as jnp


def reinforce_loss(log_pi_a: chex.Array, adv: chex.Array) -> chex.Array:
    """REINFORCE (Williams 1992) loss ``-A(a) log P(a; theta)``, the gradient of eq. 1.

    Args:
      log_pi_a: float[] log-probability of the sampled string under the current policy.
      adv: float[] advantage ``f(a) - b``; treated as a constant (no gradient).
    Returns:
      float[] loss.
    """
    chex.assert_rank([log_pi_a, adv], 0)
    return -jax.lax.stop_gradient(adv) * log_pi_a


def ppo_clip_loss(log_pi_a: chex.Array, log_pi_old_a: chex.Array, adv: chex.Array,
                  epsilon: float) -> chex.Array:
    """Clipped surrogate loss of PPO (Schulman et al. 2017; ReMAADE eqs. 11-13).

    ``-min(r A, clip(r, 1 - eps, 1 + eps) A)`` with ``r = P(tau; theta) / P(tau; theta_old)``
    (eq. 12). ReMAADE's eq. 11 prints ``A min(r, clip(r))``, which equals this for
    ``A >= 0``; we use the form of the cited PPO paper, pessimistic for ``A < 0`` too.

    Args:
      log_pi_a: float[] log-probability under the policy being optimised.
      log_pi_old_a: float[] log-probability under the policy that sampled the string.
      adv: float[] advantage.
      epsilon: clip range (seed: 0.1).
    Returns:
      float[] loss.
    """
    chex.assert_rank([log_pi_a, log_pi_old_a, adv], 0)
    ratio = jnp.exp(log_pi_a - jax.lax.stop_gradient(log_pi_old_a))
    adv = jax.lax.stop_gradient(adv)
    return -jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - epsilon, 1.0 + epsilon) * adv)


@flax.struct.dataclass
class EmaBaseline:
    """Bias-corrected exponential moving average (the baseline ``b`` of eq. 1).

    ``value = numerator / denominator``, as Adam corrects its moments and as the
    NAS-Bench-101 REINFORCE baseline does, so the first update returns its input exactly.
    """

    numerator: chex.Array  # float32[]
    denominator: chex.Array  # float32[], 0 before the first update


def ema_init() -> EmaBaseline:
    """An empty moving average."""
    return EmaBaseline(numerator=jnp.float32(0.0), denominator=jnp.float32(0.0))


def ema_update(ema: EmaBaseline, value: chex.Array, decay: float | chex.Array,
               rest: chex.Array | None = None) -> EmaBaseline:
    """``x <- decay x + (1 - decay) value`` for both numerator and (with value 1) denominator.

    Args:
      ema: the moving average.
      value: float[] new observation.
      decay: in [0, 1): a float, or float[] (traced).
      rest: float[] ``1 - decay`` computed on the host in float64, with a traced ``decay``
        (float32 arithmetic rounds ``1 - 0.9`` otherwise than Python does); None: computed here.
    """
    chex.assert_rank(value, 0)
    rest = 1.0 - decay if rest is None else rest
    return EmaBaseline(numerator=decay * ema.numerator + rest * value,
                       denominator=decay * ema.denominator + rest)


def ema_value(ema: EmaBaseline) -> chex.Array:
    """float[]: the bias-corrected average (0 before the first update)."""
    return jnp.where(ema.denominator > 0, ema.numerator / jnp.maximum(ema.denominator, 1e-30), 0.0)
