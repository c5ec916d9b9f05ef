"""Reader of the official NAS-Bench-101 file ``nasbench_only108.tfrecord``, without TensorFlow.

The file is a TFRecord stream. Each record is ``uint64 length`` (little-endian),
``uint32 masked crc32c(length bytes)``, the payload, ``uint32 masked
crc32c(payload)``. A payload is the JSON list ``[module_hash, epochs,
raw_adjacency, raw_operations, raw_metrics]``: a row-major ``'0'/'1'`` string of
the n x n adjacency, comma-separated op names, and a base64 proto2 ``ModelMetrics``
(decoded here from the wire format, no generated code). :func:`convert` turns the
108-epoch records into a nasjax table written by :func:`base.save_table`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import struct
import time
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.benchmarks import base
from nasjax.spaces import graph, nb101

NAME = "nb101"
FILE = "nb101.npz"  # the converted table, in the data directory
EPOCHS = 108  # the training budget kept by convert
REPEATS = 3  # training repeats per cell in the official data
MAX_RECORD_BYTES = 1 << 26  # larger lengths are rejected before reading (bounded memory)
_CHUNK = 1 << 14  # cells hashed per jitted call

# ----------------------------------------------------------------------------- crc32c


def _crc32c_table() -> tuple[int, ...]:
    """The 256-entry table of the reflected Castagnoli polynomial 0x82F63B78."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, as an unsigned 32-bit int.

    Args:
      data: the bytes to checksum.
    Returns:
      The checksum; ``crc32c(b"123456789") == 0xE3069283``.
    """
    table = _CRC32C_TABLE
    crc = 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc32c(data: bytes) -> int:
    """The TFRecord checksum: crc32c rotated right by 15 bits plus a constant, mod 2^32."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# ----------------------------------------------------------------------------- TFRecord framing

_HEADER = struct.Struct("<QI")  # length, masked crc32c of the 8 length bytes
_FOOTER = struct.Struct("<I")  # masked crc32c of the payload


def read_records(path: str | os.PathLike) -> Iterator[bytes]:
    """Stream the payloads of a TFRecord file, checking both checksums of every record.

    Memory is bounded by one record (at most ``MAX_RECORD_BYTES``).

    Args:
      path: the TFRecord file.
    Yields:
      Each record's payload, in file order.
    Raises:
      ValueError naming the file, the 0-based record index and the problem: a length
      or payload CRC mismatch, a record cut short by the end of the file, or a length
      over ``MAX_RECORD_BYTES``.
    """
    with open(path, "rb") as handle:
        index = 0
        while header := handle.read(_HEADER.size):
            where = f"{path}: record {index}"
            if len(header) < _HEADER.size:
                raise ValueError(f"{where}: truncated: file ends inside the record header "
                                 f"({len(header)} of {_HEADER.size} bytes)")
            length, length_crc = _HEADER.unpack(header)
            if _masked_crc32c(header[:8]) != length_crc:
                raise ValueError(f"{where}: length CRC mismatch (corrupt record header)")
            if length > MAX_RECORD_BYTES:
                raise ValueError(f"{where}: length {length} exceeds {MAX_RECORD_BYTES} bytes")
            payload = handle.read(length)
            footer = handle.read(_FOOTER.size)
            if len(payload) < length or len(footer) < _FOOTER.size:
                raise ValueError(f"{where}: truncated: file ends inside the record "
                                 f"({len(payload)} of {length} payload bytes)")
            if _masked_crc32c(payload) != _FOOTER.unpack(footer)[0]:
                raise ValueError(f"{where}: payload CRC mismatch (corrupt payload)")
            yield payload
            index += 1


# ----------------------------------------------------------------------------- protobuf wire format

_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


