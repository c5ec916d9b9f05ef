"""Plain-Python reference of the NAS-Bench-101 neighbour edits (Cassimon et al. §3.2.1).

Written the way the paper's own code works -- one cell at a time, Python sets keyed by
the official md5 module hash -- and independent of the JAX implementation: an added edge
or vertex against the vertex order is re-sorted by Kahn's algorithm. It is
the oracle of the tests and the baseline of ``launch/benchmark.py``.
"""

from __future__ import annotations

import itertools

import numpy as np

from nasjax.spaces.nb101 import INPUT, MAX_EDGES, NUM_OPS, NUM_VERTICES, OUTPUT, _md5_module_hash

Spec = tuple[np.ndarray, list[int]]  # (int matrix [n, n], labels: INPUT, ops..., OUTPUT)


def _connected(matrix: np.ndarray) -> bool:
    """Every vertex but the input has an in-edge and every one but the output an out-edge."""
    n = len(matrix)
    return all(matrix[:, v].any() for v in range(1, n)) and all(
        matrix[v, :].any() for v in range(n - 1))


def _reaches(matrix: np.ndarray, source: int, target: int) -> bool:
    """A path ``source -> ... -> target`` of length >= 1."""
    stack, seen = [source], set()
    while stack:
        for w in np.flatnonzero(matrix[stack.pop()]):
            if w == target:
                return True
            if w not in seen:
                seen.add(w)
                stack.append(int(w))
    return False


def _topological(matrix: np.ndarray, labels: list[int]) -> Spec:
    """The same DAG with its vertices in a topological order (Kahn's, smallest first)."""
    waiting = matrix.sum(0).tolist()
    ready, order = [v for v in range(len(matrix)) if waiting[v] == 0], []
    while ready:
        ready.sort()
        order.append(ready.pop(0))
        for w in np.flatnonzero(matrix[order[-1]]):
            waiting[w] -= 1
            if waiting[w] == 0:
                ready.append(int(w))
    return matrix[np.ix_(order, order)], [labels[v] for v in order]


def _edits(matrix: np.ndarray, labels: list[int]):
    n = len(matrix)
    edges = int(matrix.sum())
    for v in range(1, n - 1):  # change a label
        for shift in range(1, NUM_OPS):
            yield matrix, labels[:v] + [(labels[v] + shift) % NUM_OPS] + labels[v + 1:]
    for u, v in itertools.combinations(range(n), 2):  # remove an edge
        if matrix[u, v]:
            new = matrix.copy()
            new[u, v] = 0
            if _connected(new):
                yield new, labels
    if edges < MAX_EDGES:  # add an edge u -> v that closes no cycle
        for u, v in itertools.permutations(range(n), 2):
            if not matrix[u, v] and not _reaches(matrix, v, u):
                new = matrix.copy()
                new[u, v] = 1
                yield _topological(new, labels)
    if n < NUM_VERTICES and edges + 2 <= MAX_EDGES:  # add a vertex i -> new -> j
        for i, j in itertools.permutations(range(n), 2):
            if not _reaches(matrix, j, i):
                new = np.pad(matrix, ((0, 1), (0, 1)))
                new[i, n] = new[n, j] = 1
                for op in range(NUM_OPS):
                    yield _topological(new, labels + [op])
    for v in range(1, n - 1):  # remove a vertex, rewiring predecessors to successors
        rest = [w for w in range(n) if w != v]
        free = [(u, w) for u in range(n) for w in range(n)
                if matrix[u, v] and matrix[v, w] and not matrix[u, w]]
        for subset in range(1 << len(free)):  # bit k selects the k-th free pair
            new = matrix.copy()
            for k, (u, w) in enumerate(free):
                if subset >> k & 1:
                    new[u, w] = 1
            new = new[np.ix_(rest, rest)]
            if new.sum() <= MAX_EDGES and _connected(new):
                yield new, [labels[w] for w in rest]


def neighbours(matrix, labels: list[int]) -> list[Spec]:
    """All neighbours of one cell, distinct under the official hash and not the cell itself."""
    matrix = np.asarray(matrix, dtype=np.int64)
    labels = list(labels)
    assert labels[0] == INPUT and labels[-1] == OUTPUT
    seen = {_md5_module_hash(matrix, labels)}
    found = []
    for new, new_labels in _edits(matrix, labels):
        key = _md5_module_hash(new, new_labels)
        if key not in seen:
            seen.add(key)
            found.append((new, new_labels))
    return found
