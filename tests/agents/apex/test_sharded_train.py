"""Ape-X actors and replay sharded over local devices (``config.devices``), tested on CPU with
``XLA_FLAGS=--xla_force_host_platform_device_count=4``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from configs import apex as apex_config
from nasjax.agents.apex import train
from tests.agents.apex.conftest import make_env_params
from tests.conftest import xla_flags

ROOT = Path(__file__).resolve().parents[3]

# Trains the smoke preset on 4 devices: twice straight, once through a checkpoint; reports what
# the test checks as JSON.
PROGRAM = """
import json, sys
import jax, numpy as np
from configs import apex as apex_config
from nasjax.agents.apex import checkpoint, train
from tests.agents.apex.conftest import make_env_params

config = apex_config.get_config("smoke")
config.devices = 4
params = make_env_params(max_neighbours=config.env.max_neighbours,
                         episode_length=config.env.train_episode_length)
trainer = train.make_train(config, params)
key = jax.random.PRNGKey(0)

def run(chunks, state=None):
    state = jax.jit(trainer.init)(key) if state is None else state
    for _ in range(chunks):
        state, metrics = trainer.chunk(state)
    return state, metrics

state, metrics = run(2)
store = checkpoint.Checkpointer(sys.argv[1], keep=2)
half, _ = run(1)
store.save(1, half, [])
store.close()
restored, _ = checkpoint.Checkpointer(sys.argv[1], read_only=True).restore(
    jax.eval_shape(trainer.init, key))
resumed, _ = run(1, restored)
leaf = jax.tree.leaves(state.params)[0]
first = np.asarray(leaf.addressable_shards[0].data)
print(json.dumps({
    "sha": [checkpoint.params_sha256(s.params) for s in (state, run(2)[0], resumed)],
    "param_shards_equal": all(np.array_equal(np.asarray(s.data), first)
                              for s in leaf.addressable_shards),
    "replay_devices": len(state.replay.priorities.sharding.device_set),
    "replay_shape": list(state.replay.priorities.shape),
    "actor_envs": list(state.actors.epsilons.shape),
    "env_steps": int(metrics["env_steps"]), "per_chunk": trainer.env_steps_per_chunk,
    "learner_steps": int(metrics["learner_steps"]), "loss": float(metrics["loss"]),
    "final_val_acc": float(metrics["final_val_acc"]),
}))
"""


@pytest.mark.long  # CI time: test_sharding checks 1 against 8 devices in the default run
@pytest.mark.slow  # a subprocess compiles the sharded chunk (about a minute)
def test_actors_and_replay_shard_over_four_devices(tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": xla_flags("--xla_force_host_platform_device_count=4")}
    result = subprocess.run([sys.executable, "-c", PROGRAM, str(tmp_path / "checkpoints")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    straight, again, resumed = out["sha"]
    assert straight == again == resumed  # reproducible, and resumable from a checkpoint
    assert out["param_shards_equal"]  # averaged gradients keep the parameters replicated
    config = apex_config.get_config("smoke")
    assert out["replay_devices"] == 4
    assert out["replay_shape"] == [4, config.replay_capacity // 4]
    assert out["actor_envs"] == [4, config.num_workers * config.envs_per_worker // 4]
    warmup = (config.n_step - 1) * config.num_workers * config.envs_per_worker
    assert out["env_steps"] == 2 * out["per_chunk"] + warmup
    assert out["learner_steps"] > 0 and out["loss"] == out["loss"]  # finite
    assert 0.0 < out["final_val_acc"] < 1.0


def test_more_devices_than_the_process_sees_are_refused():
    config = apex_config.get_config("smoke")
    config.devices = 64
    with pytest.raises(ValueError, match="devices=64: this process sees"):
        train.make_train(config, make_env_params())


def test_a_batch_that_does_not_split_over_the_devices_is_refused(monkeypatch):
    monkeypatch.setattr(train.jax, "device_count", lambda: 4)
    config = apex_config.get_config("smoke")
    config.devices, config.batch_size = 3, 16
    with pytest.raises(ValueError, match="batch_size=16 does not split into devices=3"):
        train.make_train(config, make_env_params())
