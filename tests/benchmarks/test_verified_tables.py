"""Benchmark tables on disk are verified when loaded: a converted official table that was
truncated, cut to half its rows or lost its checksum fails, naming the file and the command
that remakes it."""

from __future__ import annotations

import os

import numpy as np
import pytest

from nasjax import benchmarks, paths
from nasjax.benchmarks import base
from nasjax.spaces import nb101

CELLS = [  # three distinct pruned cells: (matrix, ops)
    ([[0, 1], [0, 0]], ["input", "output"]),
    ([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", nb101.OP_NAMES[0], "output"]),
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", nb101.OP_NAMES[1], "output"]),
]


def _save(path, rows: slice = slice(None)) -> None:
    cells = [nb101.from_official(m, o) for m, o in CELLS][rows]
    hashes = np.asarray(nb101.hash_cells(nb101.Cell(adj=np.stack([c.adj for c in cells]),
                                                    ops=np.stack([c.ops for c in cells]))))
    k = len(hashes)
    base.save_table(path, hashes=hashes, val_acc=np.full((k, 3), 0.9),
                    test_acc=np.full((k, 3), 0.8), train_seconds=np.ones((k, 3)),
                    params=np.ones(k), name="nb101", space="nb101",
                    info={"source": "hand-built"})


@pytest.fixture
def official(tmp_path):
    """A converted 'official' table in a data directory, as launch.prepare_data leaves it."""
    _save(tmp_path / "nb101.npz")
    return tmp_path


def _convert_command(directory) -> str:
    return (f"python -m nasjax.launch.prepare_data --benchmark=nb101 "
            f"--source=PATH/nasbench_only108.tfrecord --data_dir={directory}")


def test_a_saved_table_carries_its_checksum_and_loads(official):
    assert paths.sidecar(official / "nb101.npz").is_file()
    assert benchmarks.load("nb101", official).size == 3


def test_a_table_replaced_by_one_with_fewer_rows_fails_naming_the_convert_command(official):
    _save(official / "half.npz", slice(0, 1))
    os.replace(official / "half.npz", official / "nb101.npz")  # opens fine: 1 of 3 rows
    with pytest.raises(paths.DataFileError) as error:
        benchmarks.load("nb101", official)
    message = str(error.value)
    assert message.startswith(f"{official}/nb101.npz: ")
    assert "truncated or replaced" in message or "corrupted or replaced" in message
    assert message.endswith(f"; remake it with: {_convert_command(official)}")


def test_a_truncated_table_fails(official):
    path = official / "nb101.npz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(paths.DataFileError,
                       match=r"bytes, expected [\d,]+ \(truncated or replaced\)"):
        benchmarks.load("nb101", official)


def test_a_table_without_its_checksum_fails(official):
    paths.sidecar(official / "nb101.npz").unlink()
    with pytest.raises(paths.DataFileError, match="no checksum file nb101.npz.sha256.json"):
        benchmarks.load("nb101", official)
