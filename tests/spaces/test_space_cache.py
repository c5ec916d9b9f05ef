"""The NAS-Bench-101 space cache is verified when loaded and rebuilt when it fails."""

from __future__ import annotations

import logging
import re
import shutil

import numpy as np
import pytest

from nasjax import paths
from nasjax.spaces import nb101


@pytest.mark.slow  # rebuilds the enumeration (about 15 s on 2 cores)
def test_a_shuffled_space_cache_is_rebuilt_with_a_warning(data_dir, tmp_path, caplog):
    original = nb101.load_enumeration(data_dir, progress=False)
    path = tmp_path / nb101.SPACE_FILE
    shutil.copy(data_dir / nb101.SPACE_FILE, path)
    shutil.copy(paths.sidecar(data_dir / nb101.SPACE_FILE), paths.sidecar(path))
    order = np.random.default_rng(0).permutation(nb101.NUM_CELLS)
    with open(path, "wb") as handle:  # rows shuffled: the file still opens, the old checksum stays
        np.savez_compressed(handle, adj_packed=original[0][order], ops=original[1][order],
                            hashes=original[2][order])
    with caplog.at_level(logging.WARNING, logger="nasjax.paths"):
        rebuilt = nb101.load_enumeration(tmp_path, progress=False)
    [warning] = [r.getMessage() for r in caplog.records]
    assert re.fullmatch(rf"{path}: .* \((truncated|corrupted) or replaced\); rebuilding it",
                        warning)
    for got, want in zip(rebuilt, original, strict=True):
        np.testing.assert_array_equal(got, want)
    paths.verify(path, "unused")  # the rebuilt file carries a fresh checksum
