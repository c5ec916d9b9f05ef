"""MAADE: the masked attention autoregressive density estimator (ReMAADE §5).

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
no ``tanh`` per string. Later blocks (``M > 1``) compute energies per string. The linear
maps around the attention are folded per parameter set too (``W_1`` of the first PosFF into
``q`` and ``V``; the last PosFF's ``W_2`` into eq. 9), so a string costs one ``tanh`` layer
and no ``d x d`` matmul when ``M = 1``: about 3x faster gradients under ``vmap``. The
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

# Initialisation (our choice; the paper gives none): query vectors and value embeddings
# ~ N(0, EMBED_INIT_STDDEV^2) as nn.Embed (the ``remaade`` block's ``init_stddev``), attention and
# PosFF kernels LeCun normal with zero biases (flax defaults), eq. 9's W and b zero (so the
# initial policy is uniform).
EMBED_INIT_STDDEV = 1.0


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


def _dense_params(dense: nn.Dense, inputs: int) -> dict[str, jax.Array]:
    """The parameters of ``dense`` (``inputs`` wide), created first when initializing."""
    if dense.is_initializing() and not dense.has_variable("params", "kernel"):
        dense(jnp.zeros(inputs))
    return dense.variables["params"]


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

    def hidden(self, x: jax.Array, keys: jax.Array, keys_proj: jax.Array,
               mask: jax.Array) -> jax.Array:
        """float[Q, f]: PosFF's hidden layer ``tanh(W_1 (x + MaskedAttention) + b_1)``; args as
        :meth:`__call__`."""
        energy = self.attention.energy(self.attention.project_queries(x)[:, None], keys_proj[None])
        return jnp.tanh(self.ff_in(x + masked_average(energy, mask, keys)))

    def __call__(self, x: jax.Array, keys: jax.Array, keys_proj: jax.Array,
                 mask: jax.Array) -> jax.Array:
        """float[Q, d] from queries ``x: float[Q, d]``, keys ``float[K, d]`` with projections
        ``keys_proj: float[K, d]``, and allowed pairs ``mask: bool[Q, K]``."""
        return self.ff_out(self.hidden(x, keys, keys_proj, mask))


class MAADE(nn.Module):
    """The MAADE policy network over strings with the given cardinalities."""

    cardinalities: tuple[int, ...]
    embed_dim: int  # d
    num_layers: int = 1  # M
    ff_dim: int = 0  # hidden width of PosFF; 0 = embed_dim (the paper gives none)
    init_stddev: float = EMBED_INIT_STDDEV  # of q_i and V (the paper gives none)

    def setup(self):
        n, d = len(self.cardinalities), self.embed_dim
        vocab = max(self.cardinalities)
        init = nn.initializers.normal(self.init_stddev)
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
          ``[i, a, j, b]`` the energy of query ``q_i + V[a]`` on key ``q_j + V[b]``; and the
          folded linear maps ``"queries_in": float[N, f]`` (``W_1 q_i``), ``"values_in":
          float[D, f]`` (``W_1 V[b]``) of the first PosFF, ``"density_kernel": float[N, f, D]``
          and ``"density_bias": float[N, D]`` (eq. 9 after the last PosFF's output layer).
        """
        attention = self.blocks[0].attention
        keys0 = self.queries[:, None, :] + self.values[None]  # [N, D, d]
        keys_proj = attention.project_keys(keys0)
        out = {"query": attention.energy(
            attention.project_queries(self.queries)[:, None, None], keys_proj[None])}
        if self.num_layers > 1:
            out["key"] = attention.energy(
                attention.project_queries(keys0)[:, :, None, None], keys_proj[None, None])
        # Linear maps folded once per parameter set, so that strings skip two matmuls:
        # W_1 (q_i + sum_j w_ij k_j) = W_1 q_i + sum_j w_ij (W_1 q_j + W_1 V[a_j]) in the first
        # block, and the last PosFF's W_2 composed with eq. 9's W^i.
        ff_in = _dense_params(self.blocks[0].ff_in, self.embed_dim)["kernel"]
        out["queries_in"] = self.queries @ ff_in  # [N, f]
        out["values_in"] = self.values @ ff_in  # [D, f]
        ff_out = _dense_params(self.blocks[-1].ff_out, self.ff_dim or self.embed_dim)
        out["density_kernel"] = jnp.einsum("fd,ndv->nfv", ff_out["kernel"], self.density_kernel)
        out["density_bias"] = ff_out["bias"] @ self.density_kernel + self.density_bias  # [N, D]
        return out

    def folded_density(self, hidden: jax.Array, tables) -> jax.Array:
        """float[N, D]: masked logits (eq. 9) from the last PosFF's hidden layer
        ``float[N, f]``, through the folded ``W_2 W^i`` of :meth:`tables`."""
        logits = jnp.einsum("nf,nfv->nv", hidden, tables["density_kernel"])
        return policy_lib.mask_logits(logits + tables["density_bias"], self.allowed)

    def __call__(self, string: jax.Array, order: jax.Array, tables=None) -> jax.Array:
        """float[N, D]: masked logits of every ``P(a_i | a_{z<i})`` for one string (teacher
        forcing).

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
        first = self.blocks[0]
        energy = jnp.einsum("ijb,jb->ij", tables["query"], one_hot)
        keys_in = tables["queries_in"] + one_hot @ tables["values_in"]  # W_1 k^(0)
        hidden = jnp.tanh(tables["queries_in"] + first.ff_in.variables["params"]["bias"]
                          + masked_average(energy, before, keys_in))
        if self.num_layers > 1:
            k = self.queries + one_hot @ self.values  # k^(0)
            energy = jnp.einsum("iajb,ia,jb->ij", tables["key"], one_hot, one_hot)
            k = first.feed_forward(k, masked_average(energy, upto, k))
        for m, block in enumerate(self.blocks[1:], start=1):
            q = self.blocks[m - 1].ff_out(hidden)
            k_proj = block.attention.project_keys(k)
            hidden = block.hidden(q, k, k_proj, before)
            if m + 1 < self.num_layers:  # the last block's key stream is never read
                k = block(k, k, k_proj, upto)
        return self.folded_density(hidden, tables)

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
        first = self.blocks[0]
        hidden = jnp.tanh(first.ff_in(self.queries[i] + masked_average(
            energy[None], seen[None], keys[0])[0]))
        for m, block in enumerate(self.blocks[1:], start=1):
            x = self.blocks[m - 1].ff_out(hidden)
            hidden = block.hidden(x[None], keys[m], keys_proj[m - 1], seen[None])[0]
        logits = hidden @ tables["density_kernel"][i] + tables["density_bias"][i]
        return policy_lib.mask_logits(logits, self.allowed[i])

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
                ff_dim: int = 0, init_stddev: float = EMBED_INIT_STDDEV) -> policy_lib.StringPolicy:
    """MAADE as a :class:`~nasjax.agents.remaade.policy.StringPolicy` (``init_stddev``: of the
    query vectors and value embeddings)."""
    if embed_dim < 1 or num_layers < 1:
        raise ValueError(f"MAADE needs embed_dim >= 1 and num_layers >= 1, "
                         f"got {embed_dim} and {num_layers}")
    model = MAADE(tuple(cardinalities), embed_dim, num_layers, ff_dim, init_stddev)
    return policy_lib.from_module("maade", model, sample)
