"""Control over XLA's fusion where it matters for speed.

XLA fuses a cheap elementwise producer into *each* of its consumers, duplicating it. When a long
computation (a validity check, a hash, an index) feeds several outputs, e.g. the five fields of
a query's ``Metrics``, it is then computed once per output. ``jax.lax.optimization_barrier``
does not stop this on the CPU backend (it is removed before fusion), so :func:`materialize`
writes the value out through a reduction, which XLA never duplicates.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def materialize(x: jax.Array) -> jax.Array:
    """``x`` itself, computed once into a buffer that every consumer reads.

    A maximum over ``x`` and the lowest value of its dtype: the identity, which XLA keeps as a
    reduction (it does fold the maximum of ``x`` with itself away).
    """
    if x.dtype == jnp.bool_:
        lowest = False
    elif jnp.issubdtype(x.dtype, jnp.floating):
        lowest = -jnp.inf
    else:
        lowest = jnp.iinfo(x.dtype).min
    return jnp.stack([x, jnp.full_like(x, lowest)]).max(0)
