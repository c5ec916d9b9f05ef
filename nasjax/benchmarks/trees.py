"""Tree ensembles as JAX arrays: XGBoost regressors walked by gathers, bit for bit.

NAS-Bench-301's surrogate is a bagging ensemble of 10 XGBoost regressors whose mean is the
reward (Cassimon et al. §4.2); evaluating it took 16.3 s per evaluation episode, "a significant
barrier to the adoption" of the method (Cassimon et al. §6.1). Here an ensemble becomes two flat
node arrays and a table of roots, and prediction is a fixed-shape loop of gathers that
``jit``/``vmap`` apply to, reproducing ``xgboost.Booster.predict`` to the last bit.

Layout. Every tree is renumbered so that the two children of an internal node are adjacent
(right = left + 1). A node is one packed int32 word and one float32::

    node  = (left - self) << (feature_bits + 1) | feature << 1 | default_left
    value = split threshold (internal node) or leaf value (leaf)

A leaf is a node that loops onto itself: its feature is an extra all-NaN input column, its
default is left and its left offset 0. So all (row, tree) pairs take the same number of steps
(the depth of the deepest tree in their chunk of ``chunk_trees`` trees) without branching.
Members may have different numbers of trees: the shorter ones are padded with a shared leaf of
value -0.0, which leaves every float32 sum unchanged.

Semantics (XGBoost's ``RegTree::GetNext``): at a split, go left iff ``x < threshold`` in float32;
a NaN feature is missing and follows ``default_left``. Leaf values are summed in float32 in tree
order, in one of the two orders XGBoost has used (``base_first``):

- ``True``: ``((base + leaf_0) + leaf_1) + ...``, XGBoost >= 1.3 batch prediction (the block-of-
  rows kernel adds each tree into the output);
- ``False``: ``base + ((0 + leaf_0) + leaf_1 + ...)``, XGBoost <= 1.2 (``PredValue`` sums the
  trees first), the library that wrote the NAS-Bench-301 v1.0 ensemble.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from nasjax.paths import DataFileError, atomic_write, sha256, writable_dir

FORMAT_VERSION = 1  # version of the .npz layout written by save
PACKAGE_FORMAT = 1  # version of the JSON written by save_package
# Trees walked together per loop step: on 2 CPU cores, 10 members x 300 trees of depth 13 and
# 4,096 rows, 16 beat 32 (x1.2) and 64 (x1.7); single-threaded too.
CHUNK_TREES = 16
SHALLOW_DEPTH = 2  # deepest trees of the dense walk (:func:`_predict_shallow`): 3 splits a tree
IDENTITY_OBJECTIVES = ("reg:squarederror", "reg:linear")  # reg:linear: its name before 1.0
NUMPY_PAIRWISE_UNROLL = 8  # partial sums of numpy's pairwise_sum (numpy/_core/src/umath)
NUMPY_PAIRWISE_BLOCK = 128  # numpy's PW_BLOCKSIZE: longer runs are split in two halves
PAD_LEAF_VALUE = np.float32(-0.0)  # x + (-0.0) == x for every float32 x, -0.0 included
WORD_BITS = 31  # payload bits of the signed int32 node word
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # every member's timestamp in a saved file: same bytes


@dataclasses.dataclass(frozen=True)
class Forest:
    """One ensemble member on the host, in XGBoost's own node numbering (N nodes, T trees).

    Child ids are local to their tree; a leaf has ``left == -1`` and keeps its value in
    ``condition`` (XGBoost's union of split condition and leaf value).
    """

    left: np.ndarray  # int32[N], local id of the left child, -1 at leaves
    right: np.ndarray  # int32[N], local id of the right child
    feature: np.ndarray  # int32[N], split feature (ignored at leaves)
    condition: np.ndarray  # float32[N], split threshold, or leaf value at leaves
    default_left: np.ndarray  # bool[N], where a missing (NaN) feature goes
    tree_start: np.ndarray  # int64[T + 1], first node of each tree, then N
    base_score: np.float32  # the global bias (already a margin: identity objectives only)
    num_features: int


@flax.struct.dataclass
class TreeEnsemble:
    """M tree ensembles (members) as arrays; see the module docstring for the layout."""

    node: jax.Array  # int32[N], packed (left offset, feature, default_left)
    value: jax.Array  # float32[N], threshold of an internal node, value of a leaf
    roots: jax.Array  # int32[M, Tp], root of each member's trees, padded to chunks
    chunk_depth: jax.Array  # int32[Tp // chunk_trees], deepest tree of each chunk
    base_score: jax.Array  # float32[M]
    num_features: int = flax.struct.field(pytree_node=False)
    feature_bits: int = flax.struct.field(pytree_node=False)
    num_trees: tuple = flax.struct.field(pytree_node=False)  # (T_m for each member)
    base_first: bool = flax.struct.field(pytree_node=False, default=True)
    chunk_trees: int = flax.struct.field(pytree_node=False, default=CHUNK_TREES)
    # The deepest tree (None: unknown); ensembles of trees no deeper than SHALLOW_DEPTH take
    # the dense walk of :func:`_predict_shallow`.
    max_depth: int | None = flax.struct.field(pytree_node=False, default=None)

    @property
    def num_members(self) -> int:
        return len(self.num_trees)


# ----------------------------------------------------------------------------- reading XGBoost


def forest_from_json(model: bytes | str | dict) -> Forest:
    """A member from XGBoost's JSON model (``Booster.save_raw("json")``, any version >= 1.0).

    Pass the raw bytes or text when you can: thresholds are then rounded to float32 from their
    decimal text exactly, as XGBoost reads them. A parsed ``dict`` holds doubles, which round
    the same way unless a double falls exactly halfway between two float32 values.

    Raises:
        ValueError: not a single-target regression with an identity objective and numerical
            splits (the only models whose prediction is a plain sum of leaves).
    """
    if isinstance(model, (bytes, bytearray, str)):
        model = json.loads(model, parse_float=str)
    learner = _field(model, "learner", "model")
    objective = _field(_field(learner, "objective", "learner"), "name", "objective")
    if objective not in IDENTITY_OBJECTIVES:
        raise ValueError(f"objective {objective!r} is not supported: only the identity-link "
                         f"regressions {IDENTITY_OBJECTIVES} predict a plain sum of leaves")
    param = _field(learner, "learner_model_param", "learner")
    for key in ("num_target", "num_class"):
        if int(param.get(key, "0")) > 1:
            raise ValueError(f"{key} = {param[key]}: only single-target regressors are supported")
    base = parse_base_score(param.get("base_score", "5E-1"))
    booster = _field(learner, "gradient_booster", "learner")
    if booster.get("name") != "gbtree":
        raise ValueError(f"booster {booster.get('name')!r} is not supported: only 'gbtree' "
                         "(dart scales its trees, gblinear has none)")
    trees = _field(_field(booster, "model", "gradient_booster"), "trees", "model")
    parts = [_tree_from_json(tree, k) for k, tree in enumerate(trees)]
    sizes = np.array([len(p[0]) for p in parts], np.int64)
    conditions = _exact_float32([c for p in parts for c in p[3]])
    return Forest(
        left=_concat([p[0] for p in parts], np.int32),
        right=_concat([p[1] for p in parts], np.int32),
        feature=_concat([p[2] for p in parts], np.int32),
        condition=conditions,
        default_left=_concat([p[4] for p in parts], bool),
        tree_start=np.concatenate([[0], np.cumsum(sizes)]),
        base_score=base,
        num_features=int(param.get("num_feature", "0")),
    )


def parse_base_score(text: str) -> np.float32:
    """XGBoost's ``base_score`` string as float32: ``"5E-1"`` (< 3.1) or ``"[9.44E1]"`` (>= 3.1).

    Raises:
        ValueError: not one number (a multi-target model has one per target).
    """
    body = str(text).strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    values = [v for v in body.replace(",", " ").split() if v]
    if len(values) != 1:
        raise ValueError(f"base_score {text!r}: expected one number (single-target model)")
    try:
        return _exact_float32(values)[0]
    except ValueError:
        raise ValueError(f"base_score {text!r} is not a number") from None


def _tree_from_json(tree: dict, index: int) -> tuple:
    """(left, right, feature, condition texts, default_left) of one JSON tree."""
    where = f"tree {index}"
    split_type = tree.get("split_type")  # absent before XGBoost 1.3: all numerical
    if split_type is not None and any(int(s) != 0 for s in split_type):
        raise ValueError(f"{where} has categorical splits (split_type != 0): only numerical "
                         "splits are supported")
    leaf_size = int(_field(tree, "tree_param", where).get("size_leaf_vector", "0"))
    if leaf_size > 1:
        raise ValueError(f"{where} has vector leaves (size_leaf_vector = {leaf_size}): only "
                         "single-target trees are supported")
    columns = [_field(tree, key, where) for key in
               ("left_children", "right_children", "split_indices", "split_conditions",
                "default_left")]
    if len({len(c) for c in columns}) != 1 or not columns[0]:
        raise ValueError(f"{where}: node arrays are empty or of different lengths")
    return tuple(columns)


def _field(obj, key: str, where: str):
    if not isinstance(obj, dict) or key not in obj:
        raise ValueError(f"not an XGBoost JSON model: {where} has no {key!r}")
    return obj[key]


def _concat(parts: list, dtype) -> np.ndarray:
    return np.concatenate([np.asarray(p, dtype=dtype) for p in parts])


def _exact_float32(values: list) -> np.ndarray:
    """float32[n] nearest to each decimal text (or Python number), without double rounding.

    Rounding the nearest double to float32 is exact unless that double is itself halfway
    between two float32 values; only then is the decimal text compared with the tie exactly
    (a Python float is its own text: it stays a tie, rounded half to even).
    """
    texts = [str(v) for v in values]
    as_double = np.array(texts, dtype=np.float64)
    rounded = as_double.astype(np.float32)
    other = np.nextafter(rounded, np.where(as_double > rounded, np.inf, -np.inf).astype(np.float32))
    tie = (as_double != rounded) & (
        (rounded.astype(np.float64) + other.astype(np.float64)) / 2 == as_double)
    for i in np.flatnonzero(tie):
        exact, halfway = Fraction(values[i]), Fraction(float(as_double[i]))
        if exact != halfway:  # an exact tie keeps numpy's round-half-even
            pick = max if exact > halfway else min
            rounded[i] = pick(rounded[i], other[i])
    return rounded


# ----------------------------------------------------------------------------- building arrays


def from_boosters(boosters, base_first: bool = True,
                  chunk_trees: int = CHUNK_TREES) -> TreeEnsemble:
    """The ensemble of ``xgboost.Booster`` members (or one Booster: one member).

    ``base_first=True`` reproduces the prediction of XGBoost >= 1.3, the one installed.
    """
    if not isinstance(boosters, Sequence):
        boosters = [boosters]
    forests = [forest_from_json(bytes(b.save_raw("json"))) for b in boosters]
    return assemble(forests, base_first=base_first, chunk_trees=chunk_trees)


def assemble(forests: Sequence[Forest], base_first: bool = True,
             chunk_trees: int = CHUNK_TREES) -> TreeEnsemble:
    """Pack members into a :class:`TreeEnsemble` (vectorised over all nodes of all trees).

    Raises:
        ValueError: no members, members with different feature counts, a split on a feature
            out of range, child ids that do not form a binary tree, or a tree too large for
            the packed node word.
    """
    if not forests:
        raise ValueError("an ensemble needs at least one member")
    num_features = forests[0].num_features
    if any(f.num_features != num_features for f in forests):
        raise ValueError("members disagree on the number of features: "
                         f"{[f.num_features for f in forests]}")
    if num_features < 1:
        raise ValueError(f"num_features = {num_features}: a model needs at least one feature")
    left, right, feature, condition, default_left = (
        np.concatenate([getattr(f, name) for f in forests])
        for name in ("left", "right", "feature", "condition", "default_left"))
    num_trees = tuple(len(f.tree_start) - 1 for f in forests)
    sizes = np.concatenate([np.diff(f.tree_start) for f in forests])
    if (sizes < 1).any():
        raise ValueError("a tree has no nodes")
    start = np.concatenate([[0], np.cumsum(sizes)])  # raw offset of each tree
    tree_of = np.repeat(np.arange(len(sizes)), sizes)  # tree of each raw node
    internal = left >= 0
    for name, child in (("left", left), ("right", right)):
        if (internal & ((child < 0) | (child >= sizes[tree_of]))).any():
            raise ValueError(f"a {name} child id is outside its tree")
    glob_left = np.where(internal, left + start[tree_of], -1)
    glob_right = np.where(internal, right + start[tree_of], -1)

    depth = _depths(start[:-1], glob_left, glob_right, internal)
    reached = depth >= 0
    internal &= reached
    if (internal & ((feature < 0) | (feature >= num_features))).any():
        raise ValueError(f"a split uses a feature outside 0..{num_features - 1}")

    # Children of the k-th internal node of a tree get ids 2k+1, 2k+2 of that tree (root 0).
    per_tree = np.bincount(tree_of[internal], minlength=len(sizes))
    new_start = np.concatenate([[0], np.cumsum(1 + 2 * per_tree)])
    rank = np.cumsum(internal) - 1 - np.concatenate([[0], np.cumsum(per_tree)])[tree_of]
    new_id = np.full(len(left), -1, np.int64)
    new_id[start[:-1]] = new_start[:-1]
    parents = np.flatnonzero(internal)
    first_child = new_start[tree_of[parents]] + 2 * rank[parents] + 1
    new_id[glob_left[parents]] = first_child
    new_id[glob_right[parents]] = first_child + 1

    feature_bits = max(1, int(num_features).bit_length())  # holds 0..F, F = the NaN column
    total = int(new_start[-1])
    offset = np.zeros(len(left), np.int64)
    offset[parents] = first_child - new_id[parents]
    limit = 1 << (WORD_BITS - feature_bits - 1)
    if (np.abs(offset) >= limit).any():
        raise ValueError(f"a tree is too large for the packed node word (child offset >= "
                         f"{limit} with {num_features} features)")
    word = np.where(internal, (offset << (feature_bits + 1)) | (feature.astype(np.int64) << 1)
                    | default_left, (num_features << 1) | 1)
    node = np.empty(total + 1, np.int32)  # + the shared padding leaf
    value = np.empty(total + 1, np.float32)
    node[new_id[reached]] = word[reached]
    value[new_id[reached]] = condition[reached]
    node[total], value[total] = (num_features << 1) | 1, PAD_LEAF_VALUE

    tree_depth = np.zeros(len(sizes), np.int32)
    np.maximum.at(tree_depth, tree_of[reached], depth[reached])
    padded = max(1, -(-max(num_trees) // chunk_trees)) * chunk_trees  # at least one chunk
    roots = np.full((len(forests), padded), total, np.int32)
    depths = np.zeros((len(forests), padded), np.int32)
    first = np.concatenate([[0], np.cumsum(num_trees)])
    for m, count in enumerate(num_trees):
        roots[m, :count] = new_start[first[m]:first[m + 1]]
        depths[m, :count] = tree_depth[first[m]:first[m + 1]]
    return TreeEnsemble(
        node=jnp.asarray(node), value=jnp.asarray(value), roots=jnp.asarray(roots),
        chunk_depth=jnp.asarray(depths.reshape(len(forests), -1, chunk_trees).max(axis=(0, 2))),
        base_score=jnp.asarray(np.array([f.base_score for f in forests], np.float32)),
        num_features=int(num_features), feature_bits=feature_bits, num_trees=num_trees,
        base_first=bool(base_first), chunk_trees=int(chunk_trees),
        max_depth=int(depths.max()))


def _depths(roots: np.ndarray, left: np.ndarray, right: np.ndarray,
            internal: np.ndarray) -> np.ndarray:
    """int32[N]: depth of each node below its tree's root, -1 if unreachable (deleted nodes).

    Raises:
        ValueError: a node reached twice (shared child or cycle: not a tree).
    """
    depth = np.full(len(left), -1, np.int32)
    frontier, level = roots, 0
    while len(frontier):
        if (depth[frontier] >= 0).any() or len(np.unique(frontier)) != len(frontier):
            raise ValueError("child ids do not form a binary tree (a node has two parents)")
        depth[frontier] = level
        frontier = frontier[internal[frontier]]
        frontier = np.concatenate([left[frontier], right[frontier]])
        level += 1
    return depth


# ----------------------------------------------------------------------------- prediction


def predict(ensemble: TreeEnsemble, x: jax.Array) -> jax.Array:
    """float32[..., M]: each member's prediction for features ``x: float[..., F]``.

    Bit-identical to ``Booster.predict`` of the XGBoost the ensemble was built for (see
    ``base_first``); ``x`` is rounded to float32 first, as XGBoost does. Works under ``jit``.

    Raises:
        ValueError: ``x`` does not end in the ensemble's ``num_features``.
    """
    x = jnp.asarray(x, jnp.float32)
    if x.ndim < 1 or x.shape[-1] != ensemble.num_features:
        raise ValueError(f"features have shape {x.shape}; expected (..., "
                         f"{ensemble.num_features})")
    rows = x.reshape(-1, ensemble.num_features)
    return _predict_rows(ensemble, rows).reshape(*x.shape[:-1], ensemble.num_members)


def predict_mean(ensemble: TreeEnsemble, x: jax.Array) -> jax.Array:
    """float32[...]: the members' mean, as ``np.mean(predict(...), axis=-1)`` computes it."""
    return ensemble_mean(predict(ensemble, x))


@jax.jit
def _predict_rows(ens: TreeEnsemble, x: jax.Array) -> jax.Array:
    """float32[B, M] for ``x: float32[B, F]``: the walk, one chunk of trees per scan step.

    A leaf's node word points at itself (offset 0, the all-NaN feature column, default left),
    so stepping a leaf is a no-op and every tree of a chunk takes the chunk's depth in steps.
    The first two levels are read without per-row node look-ups: the root is the same for
    every row, and the level below is one of the root's two children, chosen by a select.
    Ensembles no deeper than ``SHALLOW_DEPTH`` take :func:`_predict_shallow` (the same sums).
    """
    if ens.max_depth is not None and ens.max_depth <= SHALLOW_DEPTH:
        return _predict_shallow(ens, x)
    num_rows, width = x.shape[0], ens.num_features + 1
    members, padded = ens.roots.shape
    chunk = ens.chunk_trees
    last = ens.node.shape[0] - 1
    table = jnp.concatenate([x, jnp.full((num_rows, 1), jnp.nan, jnp.float32)], axis=1)
    table = table.reshape(-1)  # row-major: feature f of row b at b * width + f
    row_start = (jnp.arange(num_rows, dtype=jnp.int32) * width)[:, None, None]
    shift, feature_mask = ens.feature_bits + 1, (1 << ens.feature_bits) - 1

    def left_of(word, threshold):  # which way rows go at nodes ``word`` (any shape), [B, M, C]
        xv = _take(table, row_start + ((word >> 1) & feature_mask))
        return (xv < threshold) | (jnp.isnan(xv) & ((word & 1) == 1))

    def step(_, idx):  # idx: int32[B, M, C], the current node of each (row, member, tree)
        word = _take(ens.node, idx)
        return idx + (word >> shift) + (~left_of(word, _take(ens.value, idx))).astype(jnp.int32)

    def chunk_step(total, inputs):
        roots, depth = inputs  # int32[M, C], int32[]
        word = _take(ens.node, roots)  # level 0: one node per tree, the same for every row
        first = roots + (word >> shift)  # its left child (the root itself for a leaf)
        go_left = left_of(word, _take(ens.value, roots))
        # Level 1: both children's words per tree, one picked per row. A leaf root never
        # goes right, so its "right child" (clamped into the array) is never read.
        second = jnp.minimum(first + 1, last)
        word = jnp.where(go_left, _take(ens.node, first), _take(ens.node, second))
        threshold = jnp.where(go_left, _take(ens.value, first), _take(ens.value, second))
        idx = jnp.where(go_left, first, second)
        idx = idx + (word >> shift) + (~left_of(word, threshold)).astype(jnp.int32)
        idx = lax.fori_loop(2, jnp.maximum(depth, 2), step, idx)
        leaves = _take(ens.value, idx)
        for j in range(chunk):  # tree order, one float32 add at a time
            total = total + leaves[..., j]
        return total, None

    roots = ens.roots.reshape(members, padded // chunk, chunk).transpose(1, 0, 2)
    if ens.base_first:
        start = jnp.broadcast_to(ens.base_score, (num_rows, members))
    else:  # a zero XLA cannot fold away (0.0 + -0.0 is 0.0)
        start = lax.optimization_barrier(jnp.zeros((num_rows, members), jnp.float32))
    total, _ = lax.scan(chunk_step, start, (roots, ens.chunk_depth))
    return total if ens.base_first else ens.base_score + total


def _predict_shallow(ens: TreeEnsemble, x: jax.Array) -> jax.Array:
    """float32[B, M] for ``x: float32[B, F]`` and trees of depth <= 2: :func:`_predict_rows`
    without per-row look-ups.

    Every tree is read as a complete tree of depth 2: its root, the root's two children and
    their four children (a leaf stands for itself: it always goes left, onto itself). All three
    splits are evaluated for every row and the leaf picked by two selects, so the only row
    gathers are whole feature columns of the transposed input ``float32[F + 1, B]``. Leaves are
    summed in tree order, one chunk of trees per scan step, as :func:`_predict_rows` sums them.
    """
    num_rows = x.shape[0]
    members, padded = ens.roots.shape
    last = ens.node.shape[0] - 1
    columns = jnp.concatenate([x.T, jnp.full((1, num_rows), jnp.nan, jnp.float32)], axis=0)
    shift, feature_mask = ens.feature_bits + 1, (1 << ens.feature_bits) - 1

    def split(idx):  # the split of nodes idx: int32[M, Tp] and their left children
        word = _take(ens.node, idx)
        left = jnp.clip(idx + (word >> shift), 0, last)
        return ((word >> 1) & feature_mask, _take(ens.value, idx), (word & 1) == 1), left

    root, first = split(ens.roots)
    second = jnp.minimum(first + 1, last)  # a leaf root never goes right: never read
    split_first, leaf = split(first)
    split_second, other = split(second)
    leaves = [_take(ens.value, i) for i in (leaf, jnp.minimum(leaf + 1, last), other,
                                            jnp.minimum(other + 1, last))]
    per_tree = [*root, *split_first, *split_second, *leaves]  # each [M, Tp]
    chunk = ens.chunk_trees
    per_chunk = [a.reshape(members, padded // chunk, chunk).transpose(1, 0, 2) for a in per_tree]

    def goes_left(feature, threshold, default_left):  # [M, C, B]
        xv = _take(columns, feature)
        return (xv < threshold[..., None]) | (jnp.isnan(xv) & default_left[..., None])

    def chunk_step(total, inputs):  # total: float32[M, B]
        splits, values = inputs[:9], [v[..., None] for v in inputs[9:]]
        leaf = jnp.where(goes_left(*splits[:3]),
                         jnp.where(goes_left(*splits[3:6]), values[0], values[1]),
                         jnp.where(goes_left(*splits[6:]), values[2], values[3]))
        for j in range(chunk):  # tree order, one float32 add at a time
            total = total + leaf[:, j]
        return total, None

    if ens.base_first:
        start = jnp.broadcast_to(ens.base_score[:, None], (members, num_rows))
    else:  # a zero XLA cannot fold away (0.0 + -0.0 is 0.0)
        start = lax.optimization_barrier(jnp.zeros((members, num_rows), jnp.float32))
    total, _ = lax.scan(chunk_step, start, per_chunk)
    return (total if ens.base_first else ens.base_score[:, None] + total).T


def _take(array: jax.Array, idx: jax.Array) -> jax.Array:
    """``array[idx]`` for indices known to be in range (no clamping or wrapping)."""
    return array.at[idx].get(mode="promise_in_bounds")


def ensemble_mean(preds: jax.Array) -> jax.Array:
    """float32[...]: ``np.mean(preds, axis=-1)`` of ``preds: float32[..., M]``, bit for bit.

    NumPy reduces a contiguous float32 run with ``pairwise_sum``: fewer than 8 values one by
    one, up to 128 values in 8 interleaved partial sums combined as ((0+1)+(2+3))+((4+5)+(6+7))
    plus the remainder one by one, longer runs split in two halves (the first a multiple of 8);
    the reduction starts from 0.0, then divides by M.
    """
    preds = jnp.asarray(preds, jnp.float32)
    columns = [preds[..., m] for m in range(preds.shape[-1])]
    # XLA folds 0 + x into x (NumPy's 0.0 + -0.0 is 0.0) and rewrites a division by a scalar
    # as a product with its rounded reciprocal: start from a zero and divide by a count that
    # it cannot see through. Both are made from the data (|x| * 0 is +0.0 for finite x): under
    # vmap a constant would be an unbatched scalar, and XLA turns a division by a broadcast
    # scalar into a product with its reciprocal even behind a barrier.
    zero = jnp.abs(columns[0]) * 0.0
    zero, count = lax.optimization_barrier((zero, zero + jnp.float32(len(columns))))
    return (zero + _pairwise_sum(columns)) / count


def _pairwise_sum(columns: list) -> jax.Array:
    n, unroll = len(columns), NUMPY_PAIRWISE_UNROLL
    if n < unroll:
        total = jnp.zeros_like(columns[0])
        for column in columns:
            total = total + column
        return total
    if n <= NUMPY_PAIRWISE_BLOCK:
        partial = list(columns[:unroll])
        body = n - n % unroll
        for i in range(unroll, body, unroll):
            partial = [p + c for p, c in zip(partial, columns[i:i + unroll])]
        while len(partial) > 1:  # ((0+1)+(2+3))+((4+5)+(6+7))
            partial = [partial[k] + partial[k + 1] for k in range(0, len(partial), 2)]
        total = partial[0]
        for column in columns[body:]:
            total = total + column
        return total
    half = n // 2
    half -= half % unroll
    return _pairwise_sum(columns[:half]) + _pairwise_sum(columns[half:])


# ----------------------------------------------------------------------------- files


def save(path: str | os.PathLike, ensemble: TreeEnsemble, metadata: dict | None = None) -> None:
    """Write ``ensemble`` (and JSON-able ``metadata``) to a compact ``.npz``, atomically.

    The same ensemble and metadata give the same bytes (fixed zip timestamps), so a shipped
    file's sha256 names its content.
    """
    header = {"format_version": FORMAT_VERSION, "num_features": ensemble.num_features,
              "feature_bits": ensemble.feature_bits, "num_trees": list(ensemble.num_trees),
              "base_first": ensemble.base_first, "chunk_trees": ensemble.chunk_trees,
              "metadata": metadata or {}}
    write_arrays(path, {"header": np.array(json.dumps(header)),
                        **{name: np.asarray(getattr(ensemble, name)) for name in _ARRAYS}})


def write_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to a compressed ``.npz`` (what ``np.load`` reads), atomically; the same
    arrays give the same bytes (fixed zip timestamps), so a shipped file's sha256 names them."""
    with atomic_write(path) as handle, zipfile.ZipFile(handle, "w") as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def load(path: str | os.PathLike) -> tuple[TreeEnsemble, dict]:
    """(ensemble, metadata) from a file written by :func:`save`, checked on the way in.

    Raises:
        ValueError: not such a file, another format version, or arrays of the wrong shape.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            arrays = {name: data[name] for name in _ARRAYS}
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"{path} is not a nasjax tree ensemble file ({error})") from None
    if header.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path} has tree ensemble format {header.get('format_version')}; "
                         f"this nasjax reads format {FORMAT_VERSION}")
    ensemble = TreeEnsemble(
        **{name: jnp.asarray(array) for name, array in arrays.items()},
        num_features=header["num_features"], feature_bits=header["feature_bits"],
        num_trees=tuple(header["num_trees"]), base_first=header["base_first"],
        chunk_trees=header["chunk_trees"], max_depth=int(arrays["chunk_depth"].max()))
    _check_shapes(ensemble, path)
    return ensemble, header["metadata"]


def save_package(directory: str | os.PathLike, stem: str, ensembles: dict[str, TreeEnsemble],
                 metadata: dict, tables: dict[str, dict[str, np.ndarray]] | None = None) -> Path:
    """Write fitted ensembles the way nasjax ships them: ``<stem>_<name>.npz`` per ensemble
    (:func:`save`) and per table of arrays derived from them (:func:`write_arrays`), and
    ``<stem>.json`` holding the package format, each file's size and sha256 (ensembles under
    ``files``, tables under ``tables``) and ``metadata`` (who fitted it, how, on what). Same
    ensembles, tables and metadata, same bytes.

    Returns:
      The JSON file.
    """
    directory = writable_dir(directory)
    files, derived = {}, {}
    for entries, items, write in ((files, ensembles, save),
                                  (derived, tables or {}, write_arrays)):
        for name, content in items.items():
            path = directory / f"{stem}_{name}.npz"
            write(path, content)
            entries[name] = {"file": path.name, "bytes": path.stat().st_size,
                             "sha256": sha256(path)}
    record = {"package_format": PACKAGE_FORMAT, "files": files,
              **({"tables": derived} if derived else {}), **metadata}
    path = directory / f"{stem}.json"
    with atomic_write(path, "w") as handle:
        json.dump(record, handle, indent=1)
        handle.write("\n")
    return path


def package_metadata(directory: str | os.PathLike, stem: str, remake: str) -> dict:
    """The metadata of a package written by :func:`save_package`, after checking every file
    (ensembles and tables) against the size and sha256 the JSON records.

    Raises:
      DataFileError: one line naming the file: missing, unreadable JSON, another package
        format, or a file whose size or digest differs (corrupted or replaced).
    """
    path = Path(directory) / f"{stem}.json"
    if not path.is_file():
        raise DataFileError(path, "missing", remake)
    try:
        record = json.loads(path.read_text())
        files = [(entry["file"], int(entry["bytes"]), str(entry["sha256"]))
                 for entry in [*record["files"].values(), *record.get("tables", {}).values()]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise DataFileError(path, f"not a tree ensemble package ({error!r})", remake) from None
    if record.get("package_format") != PACKAGE_FORMAT:
        raise DataFileError(path, f"package format {record.get('package_format')}, this nasjax "
                            f"reads {PACKAGE_FORMAT}", remake)
    for file, size, digest in files:
        member = path.parent / file
        if not member.is_file():
            raise DataFileError(member, f"missing (listed in {path.name})", remake)
        if member.stat().st_size != size or sha256(member) != digest:
            raise DataFileError(member, f"size or sha256 differs from {path.name} (corrupted or "
                                "replaced)", remake)
    return record


def load_package(directory: str | os.PathLike, stem: str,
                 remake: str) -> tuple[dict[str, TreeEnsemble], dict]:
    """``({name: ensemble}, metadata)`` of a package written by :func:`save_package`, verified
    by :func:`package_metadata` first.

    Raises:
      DataFileError: see :func:`package_metadata`.
      ValueError: a verified file that is not a tree ensemble file.
    """
    record = package_metadata(directory, stem, remake)
    ensembles = {name: load(Path(directory) / entry["file"])[0]
                 for name, entry in record["files"].items()}
    return ensembles, record


_ARRAYS = {"node": np.int32, "value": np.float32, "roots": np.int32, "chunk_depth": np.int32,
           "base_score": np.float32}


def _check_shapes(ens: TreeEnsemble, path: Path) -> None:
    members, padded = ens.roots.shape
    expected = {"node": (ens.value.shape[0],), "chunk_depth": (padded // ens.chunk_trees,),
                "base_score": (members,)}
    for name, dtype in _ARRAYS.items():
        array = getattr(ens, name)
        if array.dtype != dtype or (name in expected and array.shape != expected[name]):
            raise ValueError(f"{path}: array {name!r} has {array.dtype}{list(array.shape)}")
    if (len(ens.num_trees) != members or padded % ens.chunk_trees
            or max(ens.num_trees) > padded):
        raise ValueError(f"{path}: header does not match the roots table {list(ens.roots.shape)}")
    size = ens.node.shape[0]
    roots = np.asarray(ens.roots)
    if ((roots < 0) | (roots >= size)).any():
        raise ValueError(f"{path}: a root points outside the node arrays")
    # The walk gathers without bounds checks: every child must be a node.
    word = np.asarray(ens.node)
    feature = (word >> 1) & ((1 << ens.feature_bits) - 1)
    left = np.arange(size) + (word >> (ens.feature_bits + 1))
    leaf = feature == ens.num_features
    if ((leaf & (left != np.arange(size))) | (feature > ens.num_features)
            | (~leaf & ((left < 0) | (left + 1 >= size)))).any():
        raise ValueError(f"{path}: a node word points outside the node arrays")


def rank_quality(prediction: np.ndarray, truth: np.ndarray) -> dict:
    """Kendall tau and Spearman rank correlation of a fitted surrogate's predictions against
    the truth (the surrogate papers' measures of fit; scipy imported here, on a refit)."""
    import scipy.stats

    return {"kendall_tau": float(scipy.stats.kendalltau(prediction, truth)[0]),
            "spearman": float(scipy.stats.spearmanr(prediction, truth)[0])}
