"""Reading the official NAS-Bench-101 TFRecord file without TensorFlow, end to end."""

from __future__ import annotations

import base64
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax import benchmarks
from nasjax.benchmarks import base, nb101_official
from nasjax.spaces import graph, nb101
from tests.benchmarks.official_fixture import Run, write_official_fixture

C3, C1, MP = nb101.OP_NAMES

# Hand-chosen pruned cells: (matrix, ops).
SIMPLE = ([[0, 1], [0, 0]], ["input", "output"])
SKIP_CONV = ([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", C3, "output"])
DIAMOND = (
    [[0, 1, 1, 0, 1],
     [0, 0, 0, 1, 0],
     [0, 0, 0, 1, 0],
     [0, 0, 0, 0, 1],
     [0, 0, 0, 0, 0]],
    ["input", C1, MP, C3, "output"],
)
FULL = (  # 7 vertices, 9 edges: a chain plus 0->2, 0->6, 1->6
    [[0, 1, 1, 0, 0, 0, 1],
     [0, 0, 1, 0, 0, 0, 1],
     [0, 0, 0, 1, 0, 0, 0],
     [0, 0, 0, 0, 1, 0, 0],
     [0, 0, 0, 0, 0, 1, 0],
     [0, 0, 0, 0, 0, 0, 1],
     [0, 0, 0, 0, 0, 0, 0]],
    ["input", C3, C1, MP, C3, C1, "output"],
)
TWO_RUNS = ([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", MP, C1, "output"])
ONLY_4_EPOCHS = ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", MP, "output"])
CELLS = {"simple": SIMPLE, "skip_conv": SKIP_CONV, "diamond": DIAMOND, "full": FULL,
         "two_runs": TWO_RUNS}


def run(spec, cell: int, repeat: int, **overrides) -> Run:
    """A run with distinct, recognisable numbers for (cell, repeat)."""
    matrix, ops = spec
    values = dict(val=0.80 + 0.02 * cell + 0.003 * repeat, test=0.70 + 0.02 * cell + 0.003 * repeat,
                  seconds=1000.0 + 100 * cell + 7 * repeat,
                  half_val=0.60 + 0.02 * cell + 0.003 * repeat,
                  half_test=0.50 + 0.02 * cell + 0.003 * repeat, params=10_000 * (cell + 1))
    return Run(matrix, ops, **{**values, **overrides})


def official_runs() -> list[Run]:
    """Repeats interleaved across cells, one cell with 2 runs, and two 4-epoch records."""
    runs = []
    for repeat in range(3):
        for number, spec in enumerate(CELLS.values()):
            if spec is TWO_RUNS and repeat == 2:
                continue
            runs.append(run(spec, number, repeat))
        if repeat == 0:
            runs.append(run(SKIP_CONV, 9, 0, epochs=4, val=0.2, test=0.2, seconds=5.0))
            runs.append(run(ONLY_4_EPOCHS, 9, 0, epochs=4))
    return runs


def cell_of(spec) -> nb101.Cell:
    return nb101.from_official(*spec)


def repeats_of(spec) -> list[Run]:
    return [r for r in official_runs() if (r.matrix, r.ops) == spec and r.epochs == 108]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    directory = tmp_path_factory.mktemp("nb101_official")
    source = directory / "nasbench_only108.tfrecord"
    write_official_fixture(source, official_runs())
    summary = nb101_official.convert(source, directory / "nb101.npz", progress=False)
    return directory, summary


# ----------------------------------------------------------------------------- checksums, framing


def test_crc32c_matches_the_castagnoli_check_value():
    assert nb101_official.crc32c(b"123456789") == 0xE3069283
    assert nb101_official.crc32c(b"") == 0


def test_read_records_returns_every_payload_in_file_order(tmp_path):
    payloads = [b"", b"a", b"x" * 1000, json.dumps(["h", 108]).encode()]
    write_official_fixture(tmp_path / "f.tfrecord", payloads)
    assert list(nb101_official.read_records(tmp_path / "f.tfrecord")) == payloads


def test_decode_metrics_reads_the_wire_format_and_skips_unknown_fields():
    evaluation = b"\x21" + np.float64(0.93).tobytes() + b"\x32\x03abc"  # field 4 double, 6 string
    message = (b"\x0a" + bytes([len(evaluation)]) + evaluation  # field 1 message
               + b"\xa0\x06\x05"  # unknown field 100, varint
               + b"\x10\xc0\x84\x3d"  # field 2 varint 1,000,000
               + b"\xaa\x06\x02zz"  # unknown field 101, length-delimited
               + b"\x19" + np.float64(12.5).tobytes())  # field 3 double
    metrics = nb101_official.decode_metrics(message)
    assert metrics.trainable_parameters == 1_000_000
    assert metrics.total_time == 12.5
    (entry,) = metrics.evaluation_data
    assert entry.validation_accuracy == 0.93 and entry.checkpoint_path == "abc"
    assert np.isnan(entry.test_accuracy)  # absent


# ----------------------------------------------------------------------------- end to end


@pytest.mark.slow  # ~6 CPU-s of its own: out of the fast lane
def test_convert_keeps_108_epoch_cells_and_reports_counts(converted):
    directory, summary = converted
    assert summary["records"] == len(official_runs())
    assert summary["skipped"] == 2
    assert summary["cells"] == len(CELLS)
    assert summary["seconds"] > 0
    bench = base.load_table(directory / "nb101.npz")
    assert bench.name == "nb101" and bench.size == len(CELLS)
    assert bench.metadata["source"] == "nasbench_only108.tfrecord"
    assert bench.metadata["records"] == len(official_runs())
    assert bench.metadata["cells"] == len(CELLS)
    assert "108 epochs" in bench.metadata["metric"]
    assert bench.has_test


def test_registry_loads_the_converted_table(converted):
    directory, _ = converted
    assert benchmarks.load("nb101", data_dir=directory).size == len(CELLS)


@pytest.mark.parametrize("name", list(CELLS))
def test_mean_query_averages_the_final_values_of_the_repeats(converted, name):
    bench = base.load_table(converted[0] / "nb101.npz")
    runs = repeats_of(CELLS[name])
    metrics = base.query(bench, cell_of(CELLS[name]))
    assert bool(metrics.valid)
    np.testing.assert_allclose(metrics.val_acc, np.mean([r.val for r in runs]), rtol=1e-6)
    np.testing.assert_allclose(metrics.test_acc, np.mean([r.test for r in runs]), rtol=1e-6)
    np.testing.assert_allclose(metrics.train_seconds, np.mean([r.seconds for r in runs]),
                               rtol=1e-6)
    assert float(metrics.params) == runs[0].params


@pytest.mark.parametrize("name", ["full", "two_runs"])
def test_noisy_query_draws_one_whole_repeat(converted, name):
    bench = base.load_table(converted[0] / "nb101.npz")
    runs = repeats_of(CELLS[name])
    cells = jax.tree.map(lambda x: jnp.broadcast_to(x, (64,) + x.shape), cell_of(CELLS[name]))
    metrics = base.query(bench, cells, jax.random.key(0), mode="noisy")
    drawn = set(zip(*(np.asarray(v).tolist()
                      for v in (metrics.val_acc, metrics.test_acc, metrics.train_seconds))))
    expected = {tuple(float(np.float32(x)) for x in (r.val, r.test, r.seconds)) for r in runs}
    assert drawn == expected  # every repeat drawn, never a mix of repeats


def test_a_cell_seen_only_at_4_epochs_is_not_in_the_table(converted):
    bench = base.load_table(converted[0] / "nb101.npz")
    metrics = base.query(bench, cell_of(ONLY_4_EPOCHS))
    assert not bool(metrics.valid) and np.isnan(metrics.val_acc)


def test_rows_hold_repeats_in_file_order_nan_padded_with_halfway_extras(converted):
    path = converted[0] / "nb101.npz"
    bench, extra = base.load_table(path), base.load_extra(path)
    for name, spec in CELLS.items():
        cell, runs = cell_of(spec), repeats_of(spec)
        row = int(graph.sorted_lookup(bench.hashes, nb101.hash_cells(cell)))
        assert int(bench.num_values[row]) == len(runs)
        for table, field in ((bench.val_acc, "val"), (bench.test_acc, "test"),
                             (bench.train_seconds, "seconds"),
                             (extra["val_acc_halfway"], "half_val"),
                             (extra["test_acc_halfway"], "half_test")):
            recorded = [getattr(r, field) for r in runs] + [np.nan] * (3 - len(runs))
            np.testing.assert_array_equal(np.float32(table[row]), np.float32(recorded),
                                          err_msg=f"{name} {field}")
        assert extra["adj_packed"].dtype == np.uint32 and extra["ops"].dtype == np.int8
        assert extra["adj_packed"][row] == nb101.pack_adjacency(np.asarray(cell.adj))
        np.testing.assert_array_equal(extra["ops"][row], cell.ops)


# ----------------------------------------------------------------------------- corrupt input


def metrics_payload(raw_metrics: str) -> bytes:
    matrix, ops = DIAMOND
    return json.dumps(["0" * 32, 108, "".join(str(x) for r in matrix for x in r), ",".join(ops),
                       raw_metrics]).encode()


def flip(data: bytearray, position: int) -> None:
    data[position] ^= 0x40


DANGLING = ([[0, 0, 1], [0, 0, 1], [0, 0, 0]], ["input", C3, "output"])  # vertex 1: no in-edge
LOWER = ([[0, 0], [1, 0]], ["input", "output"])
UNKNOWN_OP = ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"])
ONE_FIELD = base64.b64encode(b"\x10\x05").decode()  # params only, no evaluation_data

# (case, record 2 of [SIMPLE, SKIP_CONV, <record 2>, FULL], corruption of the file bytes,
#  expected problem).
CORRUPTIONS = {
    "bad length crc": (None, lambda d, o: flip(d, o[2] + 8), "length CRC mismatch"),
    "bad length": (None, lambda d, o: flip(d, o[2]), "length CRC mismatch"),
    "bad payload crc": (None, lambda d, o: flip(d, o[3] - 1), "payload CRC mismatch"),
    "bad payload byte": (None, lambda d, o: flip(d, o[2] + 30), "payload CRC mismatch"),
    "truncated payload": (None, lambda d, o: d.__delitem__(slice(o[2] + 20, None)), "truncated"),
    "truncated header": (None, lambda d, o: d.__delitem__(slice(o[2] + 5, None)), "truncated"),
    "truncated crc": (None, lambda d, o: d.__delitem__(slice(o[3] - 2, None)), "truncated"),
    "not json": (b"not json {", None, "not JSON"),
    "not utf-8": (b"\xff\xfe\x00", None, "not JSON"),
    "json of the wrong shape": (b'["abc", 108]', None, "not a JSON list"),
    "bad base64": (metrics_payload("@@@@"), None, "not base64"),
    "truncated protobuf": (metrics_payload(base64.b64encode(b"\x0a\x05\x09").decode()), None,
                           "not a valid ModelMetrics.*past the end"),
    "protobuf wire type": (metrics_payload(base64.b64encode(b"\x08\x05").decode()), None,
                           "not a valid ModelMetrics.*wire type"),
    "no evaluations": (metrics_payload(ONE_FIELD), None, "0 evaluation_data entries"),
    "dangling vertex": (run(DANGLING, 5, 0, module_hash="d" * 32), None, "not a valid pruned"),
    "lower-triangular": (run(LOWER, 5, 0, module_hash="l" * 32), None, "upper-triangular"),
    "unknown op": (run(UNKNOWN_OP, 5, 0, module_hash="u" * 32), None, "unknown operation"),
    "accuracy above 1": (run(DIAMOND, 2, 0, val=93.5), None, r"val_acc = 93.5 .*outside"),
    "other cell, same hash": (run(DIAMOND, 2, 0, module_hash=nb101.official_hash(*SIMPLE)), None,
                              "different cell than in record 0"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_corrupt_record_raises_naming_it_and_writes_nothing(tmp_path, case):
    record, corrupt, problem = CORRUPTIONS[case]
    source, dest = tmp_path / "nasbench_only108.tfrecord", tmp_path / "out" / "nb101.npz"
    specs = [run(SIMPLE, 0, 0), run(SKIP_CONV, 1, 0), record or run(DIAMOND, 2, 0),
             run(FULL, 3, 0)]
    offsets = write_official_fixture(source, specs)
    if corrupt:
        data = bytearray(source.read_bytes())
        corrupt(data, offsets)
        source.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"record 2: .*{problem}"):
        nb101_official.convert(source, dest, progress=False)
    assert not dest.exists()
    assert not dest.parent.exists() or not list(dest.parent.iterdir())


def test_a_fourth_run_of_a_cell_is_rejected(tmp_path):
    source, dest = tmp_path / "f.tfrecord", tmp_path / "nb101.npz"
    write_official_fixture(source, [run(SIMPLE, 0, repeat) for repeat in range(4)])
    with pytest.raises(ValueError, match="record 3: .*more than 3"):
        nb101_official.convert(source, dest, progress=False)
    assert not dest.exists()


def test_a_file_without_108_epoch_records_is_rejected(tmp_path):
    source, dest = tmp_path / "f.tfrecord", tmp_path / "nb101.npz"
    write_official_fixture(source, [run(SIMPLE, 0, 0, epochs=4)])
    with pytest.raises(ValueError, match="no 108-epoch records"):
        nb101_official.convert(source, dest, progress=False)
    assert not dest.exists()

