"""Writer of the official NAS-Bench-101 TFRecord format, for tests only.

Independent of :mod:`nasjax.benchmarks.nb101_official`: a bitwise CRC-32C (no
table), protobuf keys and varints encoded by hand, the payload built as the
official generator did (``json.dumps`` of the 5-entry list).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import struct
from collections.abc import Sequence

from nasjax.spaces import nb101


@dataclasses.dataclass(frozen=True)
class Run:
    """One official record: one training run of one cell."""

    matrix: Sequence[Sequence[int]]  # n x n 0/1, already pruned
    ops: Sequence[str]  # n op names, 'input' first, 'output' last
    val: float  # validation accuracy at the end of training
    test: float  # test accuracy at the end of training
    seconds: float  # training time at the end of training
    half_val: float  # validation accuracy at the halfway epoch
    half_test: float  # test accuracy at the halfway epoch
    params: int
    epochs: int = 108
    module_hash: str | None = None  # default: nb101.official_hash(matrix, ops)


def _crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def _masked(data: bytes) -> int:
    crc = _crc32c(data)
    rotated = ((crc >> 15) | (crc << 17)) & 0xFFFFFFFF
    return (rotated + 0xA282EAD8) % (1 << 32)


def frame(payload: bytes) -> bytes:
    """One TFRecord: length, masked CRC of the length, payload, masked CRC of the payload."""
    length = struct.pack("<Q", len(payload))
    return (length + struct.pack("<I", _masked(length)) + payload
            + struct.pack("<I", _masked(payload)))


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint((field << 3) | wire_type)


def _double(field: int, value: float) -> bytes:
    return _key(field, 1) + struct.pack("<d", value)


def _length_delimited(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def _evaluation(epoch: float, seconds: float, train: float, val: float, test: float,
                checkpoint: str) -> bytes:
    return (_double(1, epoch) + _double(2, seconds) + _double(3, train) + _double(4, val)
            + _double(5, test) + _length_delimited(6, checkpoint.encode()))


def model_metrics(run: Run) -> bytes:
    """The serialized ModelMetrics of a run: evaluations at epochs 0, halfway and the end."""
    path = "gs://fixture/model.ckpt-{}"
    evaluations = [
        _evaluation(0.0, 0.0, 0.1, 0.1, 0.1, path.format(0)),
        _evaluation(run.epochs / 2, run.seconds / 2, 0.9, run.half_val, run.half_test,
                    path.format(run.epochs // 2)),
        _evaluation(float(run.epochs), run.seconds, 1.0, run.val, run.test,
                    path.format(run.epochs)),
    ]
    return (b"".join(_length_delimited(1, entry) for entry in evaluations)
            + _key(2, 0) + _varint(run.params) + _double(3, run.seconds + 60.0))


def payload(run: Run) -> bytes:
    """The JSON payload of a run, as in the official file."""
    module_hash = run.module_hash or nb101.official_hash(run.matrix, run.ops)
    adjacency = "".join(str(int(entry)) for row in run.matrix for entry in row)
    metrics = base64.b64encode(model_metrics(run)).decode("ascii")
    return json.dumps([module_hash, run.epochs, adjacency, ",".join(run.ops), metrics]).encode()


def write_official_fixture(path, specs: Sequence[Run | bytes]) -> list[int]:
    """Write an official-format TFRecord file; a ``bytes`` spec is framed as a raw payload.

    Returns:
      The byte offset of each record in the file.
    """
    offsets, position = [], 0
    with open(path, "wb") as handle:
        for spec in specs:
            record = frame(spec if isinstance(spec, bytes) else payload(spec))
            offsets.append(position)
            handle.write(record)
            position += len(record)
    return offsets
