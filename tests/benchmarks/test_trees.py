"""Tree ensembles as JAX arrays: hand-built trees, bit parity with XGBoost and NumPy, files."""

from __future__ import annotations

import dataclasses
import json
import time

import jax
import numpy as np
import pytest
import xgboost as xgb

from nasjax import paths
from nasjax.benchmarks import trees
from nasjax.speed import trees as tree_timing

F = 56  # NAS-Bench-301's feature count
NAN = np.nan


def forest(left, right, feature, condition, default_left, tree_sizes, base=0.5, features=2):
    """A member from per-node lists (child ids local to each tree, -1 at leaves)."""
    return trees.Forest(
        left=np.array(left, np.int32), right=np.array(right, np.int32),
        feature=np.array(feature, np.int32), condition=np.array(condition, np.float32),
        default_left=np.array(default_left, bool),
        tree_start=np.concatenate([[0], np.cumsum(tree_sizes)]).astype(np.int64),
        base_score=np.float32(base), num_features=features)


# One tree, nodes listed out of order, with a node deleted by pruning (3) that nothing reaches:
#   0: f0 < 0.5 ? (missing: right)      -> left 2, right 4
#   2: leaf 1.0
#   4: f1 < 2.0 ? (missing: left)       -> left 5, right 1
#   5: leaf 2.0;  1: leaf 3.0;  3: deleted
HAND = forest(left=[2, -1, -1, -1, 5, -1], right=[4, -1, -1, -1, 1, -1],
              feature=[0, 0, 0, 0, 1, 0], condition=[0.5, 3.0, 1.0, 9.0, 2.0, 2.0],
              default_left=[False, False, False, False, True, False], tree_sizes=[6])


def test_hand_built_tree_follows_xgboost_rules():
    ens = trees.assemble([HAND])
    x = np.array([[0.4, 7.0],   # 0.4 < 0.5: left leaf 1.0
                  [0.5, 1.0],   # 0.5 is not < 0.5: right; 1.0 < 2.0: leaf 2.0
                  [NAN, NAN],   # missing: right (default), then left (default): leaf 2.0
                  [0.7, 2.0],   # right, then 2.0 is not < 2.0: leaf 3.0
                  [NAN, 5.0],   # missing: right, then 5.0: leaf 3.0
                  [-np.inf, NAN]], np.float32)
    np.testing.assert_array_equal(trees.predict(ens, x)[:, 0], [1.5, 2.5, 2.5, 3.5, 3.5, 1.5])
    assert ens.node.shape == (5 + 1,)  # the deleted node is dropped; one shared padding leaf
    assert int(ens.chunk_depth[0]) == 2


def reference_walk(member: trees.Forest, x: np.ndarray) -> np.ndarray:
    """float32[B]: a plain-Python XGBoost walk of every tree, summed in tree order after the
    base score (float32 throughout)."""
    out = []
    for row in x:
        total = np.float32(member.base_score)
        for start in member.tree_start[:-1]:
            node = 0
            while member.left[start + node] >= 0:
                value = row[member.feature[start + node]]
                go_left = (bool(member.default_left[start + node]) if np.isnan(value)
                           else value < member.condition[start + node])
                node = (member.left if go_left else member.right)[start + node]
            total = np.float32(total + member.condition[start + node])
        out.append(total)
    return np.array(out, np.float32)


def test_trees_of_every_depth_in_one_chunk_walk_like_xgboost():
    # The walk reads the first two levels without per-row node look-ups: a chunk mixing a
    # lone leaf, a stump, the hand-built tree and a depth-3 tree must still walk each its way.
    leaf = ([-1], [-1], [0], [0.25], [False], 1)
    stump = ([1, -1, -1], [2, -1, -1], [1, 0, 0], [1.5, -1.0, 4.0], [True, False, False], 3)
    #   0: f0 < 0 ?  -> 1 / 2;  1: f1 < 1 ? -> 3 / 4;  4: f0 < -2 ? (missing: left) -> 5 / 6
    deep = ([1, 3, -1, -1, 5, -1, -1], [2, 4, -1, -1, 6, -1, -1], [0, 1, 0, 0, 0, 0, 0],
            [0.0, 1.0, 8.0, 16.0, -2.0, 32.0, 64.0], [False, False, False, False, True, False,
                                                      False], 7)
    hand = (HAND.left, HAND.right, HAND.feature, HAND.condition, HAND.default_left, 6)
    parts = [leaf, stump, hand, deep, stump, leaf, deep]
    member = forest(*(np.concatenate([np.asarray(p[i]) for p in parts]) for i in range(5)),
                    tree_sizes=[p[5] for p in parts], base=0.5)
    x = np.array([[a, b] for a in (-3.0, -1.0, 0.0, 0.4, 0.5, 2.0, NAN)
                  for b in (0.0, 1.0, 1.5, 2.0, 7.0, NAN)], np.float32)
    ens = trees.assemble([member])
    assert int(ens.chunk_depth[0]) == 3
    np.testing.assert_array_equal(trees.predict(ens, x)[:, 0], reference_walk(member, x))


