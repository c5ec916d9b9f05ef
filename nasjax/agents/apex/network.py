"""The transformer dueling Q-network of the Ape-X agent (Cassimon et al. §3.2.3, Fig. 6).

Input: ``tokens: float32[..., N+1, D]`` (the current architecture first, then up to ``N``
neighbours; the space's ``tokens`` features) and ``action_mask: bool[..., N+1]`` (slot 0,
"stay", is always valid). Output: ``q: float32[..., N+1]``, one Q-value per action, the lowest
finite float at masked actions. Nothing here depends on a search space: ``D`` and ``N`` come from
the input shapes.

Pipeline (Fig. 6):

1. architecture encoder: ``encoder_layers`` fully-connected ReLU layers, ``D -> T``
   (``T = 256`` on NAS-Bench-101, §3.2.3; ``T = 512`` on NAS-Bench-301, §4.2.1);
2. positional encoding, added (see :data:`POSITIONAL`);
3. transformer encoder, pre-LN, padding masked as attention keys;
4. dueling head (Wang et al. 2016), ``Q = V + A - mean(A over valid actions)``, the state value
   from output 0 (the current architecture, used like ViT's class token) and the advantages
   from (:data:`DUELING_INPUTS`) ``"every_token"``, one per output token (token 0 is "stay";
   our default), or ``"first_token"``, all ``N+1`` from output 0: "we use the first output of
   the transformer encoder as the input for the rest of the agent" (Cassimon et al. §3.2.3), a
   hidden layer of width T then ``N+1`` outputs, RLlib DQN's dueling head (``hiddens``).

Choices the paper leaves open (defaults of :class:`QNetwork`):

- **Learned positional embeddings** (one vector per slot, as ViT, which §3.2.3 follows), not
  sinusoidal ones. The paper wants the network aware of the slot order. The slots form a set
  with one distinguished element (slot 0, the current architecture), not a sequence: the
  neighbours come in a uniformly random order, so the sinusoids' built-in notion of distance
  between slots is meaningless here, while a learned table can learn that slot 0 is special and
  the others alike. ``positional="sinusoidal"`` (Vaswani et al. 2017) is available for
  comparison; it has no parameters and so accepts any ``N``, whereas the learned table fixes
  ``N`` at initialisation.
- **Pre-LN** encoder blocks with a final LayerNorm (ViT; Xiong et al. 2020: stable without a
  learning-rate warm-up, and the paper trains at a constant 4e-5, §4.1.1).
- **2 layers, 4 heads, MLP width 2T.** At most ~101 tokens of a single kind: one layer lets
  each neighbour attend to the current architecture (an improvement is a comparison), a second
  lets the value read the whole neighbourhood. Learner cost grows with
  ``layers x (N+1) x batch`` and Ape-X is about throughput, so we stay small; 4 heads give a
  head width of 64 at ``T = 256`` (use 8 at ``T = 512`` for the same width).
- No dropout (value-based RL; the Ape-X and dueling papers use none).

Padding: padded rows are replaced by zeros before the encoder and masked as attention keys, so
no value in a padded row changes the Q-value of a valid action; without the zeroing, a NaN
there would leak through attention (its weight is 0 but ``0 * NaN = NaN`` in the weighted sum
of values). A NaN in a *valid* row reaches every valid Q-value.
"""

from __future__ import annotations

from typing import Literal

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from nasjax import config_fields
from nasjax import config_rules as rules
from nasjax.config_fields import field

POSITIONAL = ("learned", "sinusoidal")  # see the module docstring for the default
DUELING_INPUTS = ("every_token", "first_token")  # what the advantages are computed from
SINUSOID_BASE = 10_000.0  # wavelength base of Vaswani et al. 2017, §3.5

# The ``network`` block of an Ape-X config (Fig. 6): the paper's NAS-Bench-101 network, which
# ``configs/apex.py``'s presets and the untrained policy build on. The paper fixes T and leaves
# the rest open; our choices: 2 encoder and 2 transformer layers with an MLP of width 2T (one
# layer lets each neighbour attend to the current architecture, a second lets the value read
# the neighbourhood; learner cost grows with the depth and Ape-X is about throughput) and heads
# of width 64.
FIELDS = config_fields.block(
    latent_dim=field(256, rules.positive_int(),
                     "T: 256 on NAS-Bench-101 (§3.2.3), 512 on NAS-Bench-301 (§4.2.1)"),
    encoder_layers=field(2, rules.positive_int(),
                         'fully-connected ReLU layers tokens -> T ("several", §3.2.3)'),
    num_layers=field(2, rules.positive_int(), "transformer encoder blocks (not in the paper)",
                     ours=True),
    num_heads=field(4, rules.positive_int(), "attention heads, T / 64 (not in the paper)",
                    ours=True),
    mlp_ratio=field(2, rules.positive_int(), "block MLP width in units of T (not in the paper)",
                    ours=True),
    positional=field("learned", rules.one_of(*POSITIONAL),
                     "ViT's learned position embeddings (§3.2.3 follows ViT)"),
    dueling_input=field("first_token", rules.one_of(*DUELING_INPUTS),
                        'advantages from output 0 alone: "the first output of the transformer '
                        'encoder as the input for the rest of the agent" (§3.2.3); '
                        '"every_token": one advantage per output token'),
)


