"""Time the JAX tree walk against XGBoost's own ``inplace_predict`` on the same trees.

:func:`to_boosters` writes an ensemble back as XGBoost JSON models (the installed XGBoost's
schema), so any ensemble, the NAS-Bench-301 one read without the old library included, can be
timed against the C++ predictor; :func:`benchmark_predict` is what ``launch/benchmark.py``
calls.
"""

from __future__ import annotations

import json
import os
import time

import jax
import numpy as np

from nasjax.benchmarks import trees

ROOT_PARENT = 2147483647  # XGBoost's parent id of a root (int32 max)


def member_trees(ensemble: trees.TreeEnsemble, member: int) -> list[dict]:
    """The trees of one member as XGBoost JSON trees (node ids in the engine's order)."""
    node, value = np.asarray(ensemble.node), np.asarray(ensemble.value)
    roots = np.asarray(ensemble.roots)
    starts = np.sort(np.concatenate([roots[m, :count]
                                     for m, count in enumerate(ensemble.num_trees)]))
    ends = np.append(starts[1:], len(node) - 1)  # the last node is the shared padding leaf
    shift, mask = ensemble.feature_bits + 1, (1 << ensemble.feature_bits) - 1
    out = []
    for start in roots[member, :ensemble.num_trees[member]]:
        end = ends[np.searchsorted(starts, start)]
        word, ids = node[start:end].astype(np.int64), np.arange(end - start)
        feature = (word >> 1) & mask
        leaf = feature == ensemble.num_features
        left = np.where(leaf, -1, ids + (word >> shift))
        right = np.where(leaf, -1, left + 1)
        parents = np.full(len(ids), ROOT_PARENT, np.int64)
        parents[left[~leaf]], parents[right[~leaf]] = ids[~leaf], ids[~leaf]
        zeros = [0.0] * len(ids)
        out.append({
            "base_weights": zeros, "categories": [], "categories_nodes": [],
            "categories_segments": [], "categories_sizes": [],
            "default_left": np.where(leaf, 0, word & 1).tolist(), "id": len(out),
            "left_children": left.tolist(), "loss_changes": zeros, "parents": parents.tolist(),
            "right_children": right.tolist(),
            "split_conditions": value[start:end].astype(np.float64).tolist(),
            "split_indices": np.where(leaf, 0, feature).tolist(), "split_type": [0] * len(ids),
            "sum_hessian": zeros,
            "tree_param": {"num_deleted": "0", "num_feature": str(ensemble.num_features),
                           "num_nodes": str(len(ids)), "size_leaf_vector": "1"}})
    return out


def to_boosters(ensemble: trees.TreeEnsemble, threads: int | None = None) -> list:
    """One ``xgboost.Booster`` per member, predicting what the member predicts.

    Bit-identical to :func:`trees.predict` when ``ensemble.base_first`` (the summation order of
    XGBoost >= 1.3); an ensemble of XGBoost <= 1.2 can differ in the last bits.
    """
    import xgboost

    version = [int(part) for part in xgboost.__version__.split(".")[:3]]
    base = np.asarray(ensemble.base_score).astype(np.float64)
    boosters = []
    for m in range(ensemble.num_members):
        model_trees = member_trees(ensemble, m)
        count = len(model_trees)
        model = {"version": version, "learner": {
            "attributes": {}, "feature_names": [], "feature_types": [],
            "learner_model_param": {"base_score": f"[{float(base[m])!r}]", "num_class": "0",
                                    "boost_from_average": "1", "num_target": "1",
                                    "num_feature": str(ensemble.num_features)},
            "objective": {"name": "reg:squarederror", "reg_loss_param": {"scale_pos_weight": "1"}},
            "gradient_booster": {"name": "gbtree", "model": {
                "cats": {"enc": [], "feature_segments": [], "sorted_idx": []},
                "gbtree_model_param": {"num_parallel_tree": "1", "num_trees": str(count)},
                "iteration_indptr": list(range(count + 1)), "tree_info": [0] * count,
                "trees": model_trees}}}}
        booster = xgboost.Booster(model_file=bytearray(json.dumps(model).encode()))
        booster.set_param({"nthread": threads or _cores()})
        boosters.append(booster)
    return boosters


