"""Student t draws bit for bit those of ``jax.random.t``, with its rejection loop run on the
lanes still rejecting only.

``jax.random.t`` divides a normal by the square root of a gamma draw, and ``jax.random.gamma``
is Marsaglia and Tsang's rejection sampler: per lane, a loop of key splits, normal and uniform
draws until a proposal is accepted. Vmapped over a million lanes, that loop steps every lane
until the last one accepts (about five steps where one in twenty lanes needs a second try),
so the draws of the goodness-of-fit test (:mod:`nasjax.evaluation.stats`) cost five times the
work they need. :func:`t` takes the same per-lane steps with the same keys and the same
arithmetic, a batch of lanes at a time: a sweep over every lane, then the lanes still looping
only. The draws are the same bits at XLA's default code generation (another, such as the test
suite's -O0, may round a last bit differently in either program).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

# Lanes are stepped this many at a time: first every lane in turn, then the lanes still looping
# (the sampler accepts more than 95% of its proposals, so few steps remain after the sweep).
BATCH_SHARE = 32  # a step takes ceil(lanes / BATCH_SHARE) lanes
_SQUEEZE = 0.0331  # Marsaglia and Tsang's squeeze constant, as jax.random.gamma's


class _Lanes(NamedTuple):
    """The loop state of every lane of :func:`gamma`."""
    key: jax.Array  # key[L] the outer loop's key
    x_key: jax.Array  # key[L] the key of the next normal draw
    u_key: jax.Array  # key[L] the key of the proposal's uniform draw
    v3: jax.Array  # float[L] the proposal's (1 + c x)^3
    d: jax.Array  # float[L] shape - 1/3
    c: jax.Array  # float[L] 1 / (3 sqrt(d))
    fresh: jax.Array  # bool[L] the next step splits `key` for a new proposal
    looping: jax.Array  # bool[L] no proposal accepted yet


def _split(keys: jax.Array, num: int) -> tuple[jax.Array, ...]:
    """``jax.random.split`` of every key of ``keys: key[L]``, as ``num`` key[L] arrays."""
    return tuple(jnp.moveaxis(jax.vmap(lambda k: jax.random.split(k, num))(keys), 1, 0))


def _step(lanes: _Lanes) -> _Lanes:
    """One step of every lane given: a new proposal's keys where ``fresh``, a normal draw, and
    where it gives v > 0 the uniform draw and Marsaglia and Tsang's acceptance test (the
    arithmetic of ``jax.random.gamma``'s loop, operation for operation)."""
    dtype = lanes.d.dtype
    key, x_key, u_key = _split(lanes.key, 3)
    fresh = lanes.fresh
    key = jnp.where(fresh, key, lanes.key)
    x_key = jnp.where(fresh, x_key, lanes.x_key)
    u_key = jnp.where(fresh, u_key, lanes.u_key)
    x_key, sub = _split(x_key, 2)
    x = jax.vmap(lambda k: jax.random.normal(k, (), dtype))(sub)
    v = 1 + x * lanes.c
    x2, v3 = x * x, v * v * v
    u = jax.vmap(lambda k: jax.random.uniform(k, (), dtype))(u_key)
    squeeze = u >= 1 - jnp.asarray(_SQUEEZE, dtype) * (x2 * x2)
    rejected = squeeze & (jnp.log(u) >= x2 * jnp.asarray(0.5, dtype)
                          + lanes.d * (1 - v3 + jnp.log(v3)))
    proposed = v > 0  # else the same proposal draws its normal again
    return _Lanes(key, x_key, u_key, jnp.where(proposed, v3, lanes.v3), lanes.d, lanes.c,
                  fresh=proposed, looping=~proposed | rejected)


def gamma(keys: jax.Array, alpha: jax.Array, batch_share: int = BATCH_SHARE) -> jax.Array:
    """Gamma draws of every lane (``keys: key[L]``, ``alpha: float[L]``), bit for bit those of
    ``jax.random.gamma``'s per-element sampler: ``jax.random.gamma(key, a)`` splits ``key`` into
    one key per element of ``a`` (``jax.random.split(key, a.size)``), and lane i is the element
    drawn with ``keys[i]`` and shape ``alpha[i]``. ``ceil(L / batch_share)`` lanes are stepped
    at a time."""
    dtype, num = alpha.dtype, alpha.shape[0]
    batch = -(-num // batch_share)
    boost = alpha >= 1  # below 1: Gamma(alpha) = Gamma(alpha + 1) U^(1 / alpha)
    shape = jnp.where(boost, alpha, alpha + 1)
    d = shape - jnp.asarray(1 / 3, dtype)
    c = jnp.asarray(1 / 3, dtype) / jnp.sqrt(d)
    keys, boost_keys = _split(keys, 2)
    start = jnp.ones_like(boost)
    lanes = _Lanes(keys, keys, keys, jnp.ones_like(d), d, c, fresh=start, looping=start)

    def step(carry):
        i, lanes = carry
        rows = jax.lax.cond(  # a sweep over every lane in turn, then the lanes still looping
            i * batch < num, lambda: i * batch + jnp.arange(batch),
            lambda: jnp.nonzero(lanes.looping, size=batch, fill_value=num)[0])
        part = jax.tree.map(lambda x: jnp.take(x, rows, axis=0, mode="clip"), lanes)
        stepped = jax.tree.map(
            lambda new, old: jnp.where(part.looping, new, old), _step(part), part)
        return i + 1, jax.tree.map(lambda x, p: x.at[rows].set(p, mode="drop"), lanes, stepped)

    def going(carry):
        i, lanes = carry
        return (i * batch < num) | lanes.looping.any()

    _, lanes = jax.lax.while_loop(going, step, (jnp.int32(0), lanes))
    u = 1 - jax.vmap(lambda k: jax.random.uniform(k, (), dtype))(boost_keys)
    return d * lanes.v3 * jnp.where(boost, jnp.ones_like(u), u ** (1 / alpha))


def t(key: jax.Array, df: jax.Array, shape: tuple[int, ...],
      batch_share: int = BATCH_SHARE) -> jax.Array:
    """float[A, *shape]: row a is ``jax.random.t(key, df[a], shape, df.dtype)``, bit for bit
    (``df: float[A]``; every row uses ``key``, as ``vmap`` of ``jax.random.t`` over df does).
    ``batch_share`` is :func:`gamma`'s; the draws do not depend on it."""
    key_n, key_g = jax.random.split(key)
    normal = jax.random.normal(key_n, shape, df.dtype)
    half_df = df / 2
    keys = jax.random.split(key_g, normal.size)
    keys = jax.random.wrap_key_data(jnp.tile(jax.random.key_data(keys), (df.shape[0], 1)),
                                    impl=jax.random.key_impl(keys))  # key[A * size]
    draws = gamma(keys, jnp.repeat(half_df, normal.size), batch_share)
    draws = draws.reshape(df.shape + shape)
    return normal * jnp.sqrt(half_df.reshape(df.shape + (1,) * len(shape)) / draws)
