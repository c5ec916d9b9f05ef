"""The goodness-of-fit test's Student t draws are ``jax.random.t``'s, bit for bit.

Bit for bit at XLA's default code generation, which a run uses: both sides are compiled with
``OPTIMISED`` (at the session's -O0 the two programs' arithmetic may differ in a last bit).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax.evaluation import t_draws
from tests.conftest import OPTIMISED

# df below 2 takes the gamma sampler's boost (shape < 1), 2 is its edge; 1e6 and 0.01 are the
# ends of the range the t fit keeps df in.
DF = (0.01, 0.7, 1.999, 2.0, 2.5, 4.0, 30.0, 1e6)
SHAPE = (50, 40)


@functools.partial(jax.jit, static_argnums=2, compiler_options=OPTIMISED)
def _plain_t(key, df, shape):
    return jax.vmap(lambda a: jax.random.t(key, a, shape, df.dtype))(df)


@pytest.mark.slow  # ~8 CPU-s of its own (both samplers compiled optimised): out of the fast lane
def test_the_draws_are_jax_random_t_bit_for_bit():
    ours = jax.jit(t_draws.t, static_argnums=2, compiler_options=OPTIMISED)
    with jax.enable_x64(True):  # the goodness-of-fit test draws in float64
        df = jnp.array(DF)
        for seed in (0, 1):
            key = jax.random.key(seed)
            drawn, plain = np.asarray(ours(key, df, SHAPE)), np.asarray(_plain_t(key, df, SHAPE))
            assert drawn.shape == (len(DF), *SHAPE)
            np.testing.assert_array_equal(drawn.view(np.uint64), plain.view(np.uint64))


def test_the_draws_do_not_depend_on_how_many_lanes_a_step_takes():
    """Every lane in one step, the default share, or one lane per step: the same draws."""
    key, df = jax.random.key(3), jnp.array([1.5, 6.0])
    draws = {share: np.asarray(jax.jit(t_draws.t, static_argnums=(2, 3))(key, df, (30, 20), share))
             for share in (1, t_draws.BATCH_SHARE, 2000)}
    np.testing.assert_array_equal(draws[1], draws[t_draws.BATCH_SHARE])
    np.testing.assert_array_equal(draws[2000], draws[t_draws.BATCH_SHARE])