def test_shallow_trees_take_the_dense_walk_like_xgboost():
    # Trees of depth <= 2 (a lone leaf, a stump, the hand-built tree, leaf children) take
    # _predict_shallow: the same values as the plain walk, in both summation orders.
    leaf = ([-1], [-1], [0], [0.25], [False], 1)
    stump = ([1, -1, -1], [2, -1, -1], [1, 0, 0], [1.5, -1.0, 4.0], [True, False, False], 3)
    hand = (HAND.left, HAND.right, HAND.feature, HAND.condition, HAND.default_left, 6)
    parts = [leaf, stump, hand, stump, leaf, hand] * 4  # 24 trees: two chunks of 16
    member = forest(*(np.concatenate([np.asarray(p[i]) for p in parts]) for i in range(5)),
                    tree_sizes=[p[5] for p in parts], base=0.5)
    x = np.array([[a, b] for a in (-np.inf, -1.0, 0.0, 0.4, 0.5, 2.0, NAN)
                  for b in (0.0, 1.0, 1.5, 2.0, 7.0, NAN)], np.float32)
    for base_first in (True, False):
        ens = trees.assemble([member, HAND], base_first=base_first)
        assert ens.max_depth == 2
        walked = trees.predict(dataclasses.replace(ens, max_depth=None), x)
        np.testing.assert_array_equal(trees.predict(ens, x), walked)
        if base_first:
            np.testing.assert_array_equal(walked[:, 0], reference_walk(member, x))


def test_summation_order_is_xgboost_s():
    tiny = 2.0 ** -24  # half an ulp of 1.0: 1 + tiny rounds back to 1 (ties to even)
    member = forest(left=[-1, -1], right=[-1, -1], feature=[0, 0], condition=[tiny, tiny],
                    default_left=[False, False], tree_sizes=[1, 1], base=1.0)
    x = np.zeros((1, 2), np.float32)
    # XGBoost >= 1.3: ((1 + tiny) + tiny) = 1.  XGBoost <= 1.2: 1 + (tiny + tiny) = 1 + 2^-23.
    assert trees.predict(trees.assemble([member], base_first=True), x)[0, 0] == 1.0
    assert trees.predict(trees.assemble([member], base_first=False), x)[0, 0] == 1.0 + 2.0 ** -23


def test_a_member_without_trees_predicts_its_base_score():
    empty = forest(left=[], right=[], feature=[], condition=[], default_left=[], tree_sizes=[],
                   base=93.5)
    ens = trees.assemble([empty, HAND], base_first=False)
    np.testing.assert_array_equal(trees.predict(ens, np.array([[0.4, 7.0]], np.float32)),
                                  [[93.5, 1.5]])


def train(rows, depth, rounds, seed, nan_fraction=0.2, **params):
    rng = np.random.default_rng(seed)
    x = rng.random((rows, F)).astype(np.float32)
    x[:, :20] = np.floor(x[:, :20] * 8) - 1  # categorical codes -1..6, as NAS-Bench-301's
    y = 90 + np.sin(5 * x[:, 25]) * x[:, 3] + x[:, 30] * x[:, 31] + 0.1 * rng.random(rows)
    x[rng.random(x.shape) < nan_fraction] = NAN
    params = {"max_depth": depth, "seed": seed, "nthread": 1, "base_score": 90.0, **params}
    return xgb.train(params, xgb.DMatrix(x, label=y), rounds)


@pytest.fixture(scope="module")
def boosters():
    """Four members: NaN in training, one deep (depth >= 10), one with many trees."""
    return [train(800, 4, 30, 0), train(1500, 12, 6, 1, min_child_weight=0, reg_lambda=0.01),
            train(600, 2, 150, 2, nan_fraction=0.0), train(400, 6, 1, 3, tree_method="exact")]


