"""Throughput of Ape-X training and of the greedy policy's evaluation, for ``launch.benchmark``.

Records ``apex_train_steps`` (environment steps/s with learning, at the ``paper`` preset's
size: 8 x 32 environments, N = 50, T = 256, batch 512, replay ratio 1) and
``apex_eval_episodes`` (evaluation episodes/s of the greedy policy at the same network size,
32-step episodes). Each returns a dict with ``name, value, unit, baseline, baseline_value,
ratio, settings``; the caller adds the device. The baselines are the paper's own rig, not timed
here (its RLlib stack is not installable beside JAX): 10M training steps in 92.57 h on 8 CPU
workers + 1 GPU (about 30 steps/s), and 0.50 s per evaluation episode on CPU (Cassimon et al.
§4.1.2).
"""

from __future__ import annotations

import copy
import time

import jax
import ml_collections
import numpy as np

from nasjax import env
from nasjax.agents.apex import policy as policy_lib
from nasjax.agents.apex import train
from nasjax.speed.timing import REPEATS

PAPER_STEPS = 10_000_000  # training steps of the paper's runs (§4.1.1)
PAPER_HOURS = 92.57  # their mean wall time on 8 CPU workers + 1 GPU (§4.1.2)
PAPER_SECONDS_PER_EPISODE = 0.50  # their mean evaluation episode on CPU (§4.1.2)


def train_steps(env_params: env.EnvParams, config: ml_collections.ConfigDict,
                iterations: int = 2, repeats: int = REPEATS, seed: int = 0) -> dict:
    """Environment steps/s of training chunks with learning on from the first iteration.

    Args:
      env_params: the training environment (16-step episodes).
      config: the Ape-X training config (a ``configs/apex.py`` preset) whose sizes are timed;
        not modified.
      iterations: iterations per timed chunk (each ``actor_steps`` x E environment steps).
      repeats: timed chunks (the best counts), after one compiling chunk.
      seed: PRNG seed.
    """
    config = copy.deepcopy(config)
    config.learning_starts = 0  # every timed iteration learns
    config.iterations_per_chunk = iterations
    trainer = train.make_train(config, env_params)
    state = jax.block_until_ready(jax.jit(trainer.init)(jax.random.PRNGKey(seed)))
    start = time.perf_counter()
    state, _ = jax.block_until_ready(trainer.chunk(state))
    compile_seconds = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        state, metrics = jax.block_until_ready(trainer.chunk(state))
        best = min(best, time.perf_counter() - start)
    rate = trainer.env_steps_per_chunk / best
    baseline = PAPER_STEPS / (PAPER_HOURS * 3600)
    return {"name": "apex_train_steps", "value": rate, "unit": "env steps/s",
            "baseline": "Cassimon et al. §4.1.2 rig (RLlib Ape-X, 8 CPU workers + 1 GPU): 10M "
                        "steps in 92.57 h; not timed here",
            "baseline_value": baseline, "ratio": rate / baseline,
            "settings": {"preset": config.preset, "num_envs": trainer.actors.num_envs,
                         "max_neighbours": env_params.max_neighbours,
                         "latent_dim": config.network.latent_dim,
                         "batch_size": config.batch_size, "replay_ratio": config.replay_ratio,
                         "actor_steps": trainer.actor_steps,
                         "learner_steps": trainer.learner_steps,
                         "env_steps_per_chunk": trainer.env_steps_per_chunk,
                         "learner_steps_timed": int(metrics["learner_steps"]),
                         "compile_and_first_chunk_seconds": compile_seconds,
                         "hours_for_paper_steps": PAPER_STEPS / rate / 3600}}


def eval_episodes(env_params: env.EnvParams, episodes: int = 10_000, repeats: int = REPEATS,
                  seed: int = 0) -> dict:
    """Evaluation episodes/s of the greedy policy with a ``paper``-size network (untrained:
    random-init parameters; a trained agent's episodes may be longer or shorter).

    Args:
      env_params: the evaluation environment (32-step episodes).
      episodes: initial states per timed call.
      repeats: timed calls (the best counts), after one compiling call.
      seed: PRNG seed.
    """
    from nasjax.evaluation import episodes as episodes_lib

    policy = policy_lib.make_policy(env_params, policy_lib.UNTRAINED, seed)
    space = env_params.space
    initial = space.sample(jax.random.key(seed + 1), (episodes,))
    key = jax.random.key(seed + 2)
    start = time.perf_counter()
    out = jax.block_until_ready(episodes_lib.run_episodes(policy, env_params, initial, key))
    compile_seconds = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = jax.block_until_ready(episodes_lib.run_episodes(policy, env_params, initial, key))
        best = min(best, time.perf_counter() - start)
    rate = episodes / best
    mean_steps = float(np.asarray(out.steps).mean())
    step_gflop = _policy_gflop(policy, env_params, initial)
    baseline = 1.0 / PAPER_SECONDS_PER_EPISODE
    return {"name": "apex_eval_episodes", "value": rate, "unit": "episodes/s",
            "baseline": "Cassimon et al. §4.1.2: 0.50 s per Ape-X episode on CPU; not timed "
                        "here",
            "baseline_value": baseline, "ratio": rate / baseline,
            "settings": {"episodes": episodes, "episode_length": env_params.episode_length,
                         "max_neighbours": env_params.max_neighbours,
                         "mean_steps": mean_steps, "slots": policy.slots,
                         "policy_gflop_per_step": step_gflop,
                         "achieved_gflop_per_s": rate * mean_steps * step_gflop,
                         "params": "untrained (paper-size network)",
                         "first_call_seconds": compile_seconds,
                         "minutes_for_250k": 250_000 / rate / 60}}


def _policy_gflop(policy, env_params: env.EnvParams, initial, batch: int = 64) -> float:
    """GFLOP of one greedy action (the Q-network's forward pass over the current architecture
    and its neighbours), from XLA's cost analysis of a batch."""
    archs = jax.tree.map(lambda x: x[:batch], initial)
    keys = jax.random.split(jax.random.key(0), batch)
    states = jax.vmap(lambda a, k: env.reset(k, env_params, a)[1])(archs, keys)

    def act(states, keys):
        obs = jax.vmap(env.observe, in_axes=(0, None))(states, env_params)
        return jax.vmap(policy.act, in_axes=(None, 0, 0))(policy.params, obs, keys)

    cost = jax.jit(act).lower(states, keys).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"]) / batch / 1e9