def network_config(latent_dim: int = FIELDS["latent_dim"].default,
                   num_heads: int = FIELDS["num_heads"].default) -> ml_collections.ConfigDict:
    """The ``network`` block of an Ape-X config (:data:`FIELDS`) with T and the heads given."""
    return FIELDS.config(latent_dim=latent_dim, num_heads=num_heads)


def masked_fill(values: chex.Array, mask: chex.Array) -> chex.Array:
    """``values`` with masked entries replaced by the lowest finite float of their dtype.

    Args:
      values: float[..., A].
      mask: bool[..., A], True where valid.
    """
    return jnp.where(mask, values, jnp.finfo(values.dtype).min)


def masked_argmax(values: chex.Array, mask: chex.Array) -> chex.Array:
    """Index of the largest valid entry along the last axis (the first of ties).

    Args:
      values: float[..., A].
      mask: bool[..., A], True where valid; at least one True per row.
    Returns:
      int32[...].
    """
    return jnp.argmax(masked_fill(values, mask), axis=-1).astype(jnp.int32)


def masked_max(values: chex.Array, mask: chex.Array) -> chex.Array:
    """Largest valid entry along the last axis.

    Args:
      values: float[..., A].
      mask: bool[..., A], True where valid; at least one True per row.
    Returns:
      float[...].
    """
    return jnp.max(masked_fill(values, mask), axis=-1)


def dueling(value: chex.Array, advantages: chex.Array, mask: chex.Array) -> chex.Array:
    """``Q = V + A - mean(A over valid actions)`` (Wang et al. 2016, eq. 9), masked.

    Args:
      value: float[...] state value.
      advantages: float[..., A] one advantage per action.
      mask: bool[..., A], True where valid; at least one True per row.
    Returns:
      float[..., A], the lowest finite float at masked actions.
    """
    count = jnp.sum(mask, axis=-1, keepdims=True)
    mean = jnp.sum(jnp.where(mask, advantages, 0.0), axis=-1, keepdims=True) / count
    return masked_fill(value[..., None] + advantages - mean, mask)


def sinusoidal_encoding(length: int, features: int) -> jax.Array:
    """The fixed positional encoding of Vaswani et al. 2017, §3.5: ``float32[length, features]``.

    Column ``2i`` is ``sin(pos / base^(2i/features))``, column ``2i+1`` the matching cosine.
    """
    position = jnp.arange(length, dtype=jnp.float32)[:, None]
    rate = SINUSOID_BASE ** (-jnp.arange(0, features, 2, dtype=jnp.float32) / features)
    angles = position * rate  # [length, ceil(features / 2)]
    table = jnp.stack([jnp.sin(angles), jnp.cos(angles)], axis=-1).reshape(length, -1)
    return table[:, :features]


class EncoderBlock(nn.Module):
    """A pre-LN transformer encoder block: ``x + MHA(LN(x))``, then ``x + MLP(LN(x))``."""

    num_heads: int
    mlp_dim: int

    @nn.compact
    def __call__(self, x: chex.Array, key_mask: chex.Array) -> chex.Array:
        """``x: float32[..., L, T]``, ``key_mask: bool[..., L]`` -> ``float32[..., L, T]``."""
        y = nn.LayerNorm(name="attention_norm")(x)
        attention_mask = key_mask[..., None, None, :]  # [..., heads=1, queries=1, keys]
        attention = nn.MultiHeadDotProductAttention(num_heads=self.num_heads, name="attention")
        x = x + attention(y, mask=attention_mask)
        y = nn.LayerNorm(name="mlp_norm")(x)
        y = nn.Dense(x.shape[-1], name="mlp_out")(nn.relu(nn.Dense(self.mlp_dim, name="mlp_in")(y)))
        return x + y