@pytest.fixture(scope="module")
def queries():
    rng = np.random.default_rng(7)
    x = rng.random((20_000, F)).astype(np.float32)
    x[:, :20] = np.floor(x[:, :20] * 8) - 1
    x[rng.random(x.shape) < 0.2] = NAN
    return x


def ulp(a, b) -> int:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return int(np.abs(a.view(np.int32).astype(np.int64) - b.view(np.int32)).max())


def test_bit_parity_with_booster_predict(boosters, queries):
    depths = [max(line.count("\t") for tree in b.get_dump() for line in tree.splitlines())
              for b in boosters]
    assert max(depths) >= 10
    ens = trees.from_boosters(boosters)
    expected = np.stack([b.predict(xgb.DMatrix(queries)) for b in boosters], axis=-1)
    got = trees.predict(ens, queries)
    assert got.dtype == np.float32 and got.shape == (len(queries), len(boosters))
    assert ulp(got, expected) == 0
    assert ulp(trees.predict_mean(ens, queries), np.mean(expected, axis=-1)) == 0


def test_shallow_member_bit_parity_with_booster_predict(boosters, queries):
    shallow = trees.from_boosters([boosters[2]])  # depth 2, 150 trees: the dense walk
    assert shallow.max_depth == 2 and trees.from_boosters(boosters).max_depth >= 10
    expected = boosters[2].predict(xgb.DMatrix(queries))
    assert ulp(trees.predict(shallow, queries)[:, 0], expected) == 0
    by_row = jax.vmap(lambda row: trees.predict(shallow, row))(queries[:24])
    np.testing.assert_array_equal(by_row, trees.predict(shallow, queries[:24]))


def test_batch_shapes_jit_and_vmap(boosters, queries):
    ens = trees.from_boosters(boosters[:2])
    x = queries[:24].reshape(2, 3, 4, F)
    flat = trees.predict(ens, queries[:24])
    np.testing.assert_array_equal(trees.predict(ens, x), flat.reshape(2, 3, 4, 2))
    np.testing.assert_array_equal(jax.jit(trees.predict)(ens, x), flat.reshape(2, 3, 4, 2))
    by_row = jax.vmap(lambda row: trees.predict(ens, row))(queries[:24])
    np.testing.assert_array_equal(by_row, flat)
    with pytest.raises(ValueError, match=r"expected \(\.\.\., 56\)"):
        trees.predict(ens, queries[:3, :10])


def test_float64_inputs_are_rounded_to_float32_like_xgboost(boosters):
    x = np.random.default_rng(3).random((50, F))  # float64, not float32-representable
    ens = trees.from_boosters(boosters[0])
    assert ulp(trees.predict(ens, x)[:, 0], boosters[0].predict(xgb.DMatrix(x))) == 0


@pytest.mark.parametrize("members", [1, 2, 3, 7, 8, 9, 10, 16, 17, 129, 300])
def test_ensemble_mean_is_numpys_pairwise_mean(members):
    rng = np.random.default_rng(members)
    preds = (rng.standard_normal((500, members)) * 10.0 ** rng.integers(-4, 6, (500, members)))
    preds = preds.astype(np.float32)
    assert ulp(trees.ensemble_mean(preds), np.mean(preds, axis=-1)) == 0
    assert ulp(jax.jit(trees.ensemble_mean)(preds), np.mean(preds, axis=-1)) == 0


def test_ensemble_mean_signed_zero_and_order():
    # 8 members: ((1e8 + 1) + (-1e8 + 1)) + ((1 + 1) + (1 + 1)) = (1e8 - 1e8) + 4 = 4 in float32
    # (1e8 + 1 rounds to 1e8), so the mean is 0.5; one by one it would be 5 / 8.
    preds = np.array([[1e8, 1, -1e8, 1, 1, 1, 1, 1], [-0.0] * 8], np.float32)
    np.testing.assert_array_equal(np.mean(preds, axis=-1), [0.5, 0.0])
    mean = np.asarray(trees.ensemble_mean(preds))
    np.testing.assert_array_equal(mean, [0.5, 0.0])
    assert not np.signbit(mean[1])  # NumPy's sum starts from +0.0: the mean of -0.0s is +0.0


