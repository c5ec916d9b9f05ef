"""The shipped 20,001 real NAS-Bench-101 cells, cross-checked against the 1,000-cell fixture."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax import benchmarks
from nasjax.benchmarks import base, nb101_real
from nasjax.spaces import graph, nb101


@pytest.fixture(scope="module")
def real() -> dict:
    return nb101_real.read_shipped()


@pytest.fixture(scope="module")
def bench() -> base.TableBenchmark:
    return nb101_real.load()


def test_table_holds_20001_valid_distinct_cells(real, bench):
    assert bench.name == "nb101-real-20k" and bench.size == nb101_real.NUM_REAL
    assert bool(jax.jit(nb101.is_valid)(real["cells"]).all())
    keys = graph.hash_to_uint64(np.asarray(bench.hashes))
    assert len(np.unique(keys)) == nb101_real.NUM_REAL
    assert len(set(real["key"].tolist())) == nb101_real.NUM_REAL
    assert bench.val_acc.shape == (nb101_real.NUM_REAL, 1)
    assert not bench.has_test and np.isnan(np.asarray(bench.test_acc)).all()
    acc = np.asarray(bench.val_acc)
    assert (acc > 0).all() and (acc < 1).all()  # fractions, not percent
    assert "NAS-Bench-101" in bench.metadata["source"]


def test_official_hash_of_shipped_cells_is_their_key(real):
    for row in (0, 1, 777, 12_345, nb101_real.NUM_REAL - 1):
        assert nb101.official_hash_of_cell(real["cells"][row]) == real["key"][row]


def test_values_match_the_real_fixture(graphs_1k, real_specs, bench):
    # The fixture: 1,000 of these cells with their graphs, keys and 108-epoch accuracy.
    cells = [nb101.from_official(matrix, ops) for matrix, ops, _ in real_specs]
    cells = nb101.Cell(adj=jnp.stack([c.adj for c in cells]), ops=jnp.stack([c.ops for c in cells]))
    metrics = jax.jit(base.query)(bench, cells)
    assert bool(metrics.valid.all())
    np.testing.assert_array_equal(metrics.val_acc, graphs_1k["val_acc_108"])
    shipped = nb101_real.read_shipped()
    np.testing.assert_array_equal(shipped["key"][:1000], graphs_1k["key"])


def test_fidelities_align_with_the_table(bench):
    fidelities = nb101_real.fidelities()
    assert sorted(fidelities) == [4, 12, 36, 108]
    np.testing.assert_array_equal(fidelities[108], np.asarray(bench.val_acc)[:, 0])
    means = [float(fidelities[e].mean()) for e in (4, 12, 36, 108)]
    assert means == sorted(means)  # longer training, higher mean accuracy


def test_registry_loads_it():
    assert benchmarks.load("nb101-real-20k").size == nb101_real.NUM_REAL


def test_missing_and_corrupt_files_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="launch.prepare_data --benchmark=nb101-real-20k"):
        nb101_real.read_shipped(tmp_path / "absent.npz")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="broken.npz is corrupt"):
        nb101_real.load(path=broken)
