"""The SearchSpace interface: one frozen dataclass of pure functions per search space.

An *architecture* is a pytree of fixed-shape arrays with leading batch dimensions (NAS-Bench-101:
``nb101.Cell``; NAS-Bench-301: ``nb301.Genotype``). A :class:`SearchSpace` bundles everything
the rest of nasjax may ask of a space: sampling, validity, the
representative form, an isomorphism-invariant hash, neighbours (Cassimon et al. §3.2.1), the
Q-network's token features (§3.2.3) and the string encoding of regularized evolution and
ReMAADE (ReMAADE §8).

Neighbours go through a :class:`Neighbourhood` strategy, chosen once: NAS-Bench-101's
precomputed table and the on-the-fly edits are two neighbourhoods of the same space and give
the same neighbours. A neighbourhood names an architecture by a *node*, a pytree of its own
choosing (a table row, or the representative architecture itself), so that an environment
step never converts more than it must. Array fields of a neighbourhood are pytree leaves, so
they reach ``jit`` as arguments, not as baked-in constants.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.spaces import graph

Arch = Any  # a pytree of arrays with leading batch dimensions
Node = Any  # a neighbourhood's handle of an architecture (pytree)
# The hash SearchSpace.locate gives an invalid architecture; no table holds it.
NO_HASH = (0xFFFFFFFF, 0xFFFFFFFF)


class Neighbourhood(Protocol):
    """How a space's neighbours are found (a pytree: arrays are leaves, the rest static).

    Every method takes one unbatched node or architecture unless it says otherwise; callers
    ``vmap``. Neighbours are distinct up to isomorphism, valid, never the architecture itself,
    and presented in the neighbourhood's deterministic order (the random subset keeps it).
    """

    def locate(self, arch: Arch) -> Node:
        """The settled node of one architecture (its representative form); an invalid one
        gets a node the oracle scores as invalid."""

    def sample(self, key: jax.Array) -> Node:
        """The settled node of the architecture ``space.sample(key, ())`` draws (the same
        draws; a table may skip locating it)."""

    def settle(self, node: Node) -> Node:
        """The settled (representative) node of any node, e.g. a presented neighbour."""

    def arch(self, node: Node) -> Arch:
        """An architecture of node(s), any batch shape (the representative when settled)."""

    def present(self, seed: jax.Array, node: Node, n: int) -> tuple[Node, jax.Array, jax.Array]:
        """A uniform random subset of at most ``n`` neighbours of a settled node, from one
        ``uint32`` word, in the neighbourhood's order.

        Returns:
          ``(Node[n], bool[n] mask, int32[] count of all neighbours)``; padding nodes
          (``mask`` False) are the neighbourhood's padding.
        """


@dataclasses.dataclass(frozen=True)
class DenseIndex:
    """A numbering of every valid architecture *as written* (isomorphic forms get different
    positions), computed without hashing: an accelerator of table look-ups.

    - ``keys() -> array``: the host-side array ``position`` reads (cached by the space);
    - ``position(keys, arch) -> int32[...]``: each architecture's position, -1 exactly where
      ``is_valid`` is False;
    - ``archs() -> Arch[P]``: every valid architecture, in position order (host side).

    A table (a benchmark's, a neighbour table's) joins positions to its rows once, by the hash
    of ``archs()`` (:func:`dense_rows`).
    """

    keys: Callable[[], Any]
    position: Callable[[Any, Arch], jax.Array]
    archs: Callable[[], Arch]


_JOIN_CHUNK = 1 << 16  # architectures hashed per jitted call when joining a dense index


@functools.cache
def device_keys(dense: DenseIndex):
    """A dense index's keys on the device, one copy shared by every table that reads them."""
    return jax.tree.map(jnp.asarray, dense.keys())


@functools.cache
def _dense_hashes(dense: DenseIndex, hash_arch: Callable) -> tuple[np.ndarray, np.ndarray]:
    """``(uint64[P] sorted hashes, int64[P] dense positions in that order)`` of every valid
    architecture of a dense index, by the space's ``hash`` (computed once per process)."""
    archs = dense.archs()
    size = len(jax.tree.leaves(archs)[0])
    hash_fn = jax.jit(hash_arch)
    hashes = np.empty(size, np.uint64)
    for start in range(0, size, _JOIN_CHUNK):
        chunk = jax.tree.map(lambda x: np.resize(x[start:start + _JOIN_CHUNK],
                                                 (_JOIN_CHUNK,) + x.shape[1:]), archs)
        stop = min(start + _JOIN_CHUNK, size)
        hashes[start:stop] = graph.hash_to_uint64(np.asarray(hash_fn(chunk)))[:stop - start]
    order = np.argsort(hashes, kind="stable")
    return hashes[order], order


