"""The nb101-surrogate benchmark: features, a small fast build, and the real default build."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from nasjax import benchmarks, paths
from nasjax.benchmarks import base, nb101_features, nb101_real, nb101_surrogate
from nasjax.spaces import nb101

C3, C1, MP = nb101.OP_NAMES
SMALL = nb101_surrogate.Config(members=2, trees=20, aux_trees=10)  # fast, for plumbing only


def test_features_of_a_hand_computed_cell():
    # input -> output directly, input -> conv1x1 -> conv3x3 -> output, input -> maxpool -> conv3x3.
    cell = nb101.from_official(
        [[0, 1, 1, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
        ["input", C1, MP, C3, "output"])
    row = nb101_features.features(np.asarray(cell.adj)[None], np.asarray(cell.ops)[None])[0]
    values = dict(zip(nb101_features.feature_names(), row.tolist()))
    assert len(row) == len(nb101_features.feature_names())
    expected = {"path_direct": 1, "path_c1-c3": 1, "path_mp-c3": 1, "path_c3": 0,
                "paths_with_0_ops": 1, "paths_with_1_ops": 0, "paths_with_2_ops": 2,
                "num_conv3x3": 1, "num_conv1x1": 1, "num_maxpool": 1, "vertices": 5, "edges": 6,
                "longest_path": 3, "shortest_path": 1, "input_out_degree": 3,
                "output_in_degree": 2, "conv1x1_fed_by_input": 1, "maxpool_fed_by_input": 1,
                "conv3x3_feeding_output": 1, "edge_0_4": 1, "edge_0_3": 0,
                "slot_1_conv1x1": 1, "slot_2_maxpool": 1, "slot_3_conv3x3": 1, "slot_4_conv3x3": 0}
    assert {name: values[name] for name in expected} == expected


def test_path_features_are_isomorphism_invariant():
    a = nb101.from_official([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
                            ["input", C1, MP, "output"])
    b = nb101.from_official([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
                            ["input", MP, C1, "output"])
    rows = nb101_features.features(np.stack([a.adj, b.adj]), np.stack([a.ops, b.ops]))
    invariant = [not n.startswith(("edge_", "slot_")) for n in nb101_features.feature_names()]
    np.testing.assert_array_equal(rows[0, invariant], rows[1, invariant])


def test_split_is_fixed_and_disjoint():
    train, held = nb101_surrogate.split(nb101_real.NUM_REAL)
    assert len(held) == 2000 and len(train) == 18_001
    assert not np.intersect1d(train, held).size
    np.testing.assert_array_equal(nb101_surrogate.split(nb101_real.NUM_REAL)[1], held)


@pytest.fixture(scope="module")
def small(data_dir, tmp_path_factory):
    """A small surrogate built into a temp dir that links the session's enumeration."""
    nb101.load_enumeration(data_dir, progress=False)
    directory = tmp_path_factory.mktemp("surrogate")
    for name in (nb101.SPACE_FILE, paths.sidecar(nb101.SPACE_FILE).name):
        (directory / name).symlink_to(data_dir / name)
    summary = nb101_surrogate.build(directory, progress=False, config=SMALL)
    return directory, summary


def test_small_build_covers_the_space_with_members(small):
    directory, summary = small
    bench = nb101_surrogate.load(directory)
    assert bench.name == "nb101-surrogate" and bench.size == nb101.NUM_CELLS
    assert bench.val_acc.shape == (nb101.NUM_CELLS, SMALL.members)
    assert (np.asarray(bench.num_values) == SMALL.members).all()
    acc = np.asarray(bench.val_acc)
    assert (acc >= 0).all() and (acc <= 1).all()
    assert np.isnan(np.asarray(bench.test_acc)).all()
    assert (np.asarray(bench.params) > 0).all() and (np.asarray(bench.train_seconds) > 0).all()
    assert summary["cells"] == nb101.NUM_CELLS and summary["members"] == SMALL.members


def test_small_build_metadata_names_a_surrogate_with_held_out_quality(small):
    directory, summary = small
    meta = nb101_surrogate.load(directory).metadata
    assert meta["data"].startswith("SURROGATE fitted on 20,001 real NAS-Bench-101 cells")
    held_out = json.loads(meta["held_out"])
    for name in ("kendall_tau", "spearman", "rmse"):
        assert np.isfinite(held_out[name]) and held_out[name] == summary["held_out"][name]
    assert json.loads(meta["features"]) == list(nb101_features.feature_names())
    quality = json.loads((directory / nb101_surrogate.QUALITY_FILE).read_text())
    assert quality["held_out"]["kendall_tau"] == summary["held_out"]["kendall_tau"]


def test_mean_averages_members_and_noisy_draws_one(small):
    directory, _ = small
    bench = benchmarks.load("nb101-surrogate", directory)
    packed, ops, _ = nb101.load_enumeration(directory, progress=False)
    cells = nb101.Cell(adj=jnp.asarray(nb101.unpack_adjacency(packed[:64])),
                       ops=jnp.asarray(ops[:64]))
    query = jax.jit(base.query, static_argnames="mode")
    mean = query(bench, cells, mode="mean")
    members = np.asarray(bench.val_acc)[:64]  # the enumeration and the table share hash order
    np.testing.assert_allclose(mean.val_acc, members.mean(-1), rtol=1e-6)
    noisy = np.asarray(query(bench, cells, jax.random.key(0), mode="noisy").val_acc)
    assert ((noisy[:, None] == members).any(-1)).all()


@pytest.mark.slow
def test_default_surrogate_reaches_held_out_kendall_tau(data_dir):
    # Builds the real default surrogate on first use (a few minutes on 2 cores), then
    # recomputes held-out quality from the table itself.
    bench = nb101_surrogate.load(data_dir, progress=False)
    real = nb101_real.read_shipped()
    _, held = nb101_surrogate.split(nb101_real.NUM_REAL)
    cells = real["cells"][held]
    metrics = jax.jit(base.query)(bench, nb101.Cell(adj=jnp.asarray(cells.adj),
                                                    ops=jnp.asarray(cells.ops)))
    truth = real[f"val_acc_{nb101_real.EPOCHS}"][held]
    tau = scipy.stats.kendalltau(np.asarray(metrics.val_acc), truth)[0]
    assert tau >= 0.80
    assert json.loads(bench.metadata["held_out"])["kendall_tau"] == pytest.approx(tau, abs=1e-3)
