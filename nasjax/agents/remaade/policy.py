"""The string policy shared by MAADE, MADE and the independent policy (ReMAADE §6).

A :class:`StringPolicy` (not the episodic :class:`~nasjax.agents.base.Policy` of the MDP) is a
density over strings ``a_1..a_N`` of categorical hyperparameters, conditioned
on an autoregressive factorization order ``z`` (a permutation of ``0..N-1``, ``z[t]`` the
hyperparameter generated at step ``t``). All hyperparameters share one value vocabulary of
size ``D = max(cardinalities)``; values ``>= cardinalities[i]`` get probability 0.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class StringPolicy:
    """A policy as pure functions over unbatched strings (callers vmap).

    - ``init(key) -> params``;
    - ``log_prob(params, string: int32[N], order: int32[N]) -> float[]``: log P(a | z; theta);
    - ``sample(params, key, order: int32[N]) -> (int32[N], float[])``: ancestral sampling
      in order ``z``, with the log-probability of the drawn string.
    """

    name: str
    cardinalities: tuple[int, ...]
    init: Callable[[jax.Array], Any]
    log_prob: Callable[[Any, jax.Array, jax.Array], jax.Array]
    sample: Callable[[Any, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


def from_module(name: str, model, sample: Callable[[Any, Any, jax.Array, jax.Array], Any]
                ) -> StringPolicy:
    """A :class:`StringPolicy` of a Flax module ``model(string, order) -> logits float[N, D]``.

    Args:
      name: the policy's name.
      model: a module with a ``cardinalities`` field, applied as ``model.apply(params,
        string, order)``.
      sample: ``sample(model, params, key, order) -> (string, log_prob)``.
    """
    n = len(model.cardinalities)

    def init(key):
        return model.init(key, jnp.zeros(n, jnp.int32), jnp.arange(n, dtype=jnp.int32))

    def log_prob(params, string, order):
        return string_log_prob(model.apply(params, string, order), string)

    return StringPolicy(name=name, cardinalities=tuple(model.cardinalities), init=init,
                  log_prob=log_prob,
                  sample=lambda params, key, order: sample(model, params, key, order))


def value_mask(cardinalities: tuple[int, ...]) -> np.ndarray:
    """bool[N, D]: which values of the shared vocabulary each hyperparameter can take."""
    if not cardinalities or min(cardinalities) < 1:
        raise ValueError(f"cardinalities must be a non-empty tuple of positive ints, "
                         f"got {cardinalities!r}")
    return np.arange(max(cardinalities))[None, :] < np.asarray(cardinalities)[:, None]


def mask_logits(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """Logits with impossible values set to the lowest finite float (jumanji style)."""
    return jnp.where(mask, logits, jnp.finfo(logits.dtype).min)


def string_log_prob(logits: jax.Array, string: jax.Array) -> jax.Array:
    """float[]: sum over hyperparameters of log softmax(logits[i])[string[i]].

    Args:
      logits: float[N, D], already masked.
      string: int32[N].
    """
    log_p = jax.nn.log_softmax(logits, axis=-1)
    chosen = jax.nn.one_hot(string, logits.shape[-1], dtype=bool)  # no scatter in the gradient
    return jnp.where(chosen, log_p, 0.0).sum()


def ranks(order: jax.Array) -> jax.Array:
    """int32[N]: the step at which each hyperparameter is generated (inverse of ``order``)."""
    n = order.shape[-1]
    return jnp.zeros(n, jnp.int32).at[order].set(jnp.arange(n, dtype=jnp.int32))