def dense_rows(dense: DenseIndex, hash_arch: Callable, table,
               classes: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """int32[P]: the row of a sorted hash table (uint32[K, 2], host or device) that holds each
    dense position's architecture, -1 where the table lacks it (host side, NumPy searches).

    Without ``classes`` the positions are hashed (once per process: seconds). With
    ``classes = (int32[P] class of each position, uint32[C, 2] sorted class hashes)``, the
    isomorphism class of each position from a cache (NAS-Bench-101: the enumeration and its
    sampler rows), only the C class hashes are searched: the same rows, without hashing.
    """
    keys = graph.hash_to_uint64(np.asarray(table))
    if classes is not None:
        position_class, class_hashes = classes
        class_rows = _rows_of(keys, graph.hash_to_uint64(np.asarray(class_hashes)))
        return np.where(position_class >= 0, class_rows[np.maximum(position_class, 0)],
                        -1).astype(np.int32)
    hashes, order = _dense_hashes(dense, hash_arch)  # sorted: a cache-friendly search
    rows = np.empty(len(hashes), np.int32)
    rows[order] = _rows_of(keys, hashes)
    return rows


def _rows_of(keys: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """int32[N]: the row of each uint64 hash in the sorted uint64 ``keys``, -1 where absent."""
    if not len(keys):
        return np.full(len(hashes), -1, np.int32)
    found = np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)
    return np.where(keys[found] == hashes, found, -1).astype(np.int32)


@dataclasses.dataclass(frozen=True, eq=False)
class SearchSpace:
    """A search space as pure functions and static sizes (one instance per space).

    Fields (architectures batch over leading axes unless "one" is said):

    - ``sample(key, shape) -> Arch[*shape]``: the space's sampler (the initial-state
      distribution of Cassimon et al. §3.2.1 and their random search);
    - ``is_valid(arch) -> bool[...]``;
    - ``canonical(arch) -> Arch[...]``: the representative form (isomorphic architectures
      have the same hash; representatives of the same class are identical);
    - ``hash(arch) -> uint32[..., 2]``: 64-bit, isomorphism-invariant;
    - ``neighbours(key, arch, n) -> (Arch[n], bool[n])``: a uniform random subset of at most
      ``n`` distinct neighbours of one architecture, through ``neighbourhood``;
    - ``num_neighbours(arch) -> int32``: how many neighbours one architecture has;
    - ``max_neighbours``: an upper bound of ``num_neighbours`` over the space;
    - ``tokens(arch) -> float32[..., token_size]``: the Q-network's features (§3.2.3);
    - ``choices``: the cardinality of each position of the string encoding;
    - ``encode(arch) -> int32[..., len(choices)]`` and
      ``decode(strings) -> (Arch[...], bool[...] valid)``;
    - ``mutation_rates``: per string position, the probability that regularized evolution
      mutates it at mutation rate 1;
    - ``padding(shape) -> Arch[*shape]``: an invalid all-padding architecture;
    - ``neighbourhood``: the strategy behind ``neighbours`` (see :meth:`with_neighbourhood`);
    - ``dense``: an optional :class:`DenseIndex` through which table benchmarks find rows
      without hashing (NAS-Bench-101: :mod:`nb101_dense`); see :meth:`locate`.
    """

    name: str
    sample: Callable[[jax.Array, tuple[int, ...]], Arch]
    is_valid: Callable[[Arch], jax.Array]
    canonical: Callable[[Arch], Arch]
    hash: Callable[[Arch], jax.Array]
    num_neighbours: Callable[[Arch], jax.Array]
    max_neighbours: int
    tokens: Callable[[Arch], jax.Array]
    token_size: int
    choices: tuple[int, ...]
    encode: Callable[[Arch], jax.Array]
    decode: Callable[[jax.Array], tuple[Arch, jax.Array]]
    mutation_rates: tuple[float, ...]
    padding: Callable[[tuple[int, ...]], Arch]
    neighbourhood: Neighbourhood
    description: str = ""
    dense: DenseIndex | None = None

    def neighbours(self, key: jax.Array, arch: Arch, n: int) -> tuple[Arch, jax.Array]:
        """``(Arch[n], bool[n])``: a uniform random subset of at most ``n`` distinct neighbours
        of one valid architecture (Cassimon et al. §3.2.1), padding where the mask is False.

        Raises:
          TypeError: when ``arch`` is not one architecture of this space.
        """
        self.check_arch(arch, batch_ndim=0)
        node = self.neighbourhood.locate(arch)
        nodes, mask, _ = self.neighbourhood.present(jax.random.bits(key, dtype=jnp.uint32),
                                                    node, n)
        return self.neighbourhood.arch(nodes), mask

    def locate(self, arch: Arch, dense_keys: Any = None) -> jax.Array:
        """Where a table benchmark finds architectures ``Arch[...]``, one look-up key each.

        With a dense index: ``int32[...]`` positions, -1 exactly where ``is_valid`` is False
        (``dense_keys``: ``dense.keys()`` on the device, an argument so that programs do not
        embed it). Without one: ``uint32[..., 2]`` hashes, :data:`NO_HASH` where ``is_valid``
        is False.
        """
        if self.dense is not None:
            return self.dense.position(dense_keys, arch)
        valid = self.is_valid(arch)[..., None]
        return jnp.where(valid, self.hash(arch), jnp.asarray(NO_HASH, jnp.uint32))

    def check_arch(self, arch: Arch, batch_ndim: int | None = None) -> None:
        """Checks that ``arch`` is an architecture of this space (its type and field shapes;
        host side, or at trace time under ``jit``) before a public entry point
        reads it, so that another space's architecture or a wrong shape is named, not an
        ``AttributeError`` deep inside.

        Args:
          arch: the architecture(s).
          batch_ndim: the number of leading batch axes required; None for any.

        Raises:
          TypeError: naming the expected type and field shapes, and what was given.
        """
        one = self.padding(())
        expected = type(one)
        fields = _fields(one)
        wanted = ", ".join(f"{name} {value.dtype}[..., {', '.join(map(str, value.shape))}]"
                           if value.shape else f"{name} {value.dtype}[...]"
                           for name, value in fields.items())
        what = f"the {self.name} space takes {expected.__name__} architectures ({wanted})"
        if type(arch) is not expected:
            raise TypeError(f"{what}, got {type(arch).__name__}")
        got = _fields(arch)
        for name, value in fields.items():
            leaf = got[name]
            shape = tuple(getattr(leaf, "shape", ()))
            batch = len(shape) - value.ndim
            if (batch < 0 or shape[batch:] != value.shape
                    or (batch_ndim is not None and batch != batch_ndim)):
                dims = "any" if batch_ndim is None else batch_ndim
                raise TypeError(f"{what} with {dims} batch axes; got {name} "
                                f"{getattr(leaf, 'dtype', type(leaf).__name__)}{list(shape)}")

    def with_neighbourhood(self, neighbourhood: Neighbourhood) -> SearchSpace:
        """The same space with another neighbour strategy (e.g. a precomputed table)."""
        return dataclasses.replace(self, neighbourhood=neighbourhood)

    def _identity(self) -> tuple:
        # Everything but the neighbourhood (a pytree of arrays, compared by type): spaces are
        # static arguments of jitted functions, so equal spaces must not force a recompile.
        fields = [getattr(self, f.name) for f in dataclasses.fields(self)
                  if f.name != "neighbourhood"]
        return tuple(fields) + (type(self.neighbourhood),)

    def __eq__(self, other) -> bool:
        return isinstance(other, SearchSpace) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        strategy = type(self.neighbourhood).__name__
        return (f"SearchSpace({self.name!r}: {self.description} tokens of size "
                f"{self.token_size}, at most {self.max_neighbours:,} neighbours ({strategy}), "
                f"string encoding of {len(self.choices)} choices)")


def _fields(arch: Arch) -> dict[str, Any]:
    """An architecture's array fields by name (a flax dataclass or a NamedTuple)."""
    if dataclasses.is_dataclass(arch):
        return {f.name: getattr(arch, f.name) for f in dataclasses.fields(arch)}
    return dict(arch._asdict())


def select(condition: jax.Array, a: Arch, b: Arch) -> Arch:
    """``a`` where ``condition`` else ``b``, leaf by leaf (``condition`` has the batch shape)."""
    def pick(x, y):
        c = jnp.reshape(condition, condition.shape + (1,) * (x.ndim - condition.ndim))
        return jnp.where(c, x, y)
    return jax.tree.map(pick, a, b)


def take(arch: Arch, index: jax.Array) -> Arch:
    """Architectures at ``index`` along the first batch axis."""
    return jax.tree.map(lambda x: x[index], arch)


def stack(archs: list[Arch]) -> Arch:
    """Stack architectures along a new leading axis."""
    return jax.tree.map(lambda *x: jnp.stack(x), *archs)


def uniform_strings(space: SearchSpace, key: jax.Array, shape: tuple[int, ...] = ()) -> jax.Array:
    """int32[*shape, L]: each position of the string encoding uniform over its ``choices``
    (strings may be invalid)."""
    return jax.random.randint(key, shape + (len(space.choices),), 0, jnp.asarray(space.choices))
