"""Public entry points name the architecture type they take (SearchSpace.check_arch)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from nasjax import spaces
from nasjax.spaces import nb101, nb301


def test_another_spaces_architecture_is_named():
    space = spaces.get("nb101")
    genotype = nb301.sample(jax.random.key(0))
    with pytest.raises(TypeError, match=(
            r"^the nb101 space takes Cell architectures \(adj bool\[\.\.\., 7, 7\], ops "
            r"int8\[\.\.\., 7\]\), got Genotype$")):
        space.neighbours(jax.random.key(0), genotype, 4)
    with pytest.raises(TypeError, match=r"^the nb301 space takes Genotype architectures"):
        spaces.get("nb301").check_arch(nb101.sample(jax.random.key(0)))


def test_a_wrong_shape_or_batch_is_named():
    space = spaces.get("nb101")
    cell = nb101.sample(jax.random.key(0))
    space.check_arch(cell, batch_ndim=0)
    with pytest.raises(TypeError, match=r"with 0 batch axes; got adj bool\[3, 7, 7\]$"):
        space.neighbours(jax.random.key(0), nb101.sample(jax.random.key(0), (3,)), 4)
    small = nb101.Cell(adj=jnp.zeros((5, 5), bool), ops=jnp.zeros(5, jnp.int8))
    with pytest.raises(TypeError, match=r"with any batch axes; got adj bool\[5, 5\]$"):
        space.check_arch(small)