def benchmark_predict(ensemble: trees.TreeEnsemble, x: np.ndarray, repeats: int = 5,
                      boosters: list | None = None) -> dict:
    """Time :func:`trees.predict` and XGBoost's ``inplace_predict`` (summed over members).

    Both run on the same rows ``x: float32[B, F]`` with the same number of threads: all the
    cores this process may use, which XLA's CPU thread pool spans too (pin the process with
    ``taskset`` to compare on fewer cores). ``boosters`` (default: :func:`to_boosters`) are
    set to that many threads. Each side is warmed up once (JAX compiles), then the best of
    ``repeats`` interleaved runs is kept.

    Returns:
        ``rows``, ``members``, ``trees``, ``nodes``, ``max_depth``, ``threads``, the seconds
        and rows per second of each side (``jax_*``, ``xgboost_*``), ``ratio`` (how many times
        faster the JAX walk is) and ``max_ulp`` between the two predictions.
    """
    x = np.ascontiguousarray(x, np.float32)
    threads = _cores()
    boosters = boosters or to_boosters(ensemble)
    for booster in boosters:
        booster.set_param({"nthread": threads})

    def run_jax():
        return jax.block_until_ready(trees.predict(ensemble, x))

    def run_xgb():
        return np.stack([booster.inplace_predict(x) for booster in boosters], axis=-1)

    ours, theirs = np.asarray(run_jax()), run_xgb()
    best = {"jax": np.inf, "xgboost": np.inf}
    for _ in range(repeats):
        for name, run in (("jax", run_jax), ("xgboost", run_xgb)):
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    ulp = np.abs(ours.view(np.int32).astype(np.int64) - theirs.view(np.int32).astype(np.int64))
    return {"rows": len(x), "members": ensemble.num_members, "trees": sum(ensemble.num_trees),
            "nodes": int(ensemble.node.shape[0]),
            "max_depth": int(np.asarray(ensemble.chunk_depth).max()), "threads": threads,
            "jax_seconds": best["jax"], "xgboost_seconds": best["xgboost"],
            "jax_rows_per_s": len(x) / best["jax"], "xgboost_rows_per_s": len(x) / best["xgboost"],
            "ratio": best["xgboost"] / best["jax"], "max_ulp": int(ulp.max()),
            "device": jax.devices()[0].device_kind}


def synthetic_ensemble(seed: int, members: int, trees_per_member: int, depth: int, nodes: int,
                       num_features: int) -> trees.TreeEnsemble:
    """Random trees shaped like trained ones, for timing only (their predictions mean nothing).

    Every node above ``depth`` splits with one probability, chosen so that a tree has about
    ``nodes`` nodes on average; splits use a uniform feature and a threshold uniform in [0, 1]
    with a random default direction. NAS-Bench-301-like members (max_depth 13, about 1,160
    nodes per tree when fitted with its hyperparameters on 50,000 rows) are
    ``depth=13, nodes=1160, num_features=56``.
    """
    rng = np.random.default_rng(seed)
    grow = _split_probability(depth, nodes)
    forests = []
    for _ in range(members):
        lefts, sizes = [], []
        for _ in range(trees_per_member):
            levels, width, count = [], 1, 1  # nodes of the current level, nodes so far
            for _ in range(depth):
                split = rng.random(width) < grow
                levels.append(np.where(split, count + 2 * (np.cumsum(split) - 1), -1))
                count, width = count + 2 * int(split.sum()), 2 * int(split.sum())
            levels.append(np.full(width, -1))
            lefts.append(np.concatenate(levels))
            sizes.append(count)
        left = np.concatenate(lefts).astype(np.int32)
        total = len(left)
        forests.append(trees.Forest(
            left=left, right=np.where(left >= 0, left + 1, -1).astype(np.int32),
            feature=rng.integers(0, num_features, total).astype(np.int32),
            condition=np.where(left >= 0, rng.random(total),
                               0.01 * rng.standard_normal(total)).astype(np.float32),
            default_left=rng.random(total) < 0.5,
            tree_start=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            base_score=np.float32(0.5), num_features=num_features))
    return trees.assemble(forests)


def _split_probability(depth: int, nodes: int) -> float:
    """p with sum over d = 0..depth of (2p)^d = nodes (expected size of the random tree)."""
    low, high = 0.0, 1.0
    for _ in range(60):  # bisection to double precision
        mid = (low + high) / 2
        low, high = (mid, high) if sum((2 * mid) ** d for d in range(depth + 1)) < nodes else (
            low, mid)
    return low


def _cores() -> int:
    return len(os.sched_getaffinity(0))
