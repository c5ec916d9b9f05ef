"""The Benchmark interface on a hand-built table: lookup, modes, validity, files."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax import paths, spaces
from nasjax.benchmarks import base
from nasjax.spaces import nb101, nb101_space, nb301
from nasjax.spaces.base import NO_HASH

C3, C1, MP = nb101.OP_NAMES
SPECS = [  # (matrix, ops), three distinct pruned cells
    ([[0, 1], [0, 0]], ["input", "output"]),
    ([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", C3, "output"]),
    ([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", MP, C1, "output"]),
]
ABSENT = ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", C1, "output"])  # not in the table
# Recorded values per cell: 3 repeats, the last cell has only 2 (NaN-padded).
VAL = np.array([[0.80, 0.82, 0.84], [0.90, 0.91, 0.92], [0.70, 0.74, np.nan]], np.float32)
SECONDS = np.array([[100.0, 110.0, 120.0], [200.0, 210.0, 220.0], [300.0, 310.0, np.nan]])
PARAMS = np.array([1e5, 2e5, 3e5])


SWAPPED = ([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", C1, MP, "output"])
# The parallel max-pool / conv1x1 cell (SPECS[2]) with its two branches swapped: the same cell.
query = jax.jit(base.query, static_argnames="mode")


def stack(specs) -> nb101.Cell:
    cells = [nb101.from_official(m, o) for m, o in specs]
    return nb101.Cell(adj=jnp.stack([c.adj for c in cells]), ops=jnp.stack([c.ops for c in cells]))


ALL = SPECS + [ABSENT, SWAPPED]  # one batch shape for every query: one compilation per mode


@pytest.fixture(scope="module")
def bench() -> base.TableBenchmark:
    return base.from_function(stack(SPECS), VAL, name="hand-built", train_seconds=SECONDS,
                              params=PARAMS)


@pytest.fixture(scope="module")
def mean(bench) -> base.Metrics:
    return query(bench, stack(ALL), mode="mean")


def test_exact_lookup_in_mean_mode_averages_recorded_values(mean):
    assert mean.valid.tolist() == [True, True, True, False, True]
    np.testing.assert_allclose(mean.val_acc[:3], [0.82, 0.91, 0.72], rtol=1e-6)
    np.testing.assert_allclose(mean.train_seconds[:3], [110.0, 210.0, 305.0], rtol=1e-6)
    np.testing.assert_allclose(mean.params[:3], PARAMS)
    assert np.isnan(mean.test_acc).all()  # no test accuracy given


def test_lookup_is_isomorphism_invariant(mean):
    assert float(mean.val_acc[4]) == pytest.approx(0.72)


def test_absent_cell_is_invalid_and_nan(mean):
    for value in (mean.val_acc, mean.test_acc, mean.train_seconds, mean.params):
        assert np.isnan(value[3])


def test_noisy_mode_draws_recorded_values_deterministically(bench):
    cells = jax.tree.map(lambda x: jnp.broadcast_to(x, (60,) + x.shape), stack(ALL))
    draws = np.asarray(query(bench, cells, jax.random.key(0), mode="noisy").val_acc)
    for column, recorded in enumerate(VAL):
        seen = set(np.round(draws[:, column], 6).tolist())
        assert seen == set(np.round(recorded[np.isfinite(recorded)], 6).tolist())
    assert np.isnan(draws[:, 3]).all()
    again = query(bench, cells, jax.random.key(0), mode="noisy").val_acc
    np.testing.assert_array_equal(again, draws)
    other = query(bench, cells, jax.random.key(1), mode="noisy").val_acc
    assert not np.array_equal(np.nan_to_num(other), np.nan_to_num(draws))


def test_bad_mode_and_missing_key_raise(bench):
    with pytest.raises(ValueError, match="needs a PRNG key"):
        base.query(bench, stack(SPECS), mode="noisy")
    with pytest.raises(ValueError, match="unknown query mode"):
        base.query(bench, stack(SPECS), jax.random.key(0), mode="median")


def test_cells_that_is_valid_rejects_never_get_another_cells_numbers(bench):
    # A cyclic cell hashes like the 3-vertex chain and a PAD interior vertex like
    # input -> output; both must be invalid, never the isomorphic-looking valid cell's numbers.
    chain = nb101.from_official(*ABSENT)
    cyclic = nb101.Cell(adj=chain.adj.at[2, 1].set(True), ops=chain.ops)
    fork = nb101.from_official([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", C3, "output"])
    padded = nb101.Cell(adj=fork.adj, ops=fork.ops.at[1].set(nb101.PAD))
    table = base.from_function(stack(SPECS + [ABSENT]), np.r_[VAL[:, 0], 0.5], name="hand-built")
    cells = jax.tree.map(lambda *x: jnp.stack(x), cyclic, padded, chain)
    out = query(table, cells, mode="mean")
    assert out.valid.tolist() == [False, False, True]
    assert np.isnan(out.val_acc[:2]).all() and float(out.val_acc[2]) == pytest.approx(0.5)
    assert not bool(nb101.is_valid(cyclic)) and not bool(nb101.is_valid(padded))


def test_jitted_query_traces_once(bench):
    @jax.jit
    @chex.assert_max_traces(n=1)
    def noisy(table, cells, key):
        return base.query(table, cells, key, mode="noisy")

    cells = stack(ALL)
    for k in range(3):
        noisy(bench, cells, jax.random.key(k))


def test_save_load_round_trip(bench, tmp_path):
    path = tmp_path / "table.npz"
    base.save_table(path, hashes=bench.hashes, val_acc=bench.val_acc, test_acc=bench.test_acc,
                    train_seconds=bench.train_seconds, params=bench.params, name="hand-built",
                    space="nb101", info={"source": "hand-built test table"},
                    extra={"half": np.arange(3, dtype=np.float32)})
    loaded = base.load_table(path)
    assert loaded.name == "hand-built" and loaded.metadata["source"] == "hand-built test table"
    assert loaded.space == "nb101"
    for field in ("hashes", "val_acc", "test_acc", "train_seconds", "params", "num_values"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(bench, field))
    np.testing.assert_allclose(query(loaded, stack(ALL), mode="mean").val_acc[:3],
                               [0.82, 0.91, 0.72], rtol=1e-6)
    np.testing.assert_array_equal(sorted(base.load_extra(path)["half"]), [0.0, 1.0, 2.0])


def test_corrupt_file_raises_naming_it(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"not a table")
    paths.seal(path)  # checksummed, yet no table
    with pytest.raises(ValueError, match="broken.npz is corrupt"):
        base.load_table(path)


@pytest.mark.slow  # ~6 CPU-s of its own: out of the fast lane
def test_a_space_without_a_dense_index_finds_rows_by_hash():
    # NAS-Bench-301 has no dense index: locate gives the hash, NO_HASH for an invalid genotype,
    # which no table holds.
    space = spaces.get("nb301")
    genotypes = nb301.sample(jax.random.key(3), (4,))
    archs = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), genotypes, nb301.padding((1,)))
    keys = np.asarray(space.locate(archs))
    np.testing.assert_array_equal(keys[:4], space.hash(genotypes))
    assert keys[4].tolist() == list(NO_HASH)
    table = base.from_function(genotypes, np.linspace(0.5, 0.8, 4), space="nb301", name="four")
    assert table.dense_rows is None and table.space == "nb301"
    out = query(table, archs, mode="mean")
    assert out.valid.tolist() == [True] * 4 + [False]
    np.testing.assert_allclose(out.val_acc[:4], np.linspace(0.5, 0.8, 4), rtol=1e-6)


def test_make_table_refuses_the_hash_reserved_for_invalid_architectures():
    hashes = np.array([[0, 1], NO_HASH], np.uint32)
    ones = np.ones((2, 1), np.float32)
    with pytest.raises(ValueError, match="reserved for invalid"):
        base.make_table(spaces.get("nb301"), hashes=hashes, val_acc=ones, test_acc=ones,
                        train_seconds=ones, params=ones[:, 0], num_values=np.ones(2, np.int32),
                        name="bad")


def test_bind_joins_a_table_to_a_neighbour_table_once(small_world):
    bench, table = small_world["bench"], small_world["table"]
    oracle = base.bind(bench, table)
    assert isinstance(oracle, base.RowOracle)
    generic = base.bind(bench, nb101_space.make_space().neighbourhood)
    assert isinstance(generic, base.Oracle)
    rows = jnp.arange(-1, table.hashes.shape[0])
    by_row, by_cell = oracle.metrics(rows), bench.query(table.cells(rows))
    for field in ("valid", "val_acc", "test_acc"):
        np.testing.assert_array_equal(getattr(by_row, field), getattr(by_cell, field))