def _read_varint(buffer: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; return (value, position after it)."""
    value = shift = 0
    while True:
        if pos >= len(buffer):
            raise ValueError("truncated varint")
        byte = buffer[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise ValueError("varint longer than 10 bytes")


def _fields(buffer: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value) of a message: an int for varints, else raw bytes."""
    pos = 0
    while pos < len(buffer):
        key, pos = _read_varint(buffer, pos)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise ValueError("field number 0")
        if wire == _VARINT:
            value, pos = _read_varint(buffer, pos)
        elif wire in (_FIXED64, _FIXED32, _LENGTH_DELIMITED):
            if wire == _LENGTH_DELIMITED:
                size, pos = _read_varint(buffer, pos)
            else:
                size = 8 if wire == _FIXED64 else 4
            if pos + size > len(buffer):
                raise ValueError(f"field {field} runs past the end of the message")
            value, pos = buffer[pos : pos + size], pos + size
        else:
            raise ValueError(f"field {field} has unsupported wire type {wire}")
        yield field, wire, value


def _expect(field: int, wire: int, expected: int) -> None:
    if wire != expected:
        raise ValueError(f"field {field} has wire type {wire}, expected {expected}")


class Evaluation(NamedTuple):
    """One ``EvaluationData`` entry; a missing double is NaN, a missing path ``''``."""

    current_epoch: float
    training_time: float  # seconds
    train_accuracy: float  # fraction in [0, 1]
    validation_accuracy: float
    test_accuracy: float
    checkpoint_path: str


class ModelMetrics(NamedTuple):
    """A decoded ``ModelMetrics`` message."""

    evaluation_data: tuple[Evaluation, ...]  # official data: epoch 0, halfway, end of training
    trainable_parameters: int
    total_time: float  # seconds; NaN when missing


_EVALUATION_DOUBLES = dict(enumerate(Evaluation._fields[:5], start=1))


def _decode_evaluation(buffer: bytes) -> Evaluation:
    values = dict.fromkeys(Evaluation._fields[:5], math.nan)
    values["checkpoint_path"] = ""
    for field, wire, value in _fields(buffer):
        if field in _EVALUATION_DOUBLES:
            _expect(field, wire, _FIXED64)
            values[_EVALUATION_DOUBLES[field]] = struct.unpack("<d", value)[0]
        elif field == 6:
            _expect(field, wire, _LENGTH_DELIMITED)
            try:
                values["checkpoint_path"] = value.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(f"checkpoint_path is not UTF-8: {error}") from None
    return Evaluation(**values)


def decode_metrics(buffer: bytes) -> ModelMetrics:
    """Decode a serialized proto2 ``ModelMetrics`` message; unknown fields are skipped.

    Fields: 1 repeated ``EvaluationData`` (1 current_epoch, 2 training_time,
    3 train_accuracy, 4 validation_accuracy, 5 test_accuracy: doubles;
    6 checkpoint_path: string), 2 int32 trainable_parameters, 3 double total_time.

    Args:
      buffer: the wire-format bytes.
    Returns:
      The decoded message.
    Raises:
      ValueError naming the problem: a truncated varint or field, an unsupported
      or unexpected wire type, or no trainable_parameters.
    """
    evaluations, params, total_time = [], None, math.nan
    for field, wire, value in _fields(buffer):
        if field == 1:
            _expect(field, wire, _LENGTH_DELIMITED)
            evaluations.append(_decode_evaluation(value))
        elif field == 2:
            _expect(field, wire, _VARINT)
            params = value & 0xFFFFFFFF  # int32: the low 32 bits, two's complement
            params -= (params >> 31) << 32
        elif field == 3:
            _expect(field, wire, _FIXED64)
            total_time = struct.unpack("<d", value)[0]
    if params is None:
        raise ValueError("no trainable_parameters (field 2)")
    return ModelMetrics(tuple(evaluations), params, total_time)


# ----------------------------------------------------------------------------- payloads

_OP_CODES = {nb101.INPUT_NAME: nb101.INPUT, nb101.OUTPUT_NAME: nb101.OUTPUT,
             **{name: code for code, name in enumerate(nb101.OP_NAMES)}}
# For n vertices: (index into the row-major n*n string, bit of the packed adjacency)
# of each upper-triangular pair, and the string indices on or below the diagonal.
_UPPER = {n: [(int(r) * n + int(c), bit)
              for bit, (r, c) in enumerate(zip(nb101.TRIU_ROWS, nb101.TRIU_COLS)) if c < n]
          for n in range(1, nb101.NUM_VERTICES + 1)}
_LOWER = {n: [r * n + c for r in range(n) for c in range(r + 1)]
          for n in range(1, nb101.NUM_VERTICES + 1)}


class Record(NamedTuple):
    """One parsed record: one training run of one cell for one epoch budget."""

    module_hash: str  # official md5 module hash
    epochs: int
    adj_packed: int  # upper-triangular adjacency packed as nb101.pack_adjacency does
    ops: tuple[int, ...]  # 7 op codes, PAD after the n vertices
    metrics: ModelMetrics


def _parse_ops(raw_operations: str) -> tuple[int, ...]:
    names = raw_operations.split(",")
    if len(names) > nb101.NUM_VERTICES:
        raise ValueError(f"{len(names)} operations, NAS-Bench-101 cells have at most "
                         f"{nb101.NUM_VERTICES} vertices")
    unknown = [name for name in names if name not in _OP_CODES]
    if unknown:
        raise ValueError(f"unknown operation {unknown[0]!r}; expected one of "
                         f"{', '.join(_OP_CODES)}")
    codes = [_OP_CODES[name] for name in names]
    return tuple(codes + [nb101.PAD] * (nb101.NUM_VERTICES - len(codes)))


def _parse_adjacency(raw_adjacency: str, n: int) -> int:
    if len(raw_adjacency) != n * n:
        raise ValueError(f"raw_adjacency has {len(raw_adjacency)} entries, expected {n * n} "
                         f"for {n} operations")
    if not set(raw_adjacency) <= {"0", "1"}:
        raise ValueError("raw_adjacency must consist of '0' and '1' characters")
    if any(raw_adjacency[k] == "1" for k in _LOWER[n]):
        raise ValueError("adjacency is not strictly upper-triangular "
                         "(vertices must be in topological order)")
    return sum(1 << bit for k, bit in _UPPER[n] if raw_adjacency[k] == "1")


def parse_record(payload: bytes) -> Record:
    """Parse one record payload (JSON, op names, adjacency string, base64 protobuf).

    Cell validity beyond the adjacency's shape (op positions, dangling vertices, edge
    count) is not checked here; :func:`convert` checks it with :func:`nb101.is_valid`.

    Args:
      payload: the JSON payload bytes of one record.
    Returns:
      The parsed record.
    Raises:
      ValueError naming the problem: not JSON, not a list of the 5 expected entries,
      an unknown op, more than 7 vertices, an adjacency string of the wrong size or
      not strictly upper-triangular, bad base64, or a malformed ModelMetrics.
    """
    try:
        row = json.loads(payload)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"payload is not JSON: {error}") from None
    types = (str, int, str, str, str)
    if (not isinstance(row, list) or len(row) != len(types) or isinstance(row[1], bool)
            or not all(isinstance(value, kind) for value, kind in zip(row, types))):
        raise ValueError("payload is not a JSON list [module_hash: str, epochs: int, "
                         "raw_adjacency: str, raw_operations: str, raw_metrics: str]")
    module_hash, epochs, raw_adjacency, raw_operations, raw_metrics = row
    ops = _parse_ops(raw_operations)
    adj_packed = _parse_adjacency(raw_adjacency, sum(code != nb101.PAD for code in ops))
    try:
        serialized = base64.b64decode(raw_metrics, validate=True)
    except binascii.Error as error:
        raise ValueError(f"raw_metrics is not base64: {error}") from None
    try:
        metrics = decode_metrics(serialized)
    except ValueError as error:
        raise ValueError(f"raw_metrics is not a valid ModelMetrics protobuf: {error}") from None
    return Record(module_hash, epochs, adj_packed, ops, metrics)


