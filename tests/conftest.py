"""Shared fixtures: the real 1,000-cell fixture and a session-wide data directory."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from nasjax.spaces import nb101

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """A data directory for the session: $NASJAX_DATA when set (reuses caches), else a temp dir."""
    if os.environ.get("NASJAX_DATA"):
        return Path(os.environ["NASJAX_DATA"])
    return tmp_path_factory.mktemp("nasjax_data")


@pytest.fixture(scope="session")
def graphs_1k() -> dict:
    """The first 1,000 real NAS-Bench-101 cells with graphs and official hashes."""
    with np.load(FIXTURES / "nb101_graphs_1k.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="session")
def real_specs(graphs_1k) -> list[tuple[np.ndarray, list[str], str]]:
    """(matrix, op names, official key) of the 1,000 fixture cells, unpadded."""
    names = {nb101.INPUT: "input", nb101.OUTPUT: "output",
             **{code: name for code, name in enumerate(nb101.OP_NAMES)}}
    specs = []
    for adj, ops, key in zip(graphs_1k["adjacency"], graphs_1k["operations"], graphs_1k["key"]):
        n = int((ops != nb101.PAD).sum())
        specs.append((adj[:n, :n].astype(int), [names[int(o)] for o in ops[:n]], str(key)))
    return specs