class QNetwork(nn.Module):
    """Q-values of "stay" and of moving to each neighbour (Cassimon et al. §3.2.3, Fig. 6).

    Attributes:
      latent_dim: T, width of the architecture encoding and of the transformer.
      encoder_layers: fully-connected ReLU layers of the architecture encoder.
      num_layers: transformer encoder blocks.
      num_heads: attention heads (must divide ``latent_dim``).
      mlp_ratio: width of each block's MLP in units of ``latent_dim``.
      positional: ``"learned"`` or ``"sinusoidal"``.
      dueling_input: ``"every_token"`` or ``"first_token"`` (see the module docstring); with
        ``"first_token"`` the advantage layer has ``N+1`` outputs, so ``N`` is fixed at
        initialisation.
    """

    latent_dim: int = FIELDS["latent_dim"].default
    encoder_layers: int = FIELDS["encoder_layers"].default
    num_layers: int = FIELDS["num_layers"].default
    num_heads: int = FIELDS["num_heads"].default
    mlp_ratio: int = FIELDS["mlp_ratio"].default
    positional: Literal["learned", "sinusoidal"] = FIELDS["positional"].default
    dueling_input: Literal["every_token", "first_token"] = "every_token"

    @nn.compact
    def __call__(self, tokens: chex.Array, action_mask: chex.Array) -> chex.Array:
        """Q-values of the ``N+1`` actions.

        Args:
          tokens: float32[..., N+1, D], current architecture first, padding rows anywhere the
            mask is False (their content is ignored).
          action_mask: bool[..., N+1], True for valid actions; slot 0 ("stay") is treated as
            valid whatever it holds.
        Returns:
          float32[..., N+1], the lowest finite float at masked actions. The state value and
          advantages are sown in the ``"intermediates"`` collection (``value``,
          ``advantages``) when it is mutable.
        Raises:
          ValueError: on shapes that do not fit these.
        """
        self._check(tokens, action_mask)
        mask = action_mask.at[..., 0].set(True)
        width = self.latent_dim
        x = jnp.where(mask[..., None], tokens.astype(jnp.float32), 0.0)
        for i in range(self.encoder_layers):
            x = nn.relu(nn.Dense(width, name=f"encoder_{i}")(x))
        x = x + self._positions(x.shape[-2])
        for i in range(self.num_layers):
            x = EncoderBlock(self.num_heads, self.mlp_ratio * width, name=f"block_{i}")(x, mask)
        x = nn.LayerNorm(name="final_norm")(x)
        # Dueling branches, each with its own hidden layer of width T (Wang et al. 2016, §4.2).
        if self.dueling_input == "every_token":
            advantages = nn.relu(nn.Dense(width, name="advantage_hidden")(x))
            advantages = nn.Dense(1, name="advantage_out")(advantages)[..., 0]  # [..., N+1]
        else:
            advantages = nn.relu(nn.Dense(width, name="advantage_hidden")(x[..., 0, :]))
            advantages = nn.Dense(x.shape[-2], name="advantage_out")(advantages)  # [..., N+1]
        value = nn.relu(nn.Dense(width, name="value_hidden")(x[..., 0, :]))
        value = nn.Dense(1, name="value_out")(value)[..., 0]  # [...]
        self.sow("intermediates", "value", value)
        self.sow("intermediates", "advantages", advantages)
        return dueling(value, advantages, mask)

    def _positions(self, length: int) -> jax.Array:
        """``float32[length, T]``: the positional encoding added to the latents."""
        if self.positional == "learned":
            # ViT's initialisation of its position embeddings (normal, stddev 0.02).
            return self.param("positions", nn.initializers.normal(0.02),
                              (length, self.latent_dim))
        return sinusoidal_encoding(length, self.latent_dim)

    def _check(self, tokens: chex.Array, action_mask: chex.Array) -> None:
        if self.positional not in POSITIONAL:
            raise ValueError(f"positional must be one of {POSITIONAL}, got {self.positional!r}")
        if self.dueling_input not in DUELING_INPUTS:
            raise ValueError(f"dueling_input must be one of {DUELING_INPUTS}, "
                             f"got {self.dueling_input!r}")
        if self.latent_dim % self.num_heads:
            raise ValueError(f"num_heads={self.num_heads} must divide "
                             f"latent_dim={self.latent_dim}")
        if tokens.ndim < 2 or tokens.shape[:-1] != action_mask.shape:
            raise ValueError(f"tokens float32[..., N+1, D] and action_mask bool[..., N+1] "
                             f"disagree: shapes {tokens.shape} and {action_mask.shape}")
        if action_mask.dtype != jnp.bool_:
            raise ValueError(f"action_mask must be bool, got {action_mask.dtype}")