# ----------------------------------------------------------------------------- conversion

_VALUES = ("val_acc", "test_acc", "train_seconds", "val_acc_halfway", "test_acc_halfway")


def _run_values(metrics: ModelMetrics) -> tuple[float, ...]:
    """The per-run values kept, in ``_VALUES`` order; ValueError when missing or out of range."""
    entries = metrics.evaluation_data
    if len(entries) != 3:
        raise ValueError(f"{len(entries)} evaluation_data entries, expected 3 "
                         "(epoch 0, halfway, end of training)")
    halfway, final = entries[1], entries[2]
    values = (final.validation_accuracy, final.test_accuracy, final.training_time,
              halfway.validation_accuracy, halfway.test_accuracy)
    for name, value in zip(_VALUES, values):
        upper = math.inf if name == "train_seconds" else 1.0
        if not 0.0 <= value <= upper:  # also rejects NaN (a missing field)
            raise ValueError(f"{name} = {value} is missing or outside [0, {upper}]")
    return values


class _Columns:
    """Compact host columns grown record by record: one row per cell, one entry per run."""

    def __init__(self) -> None:
        self.row_of: dict[str, int] = {}  # official module hash -> cell row
        self.module_hashes: list[str] = []
        self.first_record = array("q")  # per cell
        self.adj_packed = array("I")
        self.ops = array("b")  # 7 per cell
        self.params = array("q")
        self.repeats = array("b")
        self.run_row = array("q")  # per run
        self.run_slot = array("b")
        self.values = {name: array("d") for name in _VALUES}

    def add(self, index: int, record: Record) -> None:
        """Append run ``index``; ValueError when it contradicts earlier runs of its cell."""
        values = _run_values(record.metrics)
        row = self.row_of.get(record.module_hash)
        if row is None:
            row = self.row_of[record.module_hash] = len(self.module_hashes)
            self.module_hashes.append(record.module_hash)
            self.first_record.append(index)
            self.adj_packed.append(record.adj_packed)
            self.ops.extend(record.ops)
            self.params.append(record.metrics.trainable_parameters)
            self.repeats.append(0)
        else:
            first = self.first_record[row]
            ops = tuple(self.ops[row * nb101.NUM_VERTICES : (row + 1) * nb101.NUM_VERTICES])
            if (record.adj_packed, record.ops) != (self.adj_packed[row], ops):
                raise ValueError(f"module hash {record.module_hash} has a different cell "
                                 f"than in record {first}")
            if record.metrics.trainable_parameters != self.params[row]:
                raise ValueError(f"module hash {record.module_hash} has "
                                 f"{record.metrics.trainable_parameters} parameters, "
                                 f"{self.params[row]} in record {first}")
            if self.repeats[row] == REPEATS:
                raise ValueError(f"module hash {record.module_hash} has more than {REPEATS} "
                                 f"{EPOCHS}-epoch runs")
        self.run_row.append(row)
        self.run_slot.append(self.repeats[row])
        self.repeats[row] += 1
        for name, value in zip(_VALUES, values):
            self.values[name].append(value)

    def per_cell(self, name: str) -> np.ndarray:
        """float64[K, REPEATS]: the runs' ``name`` values, NaN where a cell has fewer runs."""
        table = np.full((len(self.module_hashes), REPEATS), np.nan)
        table[np.asarray(self.run_row), np.asarray(self.run_slot)] = np.asarray(self.values[name])
        return table


