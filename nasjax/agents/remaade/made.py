"""The ablation policies of ReMAADE Table 4: MADE and independent categoricals.

- **MADE** (Germain et al. 2015): a masked one-hidden-layer perceptron over the one-hot
  string. With factorization order ``z`` (``deg(i)`` = 1 + the step of hyperparameter ``i``
  in ``z``) and hidden degrees ``m_k in 1..N-1``, input ``i`` feeds hidden unit ``k`` iff
  ``m_k >= deg(i)`` and hidden unit ``k`` feeds output ``i`` iff ``deg(i) > m_k``, so the
  logits of ``a_i`` depend only on hyperparameters before ``i`` in ``z``. Hidden degrees
  cycle through ``1..N-1`` (fixed); only the order changes the masks.
- **Independent** ("plain vanilla REINFORCE", eq. 15): ``P(a) = prod_i P(a_i)``; only the
  biases of the density layer (eq. 9) are learned, so the order is ignored.

Both start from the uniform policy (zero output weights and biases), like MAADE.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasjax.agents.remaade import policy as policy_lib

DEFAULT_HIDDEN = 64  # MADE hidden units (the paper gives no size)


def hidden_degrees(num_hparams: int, hidden: int) -> np.ndarray:
    """int32[H]: MADE hidden degrees ``m_k = 1 + (k mod (N - 1))`` (all 1 when N = 1)."""
    return (1 + np.arange(hidden) % max(num_hparams - 1, 1)).astype(np.int32)


class MADE(nn.Module):
    """MADE over strings with the given cardinalities; one ReLU hidden layer of ``hidden`` units."""

    cardinalities: tuple[int, ...]
    hidden: int = DEFAULT_HIDDEN

    def setup(self):
        n, vocab = len(self.cardinalities), max(self.cardinalities)
        self.w_in = self.param("w_in", nn.initializers.lecun_normal(batch_axis=()),
                               (n, vocab, self.hidden))  # one-hot value -> hidden
        self.b_in = self.param("b_in", nn.initializers.zeros, (self.hidden,))
        self.w_out = self.param("w_out", nn.initializers.zeros, (self.hidden, n, vocab))
        self.b_out = self.param("b_out", nn.initializers.zeros, (n, vocab))
        self.degrees = jnp.asarray(hidden_degrees(n, self.hidden))
        self.allowed = jnp.asarray(policy_lib.value_mask(self.cardinalities))

    def masks(self, order: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(bool[N, H] input -> hidden, bool[H, N] hidden -> output)`` masks for order ``z``."""
        degree = policy_lib.ranks(order) + 1  # deg(i) in 1..N
        into_hidden = self.degrees[None, :] >= degree[:, None]
        out_of_hidden = degree[None, :] > self.degrees[:, None]
        return into_hidden, out_of_hidden

    def __call__(self, string: jax.Array, order: jax.Array) -> jax.Array:
        """float[N, D]: masked logits of every ``P(a_i | a_{z<i})`` for one string ``int32[N]``."""
        into_hidden, out_of_hidden = self.masks(order)
        n = len(self.cardinalities)
        rows = self.w_in[jnp.arange(n), string]  # [N, H]: weights of the one-hot inputs
        hidden = jax.nn.relu((rows * into_hidden).sum(0) + self.b_in)
        logits = jnp.einsum("k,kn,knv->nv", hidden, out_of_hidden, self.w_out) + self.b_out
        return policy_lib.mask_logits(logits, self.allowed)

    def step_logits(self, i: jax.Array, pre: jax.Array, order: jax.Array) -> jax.Array:
        """float[D]: logits of hyperparameter ``i`` from the hidden pre-activation ``float[H]``
        of the hyperparameters drawn so far."""
        _, out_of_hidden = self.masks(order)
        hidden = jax.nn.relu(pre) * out_of_hidden[:, i]
        logits = hidden @ self.w_out[:, i] + self.b_out[i]
        return policy_lib.mask_logits(logits, self.allowed[i])

    def add_input(self, i: jax.Array, value: jax.Array, pre: jax.Array,
                  order: jax.Array) -> jax.Array:
        """float[H]: the hidden pre-activation after input ``a_i = value`` is set."""
        into_hidden, _ = self.masks(order)
        return pre + self.w_in[i, value] * into_hidden[i]

    def bias(self) -> jax.Array:
        """float[H]: the hidden pre-activation of an empty string."""
        return self.b_in


def _sample_made(model: MADE, params, key: jax.Array, order: jax.Array):
    n = len(model.cardinalities)

    def step(carry, inputs):
        string, pre, log_prob = carry
        i, key = inputs
        logits = model.apply(params, i, pre, order, method=MADE.step_logits)
        value = jax.random.categorical(key, logits)
        log_prob = log_prob + jax.nn.log_softmax(logits)[value]
        pre = model.apply(params, i, value, pre, order, method=MADE.add_input)
        return (string.at[i].set(value), pre, log_prob), None

    carry = (jnp.zeros(n, jnp.int32), model.apply(params, method=MADE.bias), jnp.float32(0.0))
    (string, _, log_prob), _ = jax.lax.scan(step, carry, (order, jax.random.split(key, n)))
    return string, log_prob


def make_made_policy(cardinalities: tuple[int, ...],
                     hidden: int = DEFAULT_HIDDEN) -> policy_lib.StringPolicy:
    """MADE as a :class:`~nasjax.agents.remaade.policy.StringPolicy` (ancestral sampling by
    ``lax.scan``, updating the hidden pre-activation one input at a time)."""
    if hidden < 1:
        raise ValueError(f"MADE needs hidden >= 1, got {hidden}")
    model = MADE(tuple(cardinalities), hidden)
    return policy_lib.from_module("made", model, _sample_made)


def make_independent_policy(cardinalities: tuple[int, ...]) -> policy_lib.StringPolicy:
    """Independent categoricals: params are the biases ``b^i`` of eq. 9 (``float[N, D]``)."""
    allowed = jnp.asarray(policy_lib.value_mask(tuple(cardinalities)))

    def init(key):
        del key
        return {"density_bias": jnp.zeros(allowed.shape, jnp.float32)}

    def logits(params):
        return policy_lib.mask_logits(params["density_bias"], allowed)

    def log_prob(params, string, order):
        del order
        return policy_lib.string_log_prob(logits(params), string)

    def sample(params, key, order):
        del order
        string = jax.random.categorical(key, logits(params)).astype(jnp.int32)
        return string, policy_lib.string_log_prob(logits(params), string)

    return policy_lib.StringPolicy(name="independent", cardinalities=tuple(cardinalities),
                                   init=init, log_prob=log_prob, sample=sample)
