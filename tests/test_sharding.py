"""Episodes and trials shard over local devices with the same numbers on 1 and on 8 devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=8`` makes 8 CPU devices; the one-device run
shards over the first of them, in the same process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import xla_flags

ROOT = Path(__file__).resolve().parents[1]

# Runs a few random-walk and local-search episodes on the hand-built world and a few random
# search and regularized evolution trials on a SYNTHETIC table, sharded over one device and then
# over all eight, and saves every number of each run.
PROGRAM = """
import sys
import jax, numpy as np
from nasjax import registry, spaces, sharding
from nasjax.agents import base, local_search, random_walk
from nasjax.benchmarks import base as bench_lib
from nasjax.evaluation import episodes
from nasjax.spaces import nb101
from tests.conftest import SMALL_WORLD, chain, env_params
from nasjax.spaces import nb101_space, neighbour_table
import ml_collections
from configs import agents as agent_configs

names = list(SMALL_WORLD)
cells = [chain(*SMALL_WORLD[n][0]) for n in names]
stacked = nb101.Cell(adj=np.stack([c.adj for c in cells]), ops=np.stack([c.ops for c in cells]))
val = np.array([SMALL_WORLD[n][1] for n in names])
bench = bench_lib.from_function(stacked, val, test_acc=val - 0.02, name="hand-built")
lists = [[names.index(o) for o in SMALL_WORLD[n][2]] for n in names]
space = nb101_space.make_space(neighbour_table.from_lists(stacked, lists))
params = env_params(space, bench, max_neighbours=2, episode_length=6)
starts = jax.tree.map(lambda x: np.stack([x] * 13), cells[0])  # 13: not a multiple of 8
table = bench_lib.from_function(nb101.sample(jax.random.key(9), (2000,)),
                                np.linspace(0.8, 0.95, 2000), name="SYNTHETIC ramp")
config = ml_collections.ConfigDict({"regularized_evolution": agent_configs.regularized_evolution()})
everything = sharding.num_devices
out = {}
for devices in (1, everything()):
    sharding.num_devices = lambda: devices  # map_batch's mesh: the first `devices` devices
    for policy in (random_walk.make_policy(), local_search.make_policy(params)):
        stats = episodes.run_episodes(policy, params, starts, jax.random.key(5))
        for field, value in vars(stats).items():
            out[f"{devices}/{policy.name}/{field}"] = np.asarray(value)
    for name in ("random_search", "regularized_evolution"):
        agent = registry.make("agent", name)
        searcher = agent.make_searcher(spaces.get("nb101"), agent.block(config))
        trials = base.run_trials(searcher, table, jax.random.split(jax.random.key(3), 11), 60,
                                 "noisy", "val")
        for field, value in vars(trials).items():
            out[f"{devices}/{name}/{field}"] = np.asarray(value)
out["devices"] = np.int32(everything())
out["programs"] = np.int32(sharding._compiled.cache_info().currsize)  # 4 per device count
np.savez(sys.argv[1], **out)
"""


@pytest.mark.slow  # one subprocess compiles the episodes and trials for 1 and for 8 devices
def test_the_same_numbers_on_one_and_eight_devices(tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": xla_flags("--xla_force_host_platform_device_count=8")}
    path = tmp_path / "numbers.npz"
    result = subprocess.run([sys.executable, "-c", PROGRAM, str(path)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(path) as data:
        numbers = {key: data[key] for key in data.files}
    assert int(numbers.pop("devices")) == 8 and int(numbers.pop("programs")) == 2 * 4
    one = {key[2:]: value for key, value in numbers.items() if key.startswith("1/")}
    eight = {key[2:]: value for key, value in numbers.items() if key.startswith("8/")}
    assert one.keys() == eight.keys() and len(one) > 10 and len(one) + len(eight) == len(numbers)
    for key in one:
        np.testing.assert_array_equal(one[key], eight[key], err_msg=key)
    assert one["random_walk/steps"].shape == (13,)
    assert one["regularized_evolution/observed"].shape == (11, 60)
