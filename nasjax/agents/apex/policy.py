"""The trained Ape-X agent as an episodic policy: greedy (masked argmax) Q-values.

Registered as ``apex``. Its config value (``apex_checkpoints`` of ``configs/evaluate.py``) is
a comma-separated list of training run directories (``launch.train_apex`` workdirs, or sweep
directories standing for their points), one per agent seed, as the paper evaluates its 5
trained agents (Cassimon et al. §4.1.1); each policy loads the newest checkpoint's online
parameters and the network settings of the run's ``config.json``. The value ``untrained``
gives randomly initialised networks of the paper's size
(:func:`~nasjax.agents.apex.network.network_config`; seed ``s`` initialises policy ``s``):
for plumbing and as a floor, never a result.
An episode costs one query, like random walk (§4.1.2).
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections

from nasjax import env, registry, sweep
from nasjax.agents.apex import checkpoint, network, train
from nasjax.agents.base import Agent, Policy

UNTRAINED = "untrained"
CHECKPOINTS = "checkpoints"  # the subdirectory launch.train_apex writes
# Episodes stepped at once in evaluation. The Q-network's activations of 32 observations
# (51 x 256 floats each, 4 of them per block) stay in cache: 2,000 paper-size episodes ran at
# 172 episodes/s on 32 slots against 154 on 64, 126 on 128 and 71 on 500 (2 CPU cores).
EVAL_SLOTS = 32


def run_dirs(value: str) -> list[str]:
    """The run directories named by a comma-separated config value; a sweep directory
    (``launch.train_apex --sweep``) names its points' runs, in sweep order."""
    found = []
    for part in (part.strip() for part in str(value or "").split(",") if part.strip()):
        points = sweep.point_dirs(part)
        found += [part] if points is None else [str(point) for point in points]
    return found


def make_act(net: network.QNetwork):
    """``act(params, obs, key)``: the greedy valid action of ``net``'s Q-values."""
    def act(params, obs: env.Observation, key: jax.Array) -> jax.Array:
        """The valid action with the largest Q-value (ties: the first); ``key`` unused."""
        del key
        return network.masked_argmax(net.apply(params, obs.tokens, obs.action_mask),
                                     obs.action_mask)
    return act


def _abstract_params(net: network.QNetwork, env_params: env.EnvParams):
    """The parameters' shapes for the environment's observations."""
    obs = jax.eval_shape(lambda k: env.reset(k, env_params)[0], jax.random.key(0))
    return jax.eval_shape(net.init, jax.random.key(0), obs.tokens, obs.action_mask)


def load_run(run_dir: str | Path, env_params: env.EnvParams):
    """``(network, params)`` of a training run directory's newest checkpoint.

    Raises:
      ValueError: one line when the directory has no config or checkpoint, or was trained for
        another space or neighbour count than ``env_params``.
    """
    run_dir = Path(run_dir)
    if run_dir.name == CHECKPOINTS:
        run_dir = run_dir.parent
    saved = run_dir / "config.json"
    if not saved.is_file() or not (run_dir / CHECKPOINTS).is_dir():
        raise ValueError(f"{run_dir} is not an Ape-X training run (no config.json and "
                         f"{CHECKPOINTS}/); train one with python -m nasjax.launch.train_apex")
    config = ml_collections.ConfigDict(json.loads(saved.read_text()))
    space = registry.entry("benchmark", config.benchmark).info.get("space")
    if space != env_params.space.name:
        raise ValueError(f"{run_dir} was trained on the {space} space, not "
                         f"{env_params.space.name}")
    if (config.network.positional == "learned"
            and config.env.max_neighbours != env_params.max_neighbours):
        raise ValueError(f"{run_dir} was trained with N = {config.env.max_neighbours} "
                         f"neighbours (learned positions); evaluate with "
                         f"--config.env.max_neighbours={config.env.max_neighbours}")
    net = train.make_network(config)
    store = checkpoint.Checkpointer(run_dir / CHECKPOINTS, read_only=True)
    try:
        params = store.restore_params(_abstract_params(net, env_params))
    except FileNotFoundError:
        raise ValueError(f"{run_dir} has no checkpoint yet; train it with python -m "
                         "nasjax.launch.train_apex") from None
    finally:
        store.close()
    return net, params


def make_policy(env_params: env.EnvParams, config: str, seed: int = 0) -> Policy:
    """The greedy policy of agent seed ``seed`` (see the module docstring).

    Raises:
      ValueError: on no run directories, too few of them for ``seed``, or a bad run.
    """
    dirs = run_dirs(config)
    if dirs == [UNTRAINED]:
        net = train.make_network(ml_collections.ConfigDict({"network": network.network_config()}))
        # Initialisation needs the observation's shapes only: traced, not run (a reset run
        # op by op costs ~15 CPU seconds on NAS-Bench-101).
        obs = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype),
                           jax.eval_shape(env.reset, jax.random.key(seed), env_params)[0])
        params = jax.jit(net.init)(jax.random.key(seed), obs.tokens, obs.action_mask)
    elif not dirs:
        raise ValueError("the apex agent needs trained runs: --config.apex_checkpoints=DIR1,"
                         f"DIR2,... (launch.train_apex workdirs), or '{UNTRAINED}'")
    elif seed >= len(dirs):
        raise ValueError(f"apex agent seed {seed} needs a run directory; "
                         f"apex_checkpoints names {len(dirs)}")
    else:
        net, params = load_run(dirs[seed], env_params)
    return Policy(name="apex", act=make_act(net), params=params, slots=EVAL_SLOTS)


def seeds(config: str) -> int | None:
    """Agent seeds the agent brings: one per run directory (None when untrained)."""
    dirs = run_dirs(config)
    return None if dirs == [UNTRAINED] else len(dirs)


def agent() -> Agent:
    """The Ape-X transformer Q-agent (Cassimon et al. §3.2.3)."""
    return Agent(name="apex", description="Ape-X transformer Q-agent, greedy",
                 queries="one query per episode (Cassimon et al. §4.1.2)",
                 config="apex_checkpoints", make_policy=make_policy, seeds=seeds)