def test_base_score_strings():
    assert trees.parse_base_score("5E-1") == np.float32(0.5)
    assert trees.parse_base_score("[9.44E1]") == np.float32(94.4)
    assert trees.parse_base_score("0.500000") == np.float32(0.5)
    # 1 + 2^-24 is halfway between float32 1 and 1 + 2^-23; a decimal a hair above it must
    # round up although its nearest double is the halfway point itself.
    assert trees.parse_base_score("1.000000059604644775390625") == np.float32(1.0)
    assert trees.parse_base_score("1.0000000596046447753906251") == np.float32(1 + 2.0 ** -23)
    assert trees.parse_base_score("1.0000000596046447753906249") == np.float32(1.0)
    with pytest.raises(ValueError, match="expected one number"):
        trees.parse_base_score("[1E0,2E0]")
    with pytest.raises(ValueError, match="not a number"):
        trees.parse_base_score("abc")


def model_json(booster) -> dict:
    return json.loads(bytes(booster.save_raw("json")))


def test_unsupported_models_are_named(boosters):
    rng = np.random.default_rng(0)
    x, y = rng.random((100, 3)), rng.random(100)
    logistic = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=y > 0.5), 2)
    with pytest.raises(ValueError, match="objective 'binary:logistic' is not supported"):
        trees.from_boosters(logistic)
    dart = xgb.train({"booster": "dart"}, xgb.DMatrix(x, label=y), 2)
    with pytest.raises(ValueError, match="booster 'dart' is not supported"):
        trees.from_boosters(dart)
    two = xgb.train({"multi_strategy": "multi_output_tree", "tree_method": "hist"},
                    xgb.DMatrix(x, label=np.stack([y, y], 1)), 2)
    with pytest.raises(ValueError, match="num_target = 2"):
        trees.from_boosters(two)
    cats = np.array([0, 1, 2, 1] * 25, np.float32)[:, None]
    categorical = xgb.train({"tree_method": "hist", "max_cat_to_onehot": 1},
                            xgb.DMatrix(cats, label=y, enable_categorical=True,
                                        feature_types=["c"]), 2)
    with pytest.raises(ValueError, match=r"categorical splits \(split_type != 0\)"):
        trees.from_boosters(categorical)
    with pytest.raises(ValueError, match="not an XGBoost JSON model: model has no 'learner'"):
        trees.forest_from_json(b'{"version": [3, 2, 0]}')


def test_malformed_trees_are_refused():
    base = {"feature": [0, 0, 0], "condition": [0.5, 1.0, 2.0], "default_left": [0, 0, 0],
            "tree_sizes": [3]}
    with pytest.raises(ValueError, match="a right child id is outside its tree"):
        trees.assemble([forest(left=[1, -1, -1], right=[3, -1, -1], **base)])
    with pytest.raises(ValueError, match="two parents"):
        trees.assemble([forest(left=[1, -1, -1], right=[1, -1, -1], **base)])
    with pytest.raises(ValueError, match="two parents"):  # a cycle back to the root
        trees.assemble([forest(left=[1, 0, -1], right=[2, 2, -1], **base)])
    with pytest.raises(ValueError, match="outside 0..1"):
        trees.assemble([forest(left=[1, -1, -1], right=[2, -1, -1],
                               **{**base, "feature": [5, 0, 0]})])
    with pytest.raises(ValueError, match="disagree on the number of features"):
        trees.assemble([HAND, forest(left=[-1], right=[-1], feature=[0], condition=[1.0],
                                     default_left=[0], tree_sizes=[1], features=3)])


def test_save_and_load_round_trip(boosters, queries, tmp_path):
    ens = trees.from_boosters(boosters)
    trees.save(tmp_path / "ens.npz", ens, {"source": "test"})
    loaded, metadata = trees.load(tmp_path / "ens.npz")
    assert metadata == {"source": "test"}
    assert loaded.num_trees == ens.num_trees and loaded.base_first == ens.base_first
    assert loaded.max_depth == ens.max_depth
    np.testing.assert_array_equal(trees.predict(loaded, queries[:500]),
                                  trees.predict(ens, queries[:500]))
    size = (tmp_path / "ens.npz").stat().st_size
    assert size < 8 * ens.node.shape[0]  # compressed below the 8 bytes per node in memory


