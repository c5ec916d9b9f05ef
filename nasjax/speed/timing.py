"""Timing helpers shared by every speed record (``launch/benchmark.py`` and the other modules of
:mod:`nasjax.speed`): one way to time, one record layout."""

from __future__ import annotations

import time
from collections.abc import Callable

import jax

REPEATS = 3  # both sides of a record: best of 3 timed runs after a warm-up
WARMUP_SECONDS = 0.5  # warm-up runs (the first compiles) repeat until this much time has passed


def device_name() -> str:
    """The JAX device the figures were measured on."""
    device = jax.devices()[0]
    kind = getattr(device, "device_kind", device.platform)
    return f"{device.platform}:{kind} x{jax.device_count()}"


def timed(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    """Best wall time of ``fn`` over ``repeats`` runs after a warm-up run (compilation).

    When those runs take less than :data:`WARMUP_SECONDS` together, ``fn`` runs on for that
    long and the ``repeats`` runs are timed again: a sub-millisecond call is then timed in the
    steady state a loop of calls reaches (caches and threads warm), not in the first calls after
    compiling. A longer call is timed exactly as before, once warmed up by its first run. Both
    sides of a record are timed by this function.
    """
    jax.block_until_ready(fn())
    warmed = False
    while True:
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            jax.block_until_ready(fn())
            runs.append(time.perf_counter() - start)
        if warmed or sum(runs) >= WARMUP_SECONDS:
            return min(runs)
        start = time.perf_counter()
        while time.perf_counter() - start < WARMUP_SECONDS:
            jax.block_until_ready(fn())
        warmed = True


def record(name, value, unit, baseline, baseline_value, settings) -> dict:
    """One speed record ``{name, value, unit, baseline, baseline_value, ratio, settings}``
    (rates: higher is better; ``ratio`` is how many times faster nasjax is than the baseline)."""
    ratio = None if not baseline_value else value / baseline_value
    return {"name": name, "value": value, "unit": unit, "baseline": baseline,
            "baseline_value": baseline_value, "ratio": ratio, "device": device_name(),
            "settings": settings}


def random_walk_rollout(params, num_envs: int, steps: int,
                        full_observation: bool = False) -> Callable[[], jax.Array]:
    """A jitted ``() -> float`` rollout of random-walk actions through ``step_auto_reset``.

    The scan carries the states only. With ``full_observation`` the tokens of the current
    architecture and the neighbours are materialised each step (what a network policy reads);
    otherwise the policy reads only the action mask, as the random walk does.
    """
    from nasjax import env
    from nasjax.agents import random_walk

    observe = jax.vmap(env.observe, in_axes=(0, None))
    act = jax.vmap(random_walk.act, in_axes=(None, 0, 0))
    step = jax.vmap(env.step_auto_reset, in_axes=(0, 0, 0, None))

    @jax.jit
    def rollout(key, params):
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)

        def body(state, key):
            act_keys, step_keys = jax.random.split(key, (2, num_envs))
            obs = observe(state, params)
            total = obs.tokens.sum() if full_observation else 0.0
            _, state, reward, _, _, _ = step(step_keys, state, act(None, obs, act_keys), params)
            return state, reward.sum() + total

        _, rewards = jax.lax.scan(body, state, jax.random.split(key, steps))
        return rewards.sum()

    return lambda: rollout(jax.random.key(0), params)
