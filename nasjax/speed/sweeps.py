"""Sweep points trained together against one after another, for ``launch.benchmark``.

Records ``sweep_seeds``: the Ape-X runs of several seeds trained as one jitted program vmapped
over the seeds (``launch.train_apex --sweep=seeds``) against the same runs one after another in
the same process (one trainer, so compiled once), each side from a fresh trainer with its
compilation included, the same total environment steps.
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
    """Seconds to train every seed of ``keys`` (uint32[P, 2]) vmapped, compilation included."""
    start = time.perf_counter()
    trainer = train.make_train(config, env_params)
    state = jax.jit(jax.vmap(trainer.init, out_axes=train.point_axes()))(keys)
    chunk = jax.jit(jax.vmap(trainer.chunk, in_axes=(train.point_axes(),),
                             out_axes=(train.point_axes(), 0)), donate_argnums=0)
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
    """Training runs of ``seeds`` seeds per second, together (vmapped) and in turn.

    Args:
      env_params: the training environment of ``config``.
      config: the Ape-X config whose runs are timed (e.g. the ``smoke`` preset).
      seeds: the number of seeds (the paper's 5 agents).

    Returns:
      ``name, value, unit, baseline, baseline_value, ratio, settings`` (runs/s; ``ratio`` is
      how many times faster training together is); the caller adds the device.
    """
    keys = jnp.stack([jax.random.PRNGKey(seed) for seed in range(seeds)])
    together = _together(env_params, config, keys)
    in_turn = _one_after_another(env_params, config, keys)
    return {"name": "sweep_seeds", "value": seeds / together, "unit": "runs/s",
            "baseline": f"the same {seeds} runs one after another in one process (one "
                        "compilation), compilation included",
            "baseline_value": seeds / in_turn, "ratio": in_turn / together,
            "settings": {"preset": config.preset, "seeds": seeds,
                         "total_steps": config.total_steps, "together_seconds": together,
                         "one_after_another_seconds": in_turn}}
