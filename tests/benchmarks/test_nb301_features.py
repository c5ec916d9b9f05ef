"""The 56 NAS-Bench-301 surrogate features, against the official configuration space and
rows made by the official code (tests/fixtures/nb301_features)."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax.benchmarks import nb301_features
from nasjax.spaces import nb301

FIXTURE = Path(__file__).parents[1] / "fixtures" / "nb301_features"
DARTS = nb301_features.DARTS
features = jax.jit(nb301_features.features)


@pytest.fixture(scope="module")
def configspace() -> dict:
    with open(FIXTURE / "nb301_configspace.json") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def feature_order() -> list[tuple[str, float | None]]:
    rows = [line.split() for line in (FIXTURE / "nb301_feature_order.txt").read_text().splitlines()]
    assert [int(row[0]) for row in rows] == list(range(56))
    return [(row[1], None if row[3] == "None" else float(row[3])) for row in rows]


@pytest.fixture(scope="module")
def reference() -> dict:
    with np.load(FIXTURE / "reference.npz") as data:
        return {key: data[key] for key in data.files}


def test_names_follow_get_array_order(configspace, feature_order):
    # Unconditional hyperparameters sorted by name, then conditional ones (ConfigSpace 0.4.12).
    names = [h["name"] for h in configspace["hyperparameters"]]
    children = {c["child"] for c in configspace["conditions"]}
    expected = sorted(n for n in names if n not in children) + sorted(children)
    assert list(nb301_features.FEATURE_NAMES) == expected == [n for n, _ in feature_order]
    assert nb301_features.NUM_FEATURES == 56


def test_categorical_choices_match_our_op_and_pair_order(configspace):
    spaces = {h["name"]: h for h in configspace["hyperparameters"]}
    for cell in nb301.CELL_NAMES:
        for edge in range(14):
            assert spaces[f"{DARTS}edge_{cell}_{edge}"]["choices"] == list(nb301.OP_NAMES)
        for node in (3, 4, 5):
            choices = spaces[f"{DARTS}inputs_node_{cell}_{node}"]["choices"]
            pairs = [tuple(map(int, c.split("_"))) for c in choices]
            assert pairs == list(itertools.combinations(range(node), 2))
            ranks = nb301.pair_rank(*np.array(pairs).T, node)
            np.testing.assert_array_equal(ranks, np.arange(len(pairs)))


def test_conditions_activate_an_edge_exactly_when_its_input_is_chosen(configspace):
    # edge_{cell}_{EDGE_START[k] + i} of node k (DARTS node k + 2) is active for pairs with i.
    for condition in configspace["conditions"]:
        cell, edge = condition["child"].split("_")[-2:]
        node = int(np.searchsorted(nb301_features.EDGE_START, int(edge), side="right")) - 1
        source = int(edge) - nb301_features.EDGE_START[node]
        assert condition["parent"] == f"{DARTS}inputs_node_{cell}_{node + 2}"
        assert condition["type"] == "IN"
        assert condition["values"] == [f"{a}_{b}" for a, b in
                                       itertools.combinations(range(node + 2), 2)
                                       if source in (a, b)]


def test_fixed_values_by_hand():
    value = dict(zip(nb301_features.FIXED, nb301_features._FIXED_VALUES))
    # batch_size 96, log-uniform integer in [64, 128] widened by 0.49999
    assert value["CreateImageDataLoader:batch_size"] == pytest.approx(
        (math.log(96) - math.log(63.50001)) / (math.log(128.49999) - math.log(63.50001)))
    # the loader's re-bounded T_max (1..10000) at the fixed 100 epochs
    assert value["SimpleLearningrateSchedulerSelector:cosine_annealing:T_max"] == pytest.approx(
        99.49999 / 9999.99998)
    assert value[f"{DARTS}init_channels"] == pytest.approx(31.49999 / 9999.99998)
    assert value[f"{DARTS}layers"] == pytest.approx(7.49999 / 9999.99998)
    assert value["OptimizerSelector:sgd:learning_rate"] == pytest.approx(math.log(0.025))
    assert value["OptimizerSelector:sgd:momentum"] == pytest.approx(0.8 / 0.89)
    assert value[f"{DARTS}drop_path_prob"] == 0.0  # a constant
    assert value["ImageAugmentation:autoaugment"] == 0.0  # False among (False, True)


def test_real_genotype_by_hand():
    # nb301_val_725.json record 0, normal cell: node 3 (DARTS node 5) reads inputs 1 and 3.
    g = nb301.from_pairs([[0, 0], [1, 5], [1, 1], [0, 1], [1, 3], [0, 3], [1, 3], [3, 2]],
                         [[1, 0], [0, 2], [1, 3], [0, 3], [3, 0], [0, 1], [2, 0], [3, 6]])
    row = dict(zip(nb301_features.FEATURE_NAMES, np.asarray(features(g)).tolist()))
    assert row[f"{DARTS}edge_normal_0"] == 0 and row[f"{DARTS}edge_normal_1"] == 5
    assert row[f"{DARTS}inputs_node_normal_5"] == 5  # "1_3" in 0_1 0_2 0_3 0_4 1_2 1_3 ...
    assert [row[f"{DARTS}edge_normal_{e}"] for e in range(9, 14)] == [-1, 3, -1, 2, -1]
    assert row[f"{DARTS}inputs_node_reduce_4"] == 2  # "0_3"
    assert row[f"{DARTS}edge_reduce_8"] == 0 and row[f"{DARTS}edge_reduce_5"] == 1


def test_example_row_of_the_feature_order_file(feature_order):
    # Rebuild the example genotype from its active edges and reproduce all 56 values.
    example = dict(feature_order)
    pairs = {}
    for cell in nb301.CELL_NAMES:
        pairs[cell] = [[i, int(example[f"{DARTS}edge_{cell}_{start + i}"])]
                       for k, start in enumerate(nb301_features.EDGE_START)
                       for i in range(k + 2)
                       if example[f"{DARTS}edge_{cell}_{start + i}"] is not None]
    row = np.asarray(features(nb301.from_pairs(pairs["normal"], pairs["reduce"])))
    expected = np.array([-1.0 if v is None else v for _, v in feature_order])
    np.testing.assert_allclose(row, expected, rtol=0, atol=1e-6)  # the file has 6 decimals


def test_official_rows_reproduced_exactly(reference):
    # 400 rows from nasbench301's own conversion, loader and ConfigSpace 0.4.12 get_array().
    assert list(reference["names"]) == list(nb301_features.FEATURE_NAMES)
    genotypes = nb301.Genotype(inputs=jnp.asarray(reference["inputs"]),
                               ops=jnp.asarray(reference["ops"]))
    rows = features(genotypes)
    assert rows.shape == (400, 56) and rows.dtype == jnp.float32
    # XGBoost's DMatrix reads the float64 rows as float32: identical values.
    np.testing.assert_array_equal(rows, reference["features"].astype(np.float32))
    # The fixed settings agree in float64 too.
    official = dict(zip(nb301_features.FEATURE_NAMES, reference["features"][0]))
    for name, value in zip(nb301_features.FIXED, nb301_features._FIXED_VALUES):
        assert value == pytest.approx(official[name], rel=1e-12, abs=1e-15), name


def test_features_batch_and_ignore_pair_order(reference):
    inputs = jnp.asarray(reference["inputs"][:6]).reshape(2, 3, 2, 4, 2)
    ops = jnp.asarray(reference["ops"][:6]).reshape(2, 3, 2, 4, 2)
    batched = jax.jit(chex.assert_max_traces(nb301_features.features, n=1))
    rows = batched(nb301.Genotype(inputs=inputs, ops=ops))
    rows = batched(nb301.Genotype(inputs=inputs, ops=ops))  # no retrace
    assert rows.shape == (2, 3, 56)
    swapped = nb301_features.features(nb301.Genotype(inputs=inputs[..., ::-1],
                                                     ops=ops[..., ::-1]))
    np.testing.assert_array_equal(swapped, rows)
    np.testing.assert_array_equal(rows[1, 0], reference["features"][3].astype(np.float32))
