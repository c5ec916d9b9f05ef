"""Padded directed-acyclic-graph operations shared by the cell search spaces.

Every graph is a fixed-size, strictly upper-triangular boolean adjacency matrix
``adj: bool[..., V, V]`` (``adj[i, j]`` is the edge ``i -> j``) over vertices in
topological order, with a vertex mask ``present: bool[..., V]`` for padding.
All functions are pure, batch over leading axes, and are safe under ``jit``/``vmap``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

# Odd 32-bit constants of the two independent hash lanes (murmur3/splitmix style).
_LANE_SEEDS = np.array([0x9E3779B9, 0x7F4A7C15], dtype=np.uint32)
_IN_SALT = np.array([0x85EBCA6B, 0xC2B2AE35], dtype=np.uint32)
_OUT_SALT = np.array([0x27D4EB2F, 0x165667B1], dtype=np.uint32)
_FINAL_SALT = np.array([0x61C88647, 0x2545F491], dtype=np.uint32)
# Refinement rounds of wl_hash. The official NAS-Bench-101 hash runs n rounds (n vertices); 2
# already give 423,624 distinct values over the enumerated space (checked exhaustively, and by
# a slow test), so 3 keep a margin at less than half the cost of 7.
WL_ROUNDS = 3


def fmix32(x: jax.Array) -> jax.Array:
    """Murmur3's 32-bit finaliser: a cheap bijective avalanche mix of ``uint32`` values (lax
    primitives: traced in every hash, where jnp's operators cost three times as much)."""
    x = lax.bitwise_xor(x, lax.shift_right_logical(x, np.uint32(16)))
    x = lax.mul(x, np.uint32(0x85EBCA6B))
    x = lax.bitwise_xor(x, lax.shift_right_logical(x, np.uint32(13)))
    x = lax.mul(x, np.uint32(0xC2B2AE35))
    return lax.bitwise_xor(x, lax.shift_right_logical(x, np.uint32(16)))


def transitive_closure(adj: jax.Array) -> jax.Array:
    """Reachability ``reach[i, j]``: a path of length >= 1 from ``i`` to ``j``.

    Args:
      adj: bool[..., V, V] adjacency of a DAG.
    Returns:
      bool[..., V, V].
    """
    num_vertices = adj.shape[-1]
    reach = adj
    steps = max(1, int(np.ceil(np.log2(max(num_vertices, 2)))))
    for _ in range(steps):
        hop = jnp.einsum("...ij,...jk->...ik", reach.astype(jnp.int32), reach.astype(jnp.int32)) > 0
        reach = reach | hop
    return reach


def on_path(adj: jax.Array, source: jax.Array, sink: jax.Array) -> jax.Array:
    """Which vertices lie on some ``source -> sink`` path (both endpoints included).

    Args:
      adj: bool[..., V, V].
      source: int[...] index of the source vertex.
      sink: int[...] index of the sink vertex.
    Returns:
      bool[..., V]; all False when the sink is not reachable from the source.
    """
    num_vertices = adj.shape[-1]
    reach = transitive_closure(adj) | jnp.eye(num_vertices, dtype=bool)
    from_source = jnp.take_along_axis(reach, source[..., None, None], axis=-2)[..., 0, :]
    to_sink = jnp.take_along_axis(reach, sink[..., None, None], axis=-1)[..., :, 0]
    return from_source & to_sink


def compact(adj: jax.Array, labels: jax.Array, keep: jax.Array, pad_label: int):
    """Move the kept vertices to the front, preserving their order, and pad the rest.

    Args:
      adj: bool[..., V, V].
      labels: int[..., V].
      keep: bool[..., V].
      pad_label: label written into dropped slots.
    Returns:
      ``(adj, labels)`` with the same shapes; dropped vertices have no edges.
    """
    order = jnp.argsort(~keep, axis=-1, stable=True)
    kept = jnp.take_along_axis(keep, order, axis=-1)
    labels = jnp.where(kept, jnp.take_along_axis(labels, order, axis=-1), pad_label)
    adj = adj & keep[..., :, None] & keep[..., None, :]
    adj = jnp.take_along_axis(adj, order[..., :, None], axis=-2)
    adj = jnp.take_along_axis(adj, order[..., None, :], axis=-1)
    return adj, labels.astype(labels.dtype)