def test_save_writes_the_same_bytes_at_any_time(boosters, tmp_path, monkeypatch):
    ens = trees.from_boosters(boosters[0])
    trees.save(tmp_path / "a.npz", ens, {"source": "test"})
    monkeypatch.setattr(time, "time", lambda: 2e9)  # another day: zip members carry no clock
    trees.save(tmp_path / "b.npz", ens, {"source": "test"})
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_package_round_trip_and_checks(boosters, queries, tmp_path):
    ens = {"one": trees.from_boosters(boosters[0]), "all": trees.from_boosters(boosters)}
    path = trees.save_package(tmp_path, "pkg", ens, {"xgboost_version": xgb.__version__})
    assert path == tmp_path / "pkg.json"
    loaded, meta = trees.load_package(tmp_path, "pkg", "remake")
    assert meta["xgboost_version"] == xgb.__version__ and meta["package_format"] == 1
    assert meta["files"]["all"]["sha256"] == paths.sha256(tmp_path / "pkg_all.npz")
    for name in ens:
        np.testing.assert_array_equal(trees.predict(loaded[name], queries[:100]),
                                      trees.predict(ens[name], queries[:100]))
    (tmp_path / "pkg_one.npz").write_bytes((tmp_path / "pkg_all.npz").read_bytes())
    with pytest.raises(paths.DataFileError, match=r"pkg_one.npz: size or sha256 differs from "
                       r"pkg.json \(corrupted or replaced\); remake it with: remake"):
        trees.load_package(tmp_path, "pkg", "remake")
    path.write_text(json.dumps({**meta, "package_format": 9}))
    with pytest.raises(paths.DataFileError, match="package format 9, this nasjax reads 1"):
        trees.package_metadata(tmp_path, "pkg", "remake")
    with pytest.raises(paths.DataFileError, match="other.json: missing"):
        trees.package_metadata(tmp_path, "other", "remake")


def test_load_refuses_other_files(boosters, tmp_path):
    with pytest.raises(ValueError, match="is not a nasjax tree ensemble file"):
        (tmp_path / "junk.npz").write_bytes(b"not a zip")
        trees.load(tmp_path / "junk.npz")
    ens = trees.from_boosters(boosters[0])
    trees.save(tmp_path / "ens.npz", ens)
    with np.load(tmp_path / "ens.npz") as data:
        arrays = {name: data[name] for name in data.files}
    header = json.loads(str(arrays["header"]))
    np.savez(tmp_path / "v9.npz", **{**arrays, "header": np.array(json.dumps(
        {**header, "format_version": 9}))})
    with pytest.raises(ValueError, match="has tree ensemble format 9; this nasjax reads format 1"):
        trees.load(tmp_path / "v9.npz")
    np.savez(tmp_path / "roots.npz", **{**arrays, "roots": arrays["roots"] + 10**6})
    with pytest.raises(ValueError, match="a root points outside the node arrays"):
        trees.load(tmp_path / "roots.npz")
    node = arrays["node"].copy()
    node[1] = 10**6 << (1 + 6)  # split on feature 0 with children a million nodes further
    np.savez(tmp_path / "node.npz", **{**arrays, "node": node})
    with pytest.raises(ValueError, match="a node word points outside the node arrays"):
        trees.load(tmp_path / "node.npz")


def test_export_to_xgboost_and_timing_record(boosters, queries):
    ens = trees.from_boosters(boosters)
    again = tree_timing.to_boosters(ens)
    expected = np.stack([b.predict(xgb.DMatrix(queries[:300])) for b in boosters], axis=-1)
    exported = np.stack([b.predict(xgb.DMatrix(queries[:300])) for b in again], axis=-1)
    assert ulp(exported, expected) == 0
    record = tree_timing.benchmark_predict(ens, queries[:256], repeats=1, boosters=again)
    assert record["rows"] == 256 and record["members"] == 4 and record["max_ulp"] == 0
    assert record["trees"] == sum(ens.num_trees) and record["ratio"] > 0


def test_synthetic_ensemble_for_timing():
    ens = tree_timing.synthetic_ensemble(0, members=3, trees_per_member=40, depth=9, nodes=200,
                                         num_features=F)
    assert ens.num_trees == (40, 40, 40) and int(np.asarray(ens.chunk_depth).max()) <= 9
    assert 0.5 * 200 < (ens.node.shape[0] - 1) / 120 < 2 * 200  # about 200 nodes per tree
    x = np.random.default_rng(1).random((300, F)).astype(np.float32)
    x[::7, ::3] = NAN
    exported = np.stack([b.inplace_predict(x) for b in tree_timing.to_boosters(ens)], axis=-1)
    assert ulp(trees.predict(ens, x), exported) == 0
