"""MAADE: the masked attention autoregressive density estimator (seed 004, section 5).

Three layers (Fig. 1):

- **Embedding**: a query vector ``q_i`` per hyperparameter and one value embedding
  ``V`` shared across hyperparameters; ``v_i = V[a_i]``.
- **Context representation**: two streams (Fig. 2), the query stream ``q_i^(0) = q_i``
  and the key stream ``k_i^(0) = v_i + q_i``, updated by ``M`` simplified Transformer
  blocks (eqs. 4-7)::

      q_i^(m+1) = PosFF(q_i^(m) + MaskedAttention(Q=q_i^(m), KV=k_{<i}^(m)))
      k_i^(m+1) = PosFF(k_i^(m) + MaskedAttention(Q=k_i^(m), KV=k_{<=i}^(m)))

  where ``<`` and ``<=`` refer to the factorization order ``z``. Eq. 7 prints
  ``KV = q_{1:i}``; we follow eq. 5 and the text ("each key vector attends to
  preceding key vectors as well as itself"), as in XLNet's content stream. Attention
  is additive (Bahdanau et al. 2014), ``e_ij = w^T tanh(W_q x_i + W_k k_j + b)``, with the
  key vectors themselves as values; PosFF is ``W_2 tanh(W_1 x + b_1) + b_2`` (eq. 8). Both
  streams share each block's parameters; there is no residual around PosFF, no layer norm
  and no positional encoding. ``h_i = q_i^(M)``.
- **Density estimation**: an affine map per hyperparameter, then a softmax (eq. 9).

Computation. The inputs of the first block are discrete: its queries are ``q_i`` or
``q_i + V[a]`` and its keys ``q_j + V[b]``. So its attention energies form tables,
``[N, N, D]`` for the query stream and ``[N, D, N, D]`` for the key stream, computed once
per parameter set (:meth:`MAADE.tables`) and gathered per string: the same numbers with
no ``tanh`` per string. Later blocks (``M > 1``) compute energies per string. The
parallel form (:meth:`MAADE.__call__`, teacher forcing) gives the logits of a whole
string; ancestral sampling (:func:`sample`) runs one ``lax.scan`` over the ``N`` steps of
``z`` and computes only what step ``t`` needs: the query stream of ``z[t]`` and, once its
value is drawn, its key-stream vectors, kept (with their projections) for later steps.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from nasjax.agents.remaade import policy as policy_lib

EMBED_INIT_STDDEV = 1.0  # query vectors and value embeddings ~ N(0, 1), as nn.Embed


def masked_average(energy: jax.Array, mask: jax.Array, values: jax.Array) -> jax.Array:
    """float[Q, d]: ``sum_j softmax_j(energy) values_j`` over unmasked ``j``; 0 if none.

    Args:
      energy: float[Q, K] attention energies.
      mask: bool[Q, K] allowed pairs.
      values: float[K, d].
    """
    peak = jax.lax.stop_gradient(jnp.max(jnp.where(mask, energy, -jnp.inf), -1, keepdims=True))
    shifted = jnp.where(mask, energy - jnp.where(jnp.isfinite(peak), peak, 0.0), 0.0)
    weights = jnp.where(mask, jnp.exp(shifted), 0.0)
    weights = weights / jnp.maximum(weights.sum(-1, keepdims=True), jnp.finfo(energy.dtype).tiny)
    return weights @ values


class AdditiveAttention(nn.Module):
    """Additive attention energies ``e = w^T tanh(W_q x + W_k k + b)`` (Bahdanau et al. 2014)."""

    features: int

    def setup(self):
        self.query_proj = nn.Dense(self.features, name="query")
        self.key_proj = nn.Dense(self.features, use_bias=False, name="key")
        self.score = nn.Dense(1, use_bias=False, name="score")

    def project_queries(self, x: jax.Array) -> jax.Array:
        """float[..., d]: ``W_q x + b``."""
        return self.query_proj(x)

    def project_keys(self, keys: jax.Array) -> jax.Array:
        """float[..., d]: ``W_k k``, computed once per key and reused by every query."""
        return self.key_proj(keys)

    def energy(self, x_proj: jax.Array, keys_proj: jax.Array) -> jax.Array:
        """float[...]: energies of broadcast-compatible projected queries and keys ``[..., d]``."""
        return self.score(jnp.tanh(x_proj + keys_proj))[..., 0]


class SimplifiedTransformer(nn.Module):
    """One block, ``PosFF(x + MaskedAttention(x, keys))`` (eqs. 6-8), shared by both streams."""

    features: int
    ff_features: int

    def setup(self):
        self.attention = AdditiveAttention(self.features)
        self.ff_in = nn.Dense(self.ff_features, name="ff_in")
        self.ff_out = nn.Dense(self.features, name="ff_out")

    def feed_forward(self, x: jax.Array, context: jax.Array) -> jax.Array:
        """float[..., d]: ``PosFF(x + context)`` with ``tanh`` (eq. 8)."""
        return self.ff_out(jnp.tanh(self.ff_in(x + context)))

    def __call__(self, x: jax.Array, keys: jax.Array, keys_proj: jax.Array,
                 mask: jax.Array) -> jax.Array:
        """float[Q, d] from queries ``x: float[Q, d]``, keys ``float[K, d]`` with projections
        ``keys_proj: float[K, d]``, and allowed pairs ``mask: bool[Q, K]``."""
        energy = self.attention.energy(self.attention.project_queries(x)[:, None], keys_proj[None])
        return self.feed_forward(x, masked_average(energy, mask, keys))


class MAADE(nn.Module):
    """The MAADE policy network over strings with the given cardinalities."""

    cardinalities: tuple[int, ...]
    embed_dim: int  # d
    num_layers: int = 1  # M
    ff_dim: int = 0  # hidden width of PosFF; 0 = embed_dim (the seed gives none)

    def setup(self):
        n, d = len(self.cardinalities), self.embed_dim
        vocab = max(self.cardinalities)
        init = nn.initializers.normal(EMBED_INIT_STDDEV)
        self.queries = self.param("queries", init, (n, d))  # q_i
        self.values = self.param("values", init, (vocab, d))  # V, shared across hyperparameters
        self.blocks = [SimplifiedTransformer(d, self.ff_dim or d, name=f"block_{m}")
                       for m in range(self.num_layers)]
        # Eq. 9: W^i, b^i per hyperparameter; zeros make the initial policy uniform.
        self.density_kernel = self.param("density_kernel", nn.initializers.zeros, (n, d, vocab))
        self.density_bias = self.param("density_bias", nn.initializers.zeros, (n, vocab))
        self.allowed = jnp.asarray(policy_lib.value_mask(self.cardinalities))

    def tables(self) -> dict[str, jax.Array]:
        """The first block's energies over all discrete inputs.

        Returns:
          ``{"query": float[N, N, D]}`` with ``[i, j, b]`` the energy of query ``q_i`` on key
          ``q_j + V[b]``, and for ``M > 1`` also ``"key": float[N, D, N, D]`` with
          ``[i, a, j, b]`` the energy of query ``q_i + V[a]`` on key ``q_j + V[b]``.
        """
        attention = self.blocks[0].attention
        keys0 = self.queries[:, None, :] + self.values[None]  # [N, D, d]
        keys_proj = attention.project_keys(keys0)
        out = {"query": attention.energy(
            attention.project_queries(self.queries)[:, None, None], keys_proj[None])}
        if self.num_layers > 1:
            out["key"] = attention.energy(
                attention.project_queries(keys0)[:, :, None, None], keys_proj[None, None])
        return out

    def density(self, h: jax.Array, i: jax.Array | None = None) -> jax.Array:
        """Masked logits (eq. 9): ``float[N, D]`` from ``h: float[N, d]``, or ``float[D]`` of
        hyperparameter ``i`` from ``h: float[d]``."""
        if i is None:
            logits = jnp.einsum("nd,ndv->nv", h, self.density_kernel) + self.density_bias
            return policy_lib.mask_logits(logits, self.allowed)
        logits = h @ self.density_kernel[i] + self.density_bias[i]
        return policy_lib.mask_logits(logits, self.allowed[i])

    def __call__(self, string: jax.Array, order: jax.Array, tables=None) -> jax.Array:
        """float[N, D]: masked logits of every ``P(a_i | a_{z<i})`` for one string (teacher forcing).

        Args:
          string: int32[N] values.
          order: int32[N] factorization order ``z``.
          tables: :meth:`tables` of these parameters (computed here when None).
        """
        tables = self.tables() if tables is None else tables
        rank = policy_lib.ranks(order)
        before = rank[None, :] < rank[:, None]  # [i, j]: j precedes i in z
        upto = rank[None, :] <= rank[:, None]
        # One-hot contractions instead of gathers: their gradients need no scatter.
        one_hot = jax.nn.one_hot(string, self.values.shape[0], dtype=self.values.dtype)  # [N, D]
        k = self.queries + one_hot @ self.values  # k^(0)
        first = self.blocks[0]
        energy = jnp.einsum("ijb,jb->ij", tables["query"], one_hot)
        q = first.feed_forward(self.queries, masked_average(energy, before, k))
        if self.num_layers > 1:
            energy = jnp.einsum("iajb,ia,jb->ij", tables["key"], one_hot, one_hot)
            k = first.feed_forward(k, masked_average(energy, upto, k))
        for m, block in enumerate(self.blocks[1:], start=1):
            k_proj = block.attention.project_keys(k)
            q_next = block(q, k, k_proj, before)
            if m + 1 < self.num_layers:  # the last block's key stream is never read
                k = block(k, k, k_proj, upto)
            q = q_next
        return self.density(q)

    def step_logits(self, i: jax.Array, string: jax.Array, keys: jax.Array,
                    keys_proj: jax.Array, seen: jax.Array, tables) -> jax.Array:
        """float[D]: masked logits of hyperparameter ``i`` given the ``seen`` ones.

        Args:
          i: int32[] hyperparameter index.
          string: int32[N], values of the seen hyperparameters (others ignored).
          keys: float[M, N, d] key-stream vectors ``k^(m)`` (rows of unseen ones unused).
          keys_proj: float[M - 1, N, d] projections of ``k^(1..M-1)`` for blocks ``1..M-1``.
          seen: bool[N] hyperparameters generated before ``i``.
          tables: :meth:`tables`.
        """
        energy = tables["query"][i, jnp.arange(len(self.cardinalities)), string]
        x = self.blocks[0].feed_forward(self.queries[i],
                                        masked_average(energy[None], seen[None], keys[0])[0])
        for m, block in enumerate(self.blocks[1:], start=1):
            x = block(x[None], keys[m], keys_proj[m - 1], seen[None])[0]
        return self.density(x, i)

    def write_keys(self, i: jax.Array, string: jax.Array, keys: jax.Array, keys_proj: jax.Array,
                   seen: jax.Array, tables) -> tuple[jax.Array, jax.Array]:
        """Key-stream vectors ``k_i^(0..M-1)`` of hyperparameter ``i`` once ``string[i]`` is drawn.

        Args:
          as :meth:`step_logits`, with ``seen`` including ``i``.
        Returns:
          ``(keys, keys_proj)`` with row ``i`` of every layer filled in.
        """
        y = self.queries[i] + self.values[string[i]]
        keys = keys.at[0, i].set(y)
        if self.num_layers > 1:
            energy = tables["key"][i, string[i], jnp.arange(len(self.cardinalities)), string]
            y = self.blocks[0].feed_forward(y, masked_average(energy[None], seen[None], keys[0])[0])
        for m, block in enumerate(self.blocks[1:], start=1):
            keys = keys.at[m, i].set(y)
            keys_proj = keys_proj.at[m - 1, i].set(block.attention.project_keys(y))
            if m + 1 < self.num_layers:
                y = block(y[None], keys[m], keys_proj[m - 1], seen[None])[0]
        return keys, keys_proj


def sample(model: MAADE, params, key: jax.Array, order: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Ancestral sampling of one string in order ``z`` (one ``lax.scan`` over ``N`` steps).

    Args:
      model: the MAADE module; params: its parameters.
      key: PRNG key.
      order: int32[N] factorization order.
    Returns:
      ``(string: int32[N], log_prob: float[])``.
    """
    n, d = len(model.cardinalities), model.embed_dim
    tables = model.apply(params, method=MAADE.tables)

    def step(carry, inputs):
        string, keys, keys_proj, seen, log_prob = carry
        i, key = inputs
        logits = model.apply(params, i, string, keys, keys_proj, seen, tables,
                             method=MAADE.step_logits)
        value = jax.random.categorical(key, logits)
        log_prob = log_prob + jax.nn.log_softmax(logits)[value]
        string, seen = string.at[i].set(value), seen.at[i].set(True)
        keys, keys_proj = model.apply(params, i, string, keys, keys_proj, seen, tables,
                                      method=MAADE.write_keys)
        return (string, keys, keys_proj, seen, log_prob), None

    carry = (jnp.zeros(n, jnp.int32), jnp.zeros((model.num_layers, n, d)),
             jnp.zeros((model.num_layers - 1, n, d)), jnp.zeros(n, bool), jnp.float32(0.0))
    (string, *_, log_prob), _ = jax.lax.scan(step, carry, (order, jax.random.split(key, n)))
    return string, log_prob


def make_policy(cardinalities: tuple[int, ...], embed_dim: int, num_layers: int = 1,
                ff_dim: int = 0) -> policy_lib.Policy:
    """MAADE as a :class:`~nasjax.agents.remaade.policy.Policy`."""
    if embed_dim < 1 or num_layers < 1:
        raise ValueError(f"MAADE needs embed_dim >= 1 and num_layers >= 1, "
                         f"got {embed_dim} and {num_layers}")
    model = MAADE(tuple(cardinalities), embed_dim, num_layers, ff_dim)
    n = len(cardinalities)

    def init(key):
        return model.init(key, jnp.zeros(n, jnp.int32), jnp.arange(n, dtype=jnp.int32))

    def log_prob(params, string, order):
        return policy_lib.string_log_prob(model.apply(params, string, order), string)

    return policy_lib.Policy(
        name="maade", cardinalities=tuple(cardinalities), init=init, log_prob=log_prob,
        sample=lambda params, key, order: sample(model, params, key, order))
