"""The nb101-surrogate benchmark: features, the shipped trees and table (XGBoost's bits, their
metadata, a damaged file), a small refit and the table derived from it, and the default table."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
import xgboost

from nasjax import paths
from nasjax.benchmarks import base, nb101_features, nb101_real, nb101_surrogate, trees
from nasjax.spaces import graph, nb101, neighbour_table

C3, C1, MP = nb101.OP_NAMES
SMALL = nb101_surrogate.Nb101Fit(members=2, trees=20, aux_trees=10)  # fast, for plumbing only


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


SAMPLE = Path(__file__).parents[1] / "fixtures" / "nb101_surrogate" / "xgboost_table_sample.npz"


def test_shipped_trees_give_the_table_xgboost_built_bit_for_bit():
    # The sample holds rows of the table nasjax 0.2.0 built with XGBoost's own predictions
    # (uniform cells and the 24 best); the shipped trees walked in JAX give the same bits.
    ensembles, _ = trees.load_package(paths.PACKAGE_DATA, nb101_surrogate.STEM, "reinstall")
    with np.load(SAMPLE) as sample:
        x = nb101_features.features(sample["adj"], sample["ops"])
        val_acc = nb101_surrogate._from_target(np.asarray(trees.predict(ensembles["val_acc"], x)))
        aux = np.exp(np.asarray(trees.predict(ensembles["aux"], x)))
        for ours, theirs in ((val_acc, sample["val_acc"]), (aux[:, 0], sample["train_seconds"]),
                             (aux[:, 1], sample["params"])):
            np.testing.assert_array_equal(ours.view(np.int32), theirs.view(np.int32))


def test_shipped_table_is_the_shipped_trees_prediction_bit_for_bit(data_dir):
    # The fixture's cells looked up in the shipped table: their rows are the trees' prediction
    # walked in JAX (derive_table's walk) and XGBoost's own, bit for bit.
    bench = nb101_surrogate.load(data_dir, progress=False)
    ensembles, _ = trees.load_package(paths.PACKAGE_DATA, nb101_surrogate.STEM, "reinstall")
    with np.load(SAMPLE) as sample:
        rows = np.asarray(bench.rows(nb101.Cell(adj=jnp.asarray(sample["adj"]),
                                                ops=jnp.asarray(sample["ops"]))))
        x = nb101_features.features(sample["adj"], sample["ops"])
        xgboost_bits = (sample["val_acc"], sample["train_seconds"], sample["params"])
    assert (rows >= 0).all()
    walked = nb101_surrogate._from_target(np.asarray(trees.predict(ensembles["val_acc"], x)))
    aux = np.exp(np.asarray(trees.predict(ensembles["aux"], x)))
    shipped = (np.asarray(bench.val_acc)[rows], np.asarray(bench.train_seconds)[rows, 0],
               np.asarray(bench.params)[rows])
    for ours, jax_walk, theirs in zip(shipped, (walked, aux[:, 0], aux[:, 1]), xgboost_bits):
        np.testing.assert_array_equal(ours.view(np.int32), jax_walk.view(np.int32))
        np.testing.assert_array_equal(ours.view(np.int32), theirs.view(np.int32))
    assert bench.size == nb101.NUM_CELLS and bench.val_acc.shape[1] == 5
    assert np.isnan(np.asarray(bench.test_acc)).all()


def test_table_encoding_keeps_every_bit():
    values = np.array([[0.5, -0.0, np.nan], [np.inf, 1e-45, 0.9491186]], np.float32)
    values[0, 2] = np.frombuffer(np.uint32(0x7FC00123).tobytes(), np.float32)[0]  # NaN payload
    arrays = nb101_surrogate.encode_table(values, values[:, :2])
    assert arrays["val_acc"].dtype == np.uint8 and arrays["val_acc"].shape == (4, 2, 3)
    val_acc, aux = nb101_surrogate.decode_table(arrays)
    np.testing.assert_array_equal(val_acc.view(np.uint32), values.view(np.uint32))
    np.testing.assert_array_equal(aux.view(np.uint32), values[:, :2].view(np.uint32))


def test_shipped_metadata_records_the_fit():
    meta = nb101_surrogate.shipped_metadata()
    assert meta["config"] == dataclasses.asdict(nb101_surrogate.DEFAULT_FIT)
    assert meta["features"] == list(nb101_features.feature_names())
    assert meta["xgboost_version"].count(".") == 2 and meta["train_cells"] == 18_001
    real = nb101_real.read_shipped()
    train, _ = nb101_surrogate.split(nb101_real.NUM_REAL)
    assert meta["train_max_val_acc"] == float(real[f"val_acc_{nb101_real.EPOCHS}"][train].max())
    assert meta["held_out"]["kendall_tau"] >= 0.80 and set(meta["files"]) == {"val_acc", "aux"}
    assert set(meta["tables"]) == {nb101_surrogate.TABLE}
    assert "nb101_surrogate.derive_table" in meta["table"]


def test_a_damaged_shipped_file_is_one_clear_error(tmp_path):
    for path in paths.PACKAGE_DATA.glob(f"{nb101_surrogate.STEM}*"):
        shutil.copy(path, tmp_path / path.name)
    for name in ("aux", nb101_surrogate.TABLE):
        target = tmp_path / f"{nb101_surrogate.STEM}_{name}.npz"
        data = bytearray(target.read_bytes())
        data[-100] ^= 1
        target.write_bytes(bytes(data))
        with pytest.raises(paths.DataFileError, match=f"_{name}.npz: size or sha256 differs"):
            nb101_surrogate.load(tmp_path, package_dir=tmp_path)
        target.unlink()
        with pytest.raises(paths.DataFileError, match=f"_{name}.npz: missing"):
            trees.load_package(tmp_path, nb101_surrogate.STEM, "reinstall")
        shutil.copy(paths.PACKAGE_DATA / target.name, target)
    package = tmp_path / f"{nb101_surrogate.STEM}.json"
    record = json.loads(package.read_text())
    del record["tables"]  # a package written before the table shipped
    package.write_text(json.dumps(record))
    with pytest.raises(paths.DataFileError, match=r"v3.json: lists no 'table' table"):
        nb101_surrogate.load(tmp_path, package_dir=tmp_path)


@pytest.fixture(scope="module")
def small(data_dir, tmp_path_factory):
    """A small surrogate refitted with XGBoost into a temp dir (which links the session's
    enumeration), its table derived there, and the benchmark loaded from that package."""
    nb101.load_enumeration(data_dir, progress=False)
    directory = tmp_path_factory.mktemp("surrogate")
    for name in (nb101.SPACE_FILE, paths.sidecar(nb101.SPACE_FILE).name):
        (directory / name).symlink_to(data_dir / name)
    fitted = nb101_surrogate.refit(directory, progress=False, config=SMALL)
    bench = nb101_surrogate.load(directory, progress=False, package_dir=directory)
    return directory, fitted, bench


@pytest.mark.slow  # ~5 CPU-s of its own: out of the fast lane
def test_small_build_covers_the_space_with_members(small):
    directory, _, bench = small
    assert bench.name == "nb101-surrogate" and bench.size == nb101.NUM_CELLS
    assert bench.val_acc.shape == (nb101.NUM_CELLS, SMALL.members)
    assert (np.asarray(bench.num_values) == SMALL.members).all()
    acc = np.asarray(bench.val_acc)
    assert (acc >= 0).all() and (acc <= 1).all()
    assert np.isnan(np.asarray(bench.test_acc)).all()
    assert (np.asarray(bench.params) > 0).all() and (np.asarray(bench.train_seconds) > 0).all()
    assert sorted(p.name for p in directory.glob("*surrogate*")) == [
        f"{nb101_surrogate.STEM}{suffix}" for suffix in
        (".json", "_aux.npz", f"_{nb101_surrogate.TABLE}.npz", "_val_acc.npz")]


def test_refit_records_xgboost_and_the_table_carries_it(small):
    _, fitted, bench = small
    meta = bench.metadata
    assert meta["data"].startswith("SURROGATE fitted on 20,001 real NAS-Bench-101 cells")
    assert meta["xgboost_version"] == xgboost.__version__ == fitted["xgboost_version"]
    held_out = json.loads(meta["held_out"])
    for name in ("kendall_tau", "spearman", "rmse"):
        assert np.isfinite(held_out[name]) and held_out[name] == fitted["held_out"][name]
    assert json.loads(meta["features"]) == list(nb101_features.feature_names())
    assert json.loads(meta["config"]) == dataclasses.asdict(SMALL)


def test_small_table_is_xgboost_s_prediction(small):
    _, _, bench = small
    real = nb101_real.read_shipped()
    x = nb101_features.features(real["cells"].adj, real["cells"].ops)
    train, _ = nb101_surrogate.split(nb101_real.NUM_REAL)
    acc = real[f"val_acc_{nb101_real.EPOCHS}"].astype(np.float64)
    booster = nb101_surrogate._fit(x[train], nb101_surrogate._to_target(acc[train]), SMALL.trees,
                                   SMALL.seed + 1, SMALL)  # deterministic refit of member 1
    theirs = nb101_surrogate._from_target(booster.inplace_predict(x))
    rows = np.searchsorted(graph.hash_to_uint64(np.asarray(bench.hashes)),
                           graph.hash_to_uint64(np.asarray(nb101.hash_cells(real["cells"]))))
    ours = np.asarray(bench.val_acc)[rows, 1]
    np.testing.assert_array_equal(ours.view(np.int32), theirs.view(np.int32))


def test_load_reads_the_table_without_deriving_it(small, monkeypatch):
    directory, _, bench = small
    monkeypatch.setattr(nb101_surrogate, "derive_table", None)  # any call fails
    again = nb101_surrogate.load(directory, progress=False, package_dir=directory)
    np.testing.assert_array_equal(np.asarray(again.val_acc), np.asarray(bench.val_acc))
    assert [p.name for p in directory.glob("*table*")] == [  # the package's, no other
        f"{nb101_surrogate.STEM}_{nb101_surrogate.TABLE}.npz"]


def test_mean_averages_members_and_noisy_draws_one(small):
    directory, _, bench = small
    packed, ops, _ = nb101.load_enumeration(directory, progress=False)
    cells = nb101.Cell(adj=jnp.asarray(nb101.unpack_adjacency(packed[:64])),
                       ops=jnp.asarray(ops[:64]))
    query = jax.jit(base.query, static_argnames="mode")
    mean = query(bench, cells, mode="mean")
    members = np.asarray(bench.val_acc)[:64]  # the enumeration and the table share hash order
    np.testing.assert_allclose(mean.val_acc, members.mean(-1), rtol=1e-6)
    noisy = np.asarray(query(bench, cells, jax.random.key(0), mode="noisy").val_acc)
    assert ((noisy[:, None] == members).any(-1)).all()


def test_default_surrogate_reaches_held_out_kendall_tau(data_dir):
    # Held-out quality recomputed from the shipped table itself.
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


@pytest.mark.slow  # ~5 CPU-s of its own: out of the fast lane
def test_the_default_path_never_imports_xgboost(data_dir, tmp_path):
    # A fresh data directory (only the enumeration and its sampler rows, linked from the
    # session's) in a process where `import xgboost` fails: the default benchmark is read from
    # the package and queried, and nothing is written to the data directory.
    _, _, hashes = nb101.load_enumeration(data_dir, progress=False)
    neighbour_table.load_sampler_rows(data_dir, hashes)
    caches = [name for file in (nb101.SPACE_FILE, neighbour_table.SAMPLER_ROWS_FILE)
              for name in (file, paths.sidecar(file).name)]
    for name in caches:
        (tmp_path / name).symlink_to(data_dir / name)
    code = """
        import sys
        sys.modules["xgboost"] = None  # any import xgboost now fails
        import jax, numpy as np
        from nasjax import benchmarks
        from nasjax.benchmarks import nb101_real
        bench = benchmarks.load("nb101-surrogate", progress=False)
        cells = jax.tree.map(lambda x: x[:8], nb101_real.read_shipped()["cells"])
        print(np.asarray(jax.jit(benchmarks.query)(bench, cells).val_acc).tolist())
        """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                            text=True, cwd=Path(__file__).parents[2], timeout=1800,
                            env={**os.environ, "NASJAX_DATA": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(caches)
    session = nb101_surrogate.load(data_dir, progress=False)
    cells = jax.tree.map(lambda x: x[:8], nb101_real.read_shipped()["cells"])
    expected = np.asarray(jax.jit(base.query)(session, cells).val_acc).tolist()
    assert json.loads(result.stdout.splitlines()[-1]) == expected