def wl_hash(adj: jax.Array, labels: jax.Array, present: jax.Array) -> jax.Array:
    """Isomorphism-invariant 64-bit Weisfeiler-Lehman hash of labelled DAGs.

    Mirrors the refinement of the official NAS-Bench-101 module hash: vertex
    colours start from ``(out-degree, in-degree, label)``, then each of
    ``min(n, WL_ROUNDS)`` rounds (``n`` = number of vertices of that graph) combines
    the multiset of in-neighbour colours, the multiset of out-neighbour colours and
    the own colour; the graph hash is the multiset of final colours. Multisets are
    aggregated as sums (mod 2^32) of mixed values, so the result does not depend
    on vertex order. Two independent 32-bit lanes give 64 bits. The official hash
    runs ``n`` rounds; :data:`WL_ROUNDS` rounds already separate every pair of
    non-isomorphic NAS-Bench-101 cells, so the equivalence classes are the official ones.

    Args:
      adj: bool[..., V, V] strictly upper-triangular adjacency (vertices in a
        topological order; any topological order gives the same hash).
      labels: int[..., V] vertex labels, small non-negative or negative ints.
      present: bool[..., V] vertex mask.
    Returns:
      uint32[..., 2].
    """
    batch_shape, num_vertices = labels.shape[:-1], labels.shape[-1]
    # Unrolled over lanes, rounds, vertices and edges, each term a [B] vector: the whole
    # hash is elementwise XLA code that vectorises across cells (8x a looped version). Written
    # in lax primitives on uint32 (wrapping arithmetic, so the order of the sums is free): the
    # ~3,300 operations trace in a third of the time that jnp's operators take.
    adj = adj.reshape(-1, num_vertices, num_vertices)
    present = present.reshape(-1, num_vertices)
    labels = labels.reshape(-1, num_vertices)
    add, xor, u32 = lax.add, lax.bitwise_xor, np.uint32
    zeros = jnp.zeros(adj.shape[:1], jnp.uint32)

    def muladd(x, factor, term):  # x * factor + term
        return add(lax.mul(x, u32(factor)), term)

    def total(terms):
        return functools.reduce(add, terms, zeros)

    pairs = [(u, v) for u in range(num_vertices) for v in range(u + 1, num_vertices)]
    edge = {(u, v): adj[:, u, v] & present[:, u] & present[:, v] for u, v in pairs}
    counts = {pair: lax.convert_element_type(e, jnp.uint32) for pair, e in edge.items()}
    in_degree = [total(counts[u, v] for u in range(v)) for v in range(num_vertices)]
    out_degree = [total(counts[u, v] for v in range(u + 1, num_vertices))
                  for u in range(num_vertices)]
    label = [(labels[:, v].astype(jnp.int32) + 64).astype(jnp.uint32) for v in range(num_vertices)]
    n = present.sum(-1)
    lanes = []
    for lane in range(2):  # two independent 32-bit lanes
        seed = u32(_LANE_SEEDS[lane])
        colour = [fmix32(muladd(muladd(muladd(out_degree[v], 4099, in_degree[v]), 257, label[v]),
                                2654435761, seed))
                  for v in range(num_vertices)]
        for step in range(min(num_vertices, WL_ROUNDS)):
            to_succ = [fmix32(xor(c, u32(_IN_SALT[lane]))) for c in colour]
            to_pred = [fmix32(xor(c, u32(_OUT_SALT[lane]))) for c in colour]
            from_in = [total(lax.select(edge[u, v], to_succ[u], zeros) for u in range(v))
                       for v in range(num_vertices)]
            from_out = [total(lax.select(edge[u, v], to_pred[v], zeros)
                              for v in range(u + 1, num_vertices)) for u in range(num_vertices)]
            neighbourhood = [fmix32(xor(fmix32(muladd(from_in[v], 3, seed)),
                                        lax.mul(from_out[v], u32(0x2F0B3A49))))
                             for v in range(num_vertices)]
            active = step < n
            colour = [lax.select(active, fmix32(muladd(colour[v], 0x9E3779B1, neighbourhood[v])),
                                 colour[v])
                      for v in range(num_vertices)]
        final = [lax.select(present[:, v], fmix32(xor(colour[v], u32(_FINAL_SALT[lane]))), zeros)
                 for v in range(num_vertices)]
        lanes.append(fmix32(muladd(n.astype(jnp.uint32), 0x632BE5AB, total(final))))
    # The barrier materialises the hash: otherwise XLA may fuse (and so recompute) this long
    # elementwise expression into every consumer, e.g. each step of a binary search.
    return jax.lax.optimization_barrier(jnp.stack(lanes, -1).reshape(batch_shape + (2,)))


