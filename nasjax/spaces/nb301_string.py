"""The string encoding of NAS-Bench-301 genotypes for regularized evolution and ReMAADE.

A genotype is written as ``L = 32`` categorical values: for each cell (normal, then
reduction), node ``k = 0..3`` and pair ``p = 0, 1``, the pair's input (``k + 2`` choices,
``0..k+1``) then its op (7 choices, :data:`nb301.OP_NAMES`). So
``CARDINALITIES = (2, 7, 2, 7, 3, 7, 3, 7, 4, 7, 4, 7, 5, 7, 5, 7) * 2``.

Every value is in range by construction; a string is *valid* when each node's two inputs
differ. A uniformly random string is valid with probability
``((1/2) (2/3) (3/4) (4/5))**2 = 1/25``. Both orders of a node's pairs decode to the same
canonical genotype; :func:`encode` writes the canonical order.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nasjax.spaces import nb301
from nasjax.spaces.nb301 import NUM_CELLS, NUM_NODES, NUM_OPS, PAIRS_PER_NODE, Genotype

_SHAPE = (NUM_CELLS, NUM_NODES, PAIRS_PER_NODE, 2)  # cell, node, pair, (input, op)
CARDINALITIES: tuple[int, ...] = tuple(
    choice
    for _ in range(NUM_CELLS)
    for num_inputs in nb301.NUM_INPUT_CHOICES.tolist()
    for _ in range(PAIRS_PER_NODE)
    for choice in (num_inputs, NUM_OPS))
NUM_HPARAMS = len(CARDINALITIES)  # 32
# Regularized evolution's per-position mutation probability at rate 1: one change expected
# per mutation, as NASLib's DARTS mutation (one op or one input) does.
MUTATION_RATES: tuple[float, ...] = (1.0 / NUM_HPARAMS,) * NUM_HPARAMS
MAX_CARDINALITY = max(CARDINALITIES)  # 7


def encode(genotypes: Genotype) -> jax.Array:
    """int32[..., 32]: the strings of genotypes, in canonical pair order."""
    genotypes = nb301.canonical(genotypes)
    values = jnp.stack([genotypes.inputs, genotypes.ops], -1).astype(jnp.int32)
    return values.reshape(genotypes.shape + (NUM_HPARAMS,))


def decode(strings: jax.Array) -> tuple[Genotype, jax.Array]:
    """The canonical genotypes of strings, and whether each is valid.

    Args:
      strings: int[..., 32] with ``strings[..., i] < CARDINALITIES[i]``.
    Returns:
      ``(Genotype[...] canonical, bool[...])``; valid is False where a node reads one input
      twice (or a value is out of range).
    Raises:
      ValueError when the last axis is not 32.
    """
    strings = jnp.asarray(strings)
    if strings.shape[-1:] != (NUM_HPARAMS,):
        raise ValueError(f"strings must have last axis {NUM_HPARAMS}, got shape {strings.shape}")
    values = strings.reshape(strings.shape[:-1] + _SHAPE).astype(jnp.int8)
    genotypes = nb301.canonical(Genotype(inputs=values[..., 0], ops=values[..., 1]))
    return genotypes, nb301.is_valid(genotypes)
