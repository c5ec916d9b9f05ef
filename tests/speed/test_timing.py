"""How speed records time a call: warm-up, then the best of the repeats, on both sides."""

from __future__ import annotations

import time

from nasjax.speed import timing


def _counting(seconds: float):
    calls = []

    def fn():
        calls.append(None)
        time.sleep(seconds)

    return fn, calls


def test_a_long_call_runs_once_to_warm_up_then_the_repeats():
    fn, calls = _counting(timing.WARMUP_SECONDS / 2)
    best = timing.timed(fn, repeats=3)
    assert len(calls) == 1 + 3
    assert best >= timing.WARMUP_SECONDS / 2


def test_a_short_call_warms_up_for_the_warmup_time_then_is_timed_again():
    fn, calls = _counting(0.0)
    start = time.perf_counter()
    best = timing.timed(fn, repeats=3)
    assert time.perf_counter() - start >= timing.WARMUP_SECONDS
    assert len(calls) > 1 + 3 + 3  # the first repeats, the warm-up, the repeats timed again
    assert 0 <= best < timing.WARMUP_SECONDS
