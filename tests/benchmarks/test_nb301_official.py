"""``nb301`` (official) end to end on the legacy fixtures, which are in the official folder
layout: prepare -> load -> query, bit for bit with the old XGBoost's recorded predictions."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

from launch import prepare_data
from nasjax import benchmarks, paths, spaces
from nasjax.benchmarks import base, nb301_features, nb301_official, trees

FIXTURES = Path(__file__).parents[1] / "fixtures" / "nb301_legacy"


@pytest.fixture(scope="module", params=["1.0.2", "1.1.1"])
def prepared(request, tmp_path_factory):
    folder = FIXTURES / f"xgb_{request.param}"
    data_dir = tmp_path_factory.mktemp(f"nb301_{request.param}")
    summary = prepare_data.build("nb301", str(folder), data_dir)
    with np.load(folder / "predictions.npz") as data:
        expected = {key: data[key] for key in data.files}
    return data_dir, summary, expected


def test_prepare_load_query_has_bit_parity_with_the_old_library(prepared):
    data_dir, summary, expected = prepared
    assert summary["members"] == 4 and Path(summary["file"]).exists()
    bench = benchmarks.load("nb301", data_dir, progress=False)
    assert bench.space == "nb301" and not bench.has_test and bench.num_members == 4
    preds = trees.predict(bench.ensemble, expected["inputs"])
    np.testing.assert_array_equal(np.asarray(preds).view(np.int32),
                                  expected["member_predictions"].view(np.int32))
    mean = np.asarray(trees.ensemble_mean(preds))
    np.testing.assert_array_equal(mean.view(np.int32), expected["mean"].view(np.int32))


def test_query_is_the_member_mean_in_percent_over_100(prepared):
    data_dir, _, _ = prepared
    bench = benchmarks.load("nb301", data_dir, progress=False)
    genotypes = spaces.get("nb301").sample(jax.random.key(0), (64,))
    out = jax.jit(base.query)(bench, genotypes)
    members = np.asarray(trees.predict(bench.ensemble, nb301_features.features(genotypes)))
    percent = members.mean(-1)  # NumPy's mean, as the official ensemble takes it
    expected = np.clip(percent / np.float32(100), 0, 1)
    np.testing.assert_array_equal(np.asarray(out.val_acc), expected)
    assert np.asarray(out.valid).all() and np.isnan(out.test_acc).all()
    # The same bits one genotype at a time under vmap, as the environment queries.
    one_by_one = jax.jit(jax.vmap(lambda g: base.query(bench, g).val_acc))(genotypes)
    np.testing.assert_array_equal(np.asarray(one_by_one), expected)


def test_noisy_mode_draws_normal_with_the_members_std(prepared):
    data_dir, _, _ = prepared
    bench = benchmarks.load("nb301", data_dir, progress=False)
    one = spaces.get("nb301").sample(jax.random.key(1), ())
    many = jax.tree.map(lambda x: np.broadcast_to(x, (4000,) + x.shape), one)
    noisy = np.asarray(jax.jit(lambda b, g, k: base.query(b, g, k, "noisy"))(
        bench, many, jax.random.key(2)).val_acc)
    members = np.asarray(trees.predict(bench.ensemble, nb301_features.features(one))) / 100
    assert noisy.std() == pytest.approx(members.std(), rel=0.1)
    assert noisy.mean() == pytest.approx(np.clip(members.mean(), 0, 1), abs=4 * members.std()
                                         / np.sqrt(4000) + 1e-6)


def test_load_without_the_file_names_the_prepare_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="launch.prepare_data --benchmark=nb301 --source="):
        benchmarks.load("nb301", tmp_path, progress=False)


def test_prepare_needs_a_source_and_a_real_folder(tmp_path):
    with pytest.raises(ValueError, match="needs --source"):
        nb301_official.prepare(None, tmp_path)
    with pytest.raises(ValueError, match="holds no"):
        nb301_official.prepare(str(tmp_path), tmp_path)


def test_a_corrupted_file_fails_its_checksum(prepared, tmp_path):
    data_dir, _, _ = prepared
    copy = tmp_path / nb301_official.FILE
    content = bytearray((data_dir / nb301_official.FILE).read_bytes())
    copy.write_bytes(bytes(content))
    paths.seal(copy)
    content[len(content) // 2] ^= 1
    copy.write_bytes(bytes(content))
    with pytest.raises(paths.DataFileError, match="--benchmark=nb301"):
        benchmarks.load("nb301", tmp_path, progress=False)
