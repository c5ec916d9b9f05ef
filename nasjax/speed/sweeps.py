"""Sweep points trained together against one after another, for ``launch.benchmark``.

``sweep_seeds``: the Ape-X runs of several seeds trained together as
``launch.train_apex --sweep=seeds`` trains them (each point initialised by the single run's
program; the chunks vmapped over the seeds, or on one CPU device the single run's compiled
chunk for each seed in turn: ``train.points_in_turn``) against the same runs one after another
in the same process (one trainer, so compiled once), each side from a fresh trainer with its
compilation included, the same total environment steps. Both are timed after tracing the
programs once, so that neither pays the process's first tracing of the environment's
functions.

``sweep_search``: ReMAADE searches of several learning rates as ``launch.search --sweep`` runs
them (one compiled program) against the points one after another, and vmapped over the rates.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import ml_collections

from nasjax import env
from nasjax.agents.apex import train


def _together(env_params: env.EnvParams, config: ml_collections.ConfigDict,
              keys: jax.Array) -> float:
    """Seconds to train every seed of ``keys`` (uint32[P, 2]) together, compilation included."""
    start = time.perf_counter()
    trainer = train.make_train(config, env_params)
    init = jax.jit(trainer.init)
    state = train.stack_points([init(key) for key in keys])
    chunk = train.points_chunk(trainer, [trainer.hyper] * len(keys))
    for _ in range(trainer.num_chunks):
        state, metrics = chunk(state)
    jax.block_until_ready((state, metrics))
    return time.perf_counter() - start


def _one_after_another(env_params: env.EnvParams, config: ml_collections.ConfigDict,
                       keys: jax.Array) -> float:
    """Seconds to train the seeds of ``keys`` (uint32[P, 2]) in turn, compilation included."""
    start = time.perf_counter()
    trainer = train.make_train(config, env_params)
    init = jax.jit(trainer.init)
    for key in keys:
        state = init(key)
        for _ in range(trainer.num_chunks):
            state, metrics = trainer.chunk(state)
        jax.block_until_ready((state, metrics))
    return time.perf_counter() - start


def sweep_seeds(env_params: env.EnvParams, config: ml_collections.ConfigDict,
                seeds: int = 5) -> dict:
    """Training runs of ``seeds`` seeds per second, together and in turn.

    Each side runs twice, in the order together, in turn, in turn, together, so that neither
    gains from going second on a machine whose speed drifts; each side's time is its two
    runs' mean.

    Args:
      env_params: the training environment of ``config``.
      config: the Ape-X config whose runs are timed (e.g. the ``smoke`` preset).
      seeds: the number of seeds (the paper's 5 agents).

    Returns:
      ``name, value, unit, baseline, baseline_value, ratio, settings`` (runs/s; ``ratio`` is
      how many times faster training together is); the caller adds the device.
    """
    keys = jnp.stack([jax.random.PRNGKey(seed) for seed in range(seeds)])
    warm = train.make_train(config, env_params)
    jax.eval_shape(warm.chunk_with, jax.eval_shape(warm.init, keys[0]), warm.hyper)
    first = _together(env_params, config, keys)
    in_turn = [_one_after_another(env_params, config, keys) for _ in range(2)]
    together = [first, _together(env_params, config, keys)]
    mean_together, mean_in_turn = sum(together) / 2, sum(in_turn) / 2
    return {"name": "sweep_seeds", "value": seeds / mean_together, "unit": "runs/s",
            "baseline": f"the same {seeds} runs one after another in one process (one "
                        "compilation), compilation included",
            "baseline_value": seeds / mean_in_turn, "ratio": mean_in_turn / mean_together,
            "settings": {"preset": config.preset, "seeds": seeds,
                         "total_steps": config.total_steps,
                         "points_in_turn": train.points_in_turn(seeds),
                         "together_seconds": together, "one_after_another_seconds": in_turn}}


def sweep_search(bench, config: ml_collections.ConfigDict,
                 learning_rates: tuple[float, ...] = (1e-3, 1e-2, 1e-1)) -> dict:
    """ReMAADE searches of several learning rates, ``config.num_trials`` trials each, as
    ``launch.search --sweep=remaade.learning_rate=...`` runs them (one compiled program, the
    points one after another inside it on CPU: ``launch.search.points_at_once``) against the
    points one after another (a searcher and a compilation each) and against the points
    vmapped in one program; compilation included.

    Args:
      bench: the benchmark the trials query.
      config: a search config (``remaade`` block, ``num_trials``, ``budget``, ``seed``).
      learning_rates: the points.

    Returns:
      ``name, value, unit, baseline, baseline_value, ratio, settings`` (points/s; ``ratio``:
      how many times faster the one program is than the points in turn; ``settings`` also
      holds the vmapped program's seconds and each side's largest difference of the queries'
      observed accuracies from the points in turn); the caller adds the device.
    """
    from nasjax import registry, spaces
    from nasjax.agents import base

    space = spaces.get(bench.space)
    agent = registry.make("agent", "remaade")
    blocks = []
    for rate in learning_rates:
        block = agent.block(config)
        block.learning_rate = rate
        blocks.append(block)
    keys = jax.random.split(jax.random.key(config.seed), config.num_trials)
    hypers = jax.tree.map(lambda *x: jnp.stack(x), *map(agent.hyperparams, blocks))
    points = len(learning_rates)
    point_keys = jnp.stack([keys] * points, 1)  # [T, P]: the same trials at every rate

    def make(hyper):
        return agent.make_searcher(space, blocks[0], hyper=hyper)

    def together(at_once: int) -> tuple[base.TrialResult, float]:
        start = time.perf_counter()
        found = jax.block_until_ready(base.run_point_trials(
            make, hypers, bench, point_keys, config.budget, config.mode, "test", at_once))
        return found, time.perf_counter() - start

    program, program_seconds = together(1)
    vmapped, vmapped_seconds = together(points)
    start = time.perf_counter()
    in_turn = [jax.block_until_ready(base.run_trials(agent.make_searcher(space, block), bench,
                                                     keys, config.budget, config.mode, "test"))
               for block in blocks]
    turn_seconds = time.perf_counter() - start

    def difference(found: base.TrialResult) -> float:
        return max(float(jnp.max(jnp.abs(found.observed[i] - one.observed)))
                   for i, one in enumerate(in_turn))

    return {"name": "sweep_search", "value": points / program_seconds, "unit": "points/s",
            "baseline": f"the same {points} points one after another in one process (a searcher "
                        "and a compilation each), compilation included",
            "baseline_value": points / turn_seconds, "ratio": turn_seconds / program_seconds,
            "settings": {"learning_rates": list(learning_rates),
                         "trials": config.num_trials, "budget": config.budget,
                         "benchmark": bench.name, "together_seconds": program_seconds,
                         "one_after_another_seconds": turn_seconds,
                         "vmapped_seconds": vmapped_seconds,
                         "largest_difference": difference(program),
                         "vmapped_largest_difference": difference(vmapped)}}