@jax.jit
def _hash_and_check(adj_packed: jax.Array, ops: jax.Array) -> tuple[jax.Array, jax.Array]:
    """uint32[C, 2] hashes and bool[C] validity of cells given as uint32[C] and int8[C, 7]."""
    cells = nb101.Cell(adj=nb101.unpack_adjacency(adj_packed), ops=ops)
    return nb101.hash_cells(cells), nb101.is_valid(cells)


def _hash_cells(adj_packed: np.ndarray, ops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Host loop of :func:`_hash_and_check` over fixed-size chunks (one compilation).

    Args:
      adj_packed: uint32[K].
      ops: int8[K, 7].
    Returns:
      uint32[K, 2] hashes and bool[K] validity.
    """
    hashes = np.empty((len(adj_packed), 2), np.uint32)
    valid = np.empty(len(adj_packed), bool)
    for start in range(0, len(adj_packed), _CHUNK):
        stop = min(start + _CHUNK, len(adj_packed))
        pad = _CHUNK - (stop - start)
        chunk_hashes, chunk_valid = _hash_and_check(
            jnp.asarray(np.pad(adj_packed[start:stop], (0, pad))),
            jnp.asarray(np.pad(ops[start:stop], ((0, pad), (0, 0)), constant_values=nb101.PAD)))
        hashes[start:stop] = np.asarray(chunk_hashes)[: stop - start]
        valid[start:stop] = np.asarray(chunk_valid)[: stop - start]
    return hashes, valid


def _check_cells(source: Path, columns: _Columns, hashes: np.ndarray, valid: np.ndarray) -> None:
    """ValueError naming the first record of an invalid cell, or of two isomorphic cells."""
    if not valid.all():
        row = int(np.flatnonzero(~valid)[0])
        raise ValueError(f"{source}: record {columns.first_record[row]}: module hash "
                         f"{columns.module_hashes[row]} is not a valid pruned NAS-Bench-101 cell "
                         "(input first, output last, every vertex on an input -> output path, "
                         f"at most {nb101.MAX_EDGES} edges)")
    keys = graph.hash_to_uint64(hashes)
    order = np.argsort(keys, kind="stable")
    equal = np.flatnonzero(np.diff(keys[order]) == 0)
    if len(equal):
        a, b = sorted(int(order[i]) for i in (equal[0], equal[0] + 1))
        raise ValueError(f"{source}: records {columns.first_record[a]} and "
                         f"{columns.first_record[b]}: module hashes {columns.module_hashes[a]} "
                         f"and {columns.module_hashes[b]} are isomorphic cells")


def convert(source: str | os.PathLike, dest: str | os.PathLike, progress: bool = True) -> dict:
    """Convert the official ``nasbench_only108.tfrecord`` into the nasjax ``nb101`` table.

    Streams the file, keeps the 108-epoch records, groups the (up to 3) repeats of
    each cell by the official module hash, hashes the cells with
    :func:`nb101.hash_cells` and writes, atomically, a table with ``val_acc``,
    ``test_acc`` and ``train_seconds`` (``[K, 3]``, end of training, NaN-padded),
    ``params`` and the extras ``val_acc_halfway``, ``test_acc_halfway`` (float32[K, 3]),
    ``adj_packed`` (uint32[K]) and ``ops`` (int8[K, 7]). On any error nothing is
    written to ``dest``.

    Args:
      source: the official TFRecord file.
      dest: the ``.npz`` table to write (``<data_dir>/nb101.npz`` for :func:`load`).
      progress: show a progress bar over the file's bytes.
    Returns:
      ``{"records": records read, "skipped": records of other epoch budgets,
      "cells": cells written, "seconds": wall-clock seconds, "dest": str(dest)}``.
    Raises:
      ValueError naming the record index and the problem: bad framing or checksum,
      a truncated file, a malformed payload, an invalid cell, inconsistent repeats,
      or no 108-epoch record at all.
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    source = Path(source)
    columns = _Columns()
    records = skipped = 0
    with tqdm(total=source.stat().st_size, unit="B", unit_scale=True, disable=not progress,
              desc=f"reading {source.name}") as bar:
        for index, payload in enumerate(read_records(source)):
            records += 1
            bar.update(_HEADER.size + len(payload) + _FOOTER.size)
            try:
                record = parse_record(payload)
                if record.epochs != EPOCHS:
                    skipped += 1
                    continue
                columns.add(index, record)
            except ValueError as error:
                raise ValueError(f"{source}: record {index}: {error}") from None
    if not columns.module_hashes:
        raise ValueError(f"{source}: no {EPOCHS}-epoch records among {records}")
    adj_packed = np.asarray(columns.adj_packed, np.uint32)
    ops = np.asarray(columns.ops, np.int8).reshape(-1, nb101.NUM_VERTICES)
    hashes, valid = _hash_cells(adj_packed, ops)
    _check_cells(source, columns, hashes, valid)
    cells = len(columns.module_hashes)
    base.save_table(
        dest,
        hashes=hashes,
        val_acc=columns.per_cell("val_acc"),
        test_acc=columns.per_cell("test_acc"),
        train_seconds=columns.per_cell("train_seconds"),
        params=np.asarray(columns.params, np.float64),
        name=NAME,
        space="nb101",
        info={"source": source.name, "records": records, "cells": cells,
              "metric": f"validation and test accuracy at {EPOCHS} epochs, {REPEATS} repeats"},
        extra={"val_acc_halfway": columns.per_cell("val_acc_halfway").astype(np.float32),
               "test_acc_halfway": columns.per_cell("test_acc_halfway").astype(np.float32),
               "adj_packed": adj_packed, "ops": ops},
    )
    return {"records": records, "skipped": skipped, "cells": cells,
            "seconds": time.perf_counter() - start, "dest": str(dest)}


def prepare(source: str | os.PathLike | None, data_dir: Path, progress: bool = True) -> dict:
    """``launch.prepare_data --benchmark=nb101``: convert ``source`` into the data directory."""
    if not source:
        raise ValueError("--benchmark=nb101 needs --source=PATH/nasbench_only108.tfrecord")
    if not Path(source).is_file():
        raise ValueError(f"--source={source}: no such file (the official "
                         "nasbench_only108.tfrecord)")
    return convert(source, Path(data_dir) / FILE, progress=progress)


def load(data_dir: Path, progress: bool = True) -> base.TableBenchmark:
    """The converted official table; FileNotFoundError with the command that makes it."""
    del progress
    path = Path(data_dir) / FILE
    command = (f"python -m nasjax.launch.prepare_data --benchmark=nb101 "
               f"--source=PATH/nasbench_only108.tfrecord --data_dir={data_dir}")
    if not path.exists():
        raise FileNotFoundError(
            f"NAS-Bench-101 table {path} not found. Convert the official file once with:\n"
            f"  {command}")
    return base.load_table(path, remake=command)
