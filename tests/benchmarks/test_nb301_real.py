"""The shipped 725 real NAS-Bench-301 genotypes and their conversion from the source json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax
import numpy as np
import pytest

from nasjax.benchmarks import nb301_real
from nasjax.spaces import nb301

# The first record of nb301_val_725.json.
FIRST = {"normal": [[0, 0], [1, 5], [1, 1], [0, 1], [1, 3], [0, 3], [1, 3], [3, 2]],
         "reduce": [[1, 0], [0, 2], [1, 3], [0, 3], [3, 0], [0, 1], [2, 0], [3, 6]],
         "val_accuracy": 93.32119084207302, "params_m": 0.856298, "flops_m": 153.499136}


def shared_source() -> Path | None:
    """The folder of real subsets: ``$NASJAX_SHARED_DATA``, else ``shared/data`` beside the
    repository (where CI puts it)."""
    override = os.environ.get("NASJAX_SHARED_DATA")
    folder = Path(override) if override else Path(__file__).parents[3] / "shared" / "data"
    return folder if (folder / nb301_real.SOURCE_FILE).exists() else None


@pytest.fixture(scope="module")
def real() -> dict:
    return nb301_real.read_shipped()


def test_shipped_file_holds_725_valid_distinct_genotypes(real):
    genotypes = real["genotypes"]
    assert genotypes.shape == (725,) and genotypes.inputs.dtype == np.int8
    assert bool(jax.jit(nb301.is_valid)(genotypes).all())
    hashes = np.asarray(jax.jit(nb301.hash_genotypes)(genotypes))
    assert len({tuple(h) for h in hashes.tolist()}) == 725
    assert 0.9 < real["val_acc"].min() and real["val_acc"].max() < 0.95  # fractions
    assert "NAS-Bench-301" in real["meta"]["source"] and "Apache-2.0" in real["meta"]["source"]
    assert real["meta"]["op_names"] == list(nb301.OP_NAMES)


def test_first_record_by_hand(real):
    assert nb301.to_pairs(real["genotypes"][0]) == (FIRST["normal"], FIRST["reduce"])
    assert real["val_acc"][0] == FIRST["val_accuracy"] / 100
    assert real["params_m"][0] == FIRST["params_m"] and real["flops_m"][0] == FIRST["flops_m"]


def test_shipped_file_matches_the_source_json(real):
    source = shared_source()
    if source is None:
        pytest.skip("shared/data/nb301_val_725.json not found (set NASJAX_SHARED_DATA)")
    with open(source / nb301_real.SOURCE_FILE) as handle:
        records = json.load(handle)
    assert len(records) == nb301_real.NUM_REAL
    for row, record in enumerate(records):
        assert nb301.to_pairs(real["genotypes"][row]) == (record["normal"], record["reduce"])
    np.testing.assert_array_equal(real["val_acc"],
                                  np.array([r["val_accuracy"] for r in records]) / 100)
    np.testing.assert_array_equal(real["params_m"], [r["params_m"] for r in records])
    np.testing.assert_array_equal(real["flops_m"], [r["flops_m"] for r in records])


def test_write_then_read_round_trip(tmp_path):
    second = dict(FIRST, normal=FIRST["reduce"], reduce=FIRST["normal"], val_accuracy=91.5)
    (tmp_path / nb301_real.SOURCE_FILE).write_text(json.dumps([FIRST, second] * 2))
    summary = nb301_real.write_shipped(tmp_path, tmp_path / "out.npz")
    assert summary["genotypes"] == 4
    with pytest.raises(ValueError, match="does not hold 725 genotypes"):
        nb301_real.read_shipped(tmp_path / "out.npz")


def test_bad_source_records_are_named(tmp_path):
    bad = dict(FIRST, normal=[[0, 0], [0, 5]] + FIRST["normal"][2:])
    (tmp_path / nb301_real.SOURCE_FILE).write_text(json.dumps([FIRST, bad]))
    with pytest.raises(ValueError, match="record 1: normal node 0 reads input 0 twice"):
        nb301_real.write_shipped(tmp_path, tmp_path / "out.npz")
    (tmp_path / nb301_real.SOURCE_FILE).write_text(json.dumps([dict(FIRST, val_accuracy=0.93)]))
    with pytest.raises(ValueError, match="percentages"):
        nb301_real.write_shipped(tmp_path, tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()


def test_missing_and_corrupt_files_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m nasjax.benchmarks.nb301_real"):
        nb301_real.read_shipped(tmp_path / "absent.npz")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="broken.npz is corrupt"):
        nb301_real.read_shipped(broken)
