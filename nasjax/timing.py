"""Timing helpers shared by every speed record (``launch/benchmark.py`` and the timing modules
of benchmarks and agents): one way to time, one record layout."""

from __future__ import annotations

import time
from collections.abc import Callable

import jax

REPEATS = 3  # both sides of a record: best of 3 timed runs after a warm-up


def device_name() -> str:
    """The JAX device the figures were measured on."""
    device = jax.devices()[0]
    kind = getattr(device, "device_kind", device.platform)
    return f"{device.platform}:{kind} x{jax.device_count()}"


def timed(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    """Best wall time of ``fn`` over ``repeats`` runs after one warm-up (compilation) run."""
    jax.block_until_ready(fn())
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return best


def record(name, value, unit, baseline, baseline_value, settings) -> dict:
    """One benchmark record as DESIGN.md specifies (rates: higher is better; ``ratio`` is how
    many times faster nasjax is than the baseline)."""
    ratio = None if not baseline_value else value / baseline_value
    return {"name": name, "value": value, "unit": unit, "baseline": baseline,
            "baseline_value": baseline_value, "ratio": ratio, "device": device_name(),
            "settings": settings}