def hash_to_uint64(hashes: np.ndarray) -> np.ndarray:
    """Host-side: pack ``uint32[..., 2]`` hashes into ``uint64[...]`` (lane 0 high)."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    return (hashes[..., 0] << np.uint64(32)) | hashes[..., 1]


BUCKET_BITS = 18  # first-level index of sorted hash tables: buckets by the top bits of lane 0


def bucket_index(table: np.ndarray) -> tuple[np.ndarray, int]:
    """Host-side first-level index of a sorted hash table, for :func:`sorted_lookup`.

    Returns:
      ``(offsets int32[2^BUCKET_BITS + 1], steps)``: bucket ``b`` (top BUCKET_BITS bits of
      lane 0) spans rows
      ``offsets[b]:offsets[b + 1]``; ``steps`` binary-search halvings cover the largest bucket.
    """
    top = np.asarray(table)[:, 0] >> np.uint32(32 - BUCKET_BITS)
    offsets = np.searchsorted(top, np.arange((1 << BUCKET_BITS) + 1), side="left").astype(np.int32)
    largest = int(np.diff(offsets).max(initial=0))
    return offsets, max(1, int(np.ceil(np.log2(largest + 1))))


def sorted_lookup(table: jax.Array, queries: jax.Array, buckets: jax.Array | None = None,
                  steps: int | None = None) -> jax.Array:
    """Row of each query hash in a table of hashes sorted lexicographically, or -1.

    Args:
      table: uint32[K, 2] hashes sorted by (lane 0, lane 1), no duplicates.
      queries: uint32[..., 2].
      buckets: optional int32[2^BUCKET_BITS + 1] offsets of :func:`bucket_index`; with ``steps``
        the search starts inside the query's bucket (about 4x fewer probes).
      steps: halvings that cover the largest bucket (from :func:`bucket_index`).
    Returns:
      int32[...]: index into ``table``, -1 where the hash is absent.
    """
    size = table.shape[0]
    batch_shape = queries.shape[:-1]
    hi, lo = queries.reshape(-1, 2)[:, 0], queries.reshape(-1, 2)[:, 1]
    table_hi, table_lo = table[:, 0], table[:, 1]

    def halve(_, bounds):  # lower-bound binary search on [left, right)
        left, right = bounds
        mid = (left + right) // 2
        probe = jnp.minimum(mid, size - 1)
        probe_hi, probe_lo = table_hi[probe], table_lo[probe]
        less = (probe_hi < hi) | ((probe_hi == hi) & (probe_lo < lo))
        active = left < right
        return jnp.where(active & less, mid + 1, left), jnp.where(active & ~less, mid, right)

    if buckets is None:
        steps = max(1, int(np.ceil(np.log2(size + 1))))
        start = (jnp.zeros(hi.shape, jnp.int32), jnp.full(hi.shape, size, jnp.int32))
    else:
        top = (hi >> (32 - BUCKET_BITS)).astype(jnp.int32)
        start = (buckets[top], buckets[top + 1])
    left, _ = jax.lax.fori_loop(0, steps, halve, start, unroll=True)
    found = jnp.minimum(left, size - 1)
    hit = (left < size) & (table_hi[found] == hi) & (table_lo[found] == lo)
    return jnp.where(hit, left, -1).astype(jnp.int32).reshape(batch_shape)
