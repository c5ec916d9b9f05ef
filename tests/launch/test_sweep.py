"""``--sweep`` on the launch scripts: parsing and checks in process; end to end, a sweep's
points equal the single runs with their overrides, and a rerun keeps its complete points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from configs import apex, search
from launch import sweep as sweep_launch
from nasjax.config_rules import ConfigError
from tests.conftest import xla_flags

ROOT = Path(__file__).resolve().parents[2]


def _points(specs, module=apex, preset="smoke", directory=Path("/sweep")):
    return sweep_launch.make_points(specs, module.get_config(preset), module, module.RULES,
                                    directory)


def test_values_parse_as_config_overrides_and_none_where_the_rule_allows_it():
    points = _points(["gamma=0.95,0.99", "env.alpha=None,2"])
    assert [p.values for p in points] == [
        {"gamma": 0.95, "env.alpha": None}, {"gamma": 0.95, "env.alpha": 2.0},
        {"gamma": 0.99, "env.alpha": None}, {"gamma": 0.99, "env.alpha": 2.0}]
    assert points[1].workdir == Path("/sweep/env.alpha=2.0,gamma=0.95")
    assert points[1].config.env.alpha == 2.0 and isinstance(points[1].config.env.alpha, float)
    assert [p.values["seed"] for p in _points(["seeds"])] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("spec, message", [
    ("gamma=0.9,x", "--sweep=gamma=0.9,x: config.gamma = 'x': could not convert string to "
                    "float: 'x'"),
    ("gamma=0.9,1.5", "--sweep point gamma=1.5: config.gamma = 1.5: must be a number in "
                      "[0, 1]"),
    ("seed=None", "--sweep point seed=None: config.seed = None: must be an integer in "
                  "[0, 2147483647]"),
    ("gama=0.9", "--sweep=gama=0.9: unknown config field 'gama'; --help lists the fields"),
    ("gamma=", "--sweep=gamma=: no value; give FIELD=v1,v2,..."),
    ("fig20", "--sweep=fig20: no sweep named 'fig20' (named sweeps: fig17, fig18, fig19, "
              "seeds); or give FIELD=v1,v2,..."),
    ("gamma=0.9,0.9", "--sweep: the sweep of 'gamma' repeats a value (0.9, 0.9)"),
])
def test_a_bad_sweep_is_one_line(spec, message):
    with pytest.raises(ConfigError) as raised:
        _points([spec])
    assert str(raised.value) == message


def test_a_tuple_field_is_refused():
    with pytest.raises(ConfigError, match="holds a tuple, which a sweep cannot list"):
        _points(["budgets=50,100"], search, "default")


def test_help_lists_the_named_sweeps():
    assert sweep_launch.help_line(apex) == (
        "sweeps (--sweep=NAME): fig17 (gamma=0.9,0.95,0.99); fig18 "
        "(env.max_neighbours=25,50,100); fig19 (env.alpha=None,2.0,6.0,10.0); seeds "
        "(seed=0,1,2,3,4)")
    assert "table6 (remaade.num_orders=1,2,4,6,8,16,0)" in sweep_launch.help_line(search)


def _search(args, data_dir, env=None):
    return subprocess.run(
        [sys.executable, "-m", "launch.search", "--config.benchmark=nb101-synthetic",
         f"--config.data_dir={data_dir}", "--config.algorithms=remaade", "--config.num_trials=2",
         "--config.trials_per_chunk=2", "--config.budget=16", "--config.budgets=(8, 16)", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})})


@pytest.mark.slow  # ~4 CPU-s of its own: out of the fast lane
def test_a_bad_value_stops_before_any_file(tmp_path, data_dir):
    result = _search(["--sweep=remaade.learning_rate=1e-3,-1", f"--workdir={tmp_path / 'w'}"],
                     data_dir)
    assert (result.returncode, result.stderr) == (
        2, "error: --sweep point remaade.learning_rate=-1.0: config.remaade.learning_rate = "
           "-1.0: must be a number in (0, inf)\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # four small search processes
def test_search_sweep_points_run_together_equal_single_runs_and_a_rerun_keeps_them(tmp_path,
                                                                                  data_dir):
    sweep_dir = tmp_path / "sweep"
    args = ["--sweep=remaade.learning_rate=1e-3,1e-2", f"--workdir={sweep_dir}"]
    result = _search(args, data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    single = _search(["--config.remaade.learning_rate=1e-2", f"--workdir={tmp_path / 'one'}"],
                     data_dir)
    assert single.returncode == 0, single.stderr[-3000:]
    point = sweep_dir / "remaade.learning_rate=0.01"
    with np.load(point / "results.npz") as ours, np.load(tmp_path / "one/results.npz") as alone:
        assert sorted(ours) == sorted(alone)
        for name in ours:
            np.testing.assert_array_equal(ours[name], alone[name])
    assert (json.loads((point / "config.json").read_text())
            == json.loads((tmp_path / "one/config.json").read_text()))
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert [row["point"] for row in summary["points"]] == [
        "remaade.learning_rate=0.001", "remaade.learning_rate=0.01"]
    assert summary["ran"] == [{"points": [row["point"] for row in summary["points"]],
                               "together": True, "kept": False}]  # one program, bit-identical
    assert "| remaade.learning_rate=0.01 | remaade |" in (sweep_dir / "report.md").read_text()
    # A rerun keeps both points; another sweep in the same directory is refused.
    stamp = (point / "results.npz").stat().st_mtime_ns
    again = _search(args, data_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "kept the complete point(s)" in again.stdout
    assert (point / "results.npz").stat().st_mtime_ns == stamp
    other = _search(["--sweep=remaade.learning_rate=1e-3", f"--workdir={sweep_dir}"], data_dir)
    assert other.returncode == 2
    assert "holds another sweep" in other.stderr and "Traceback" not in other.stderr


# Points trained together: seeds and discounts (traced hyperparameters), as
# ``--sweep=seed=0,1 --sweep=gamma=0.9,0.95`` orders them.
TOGETHER_POINTS = [{"seed": seed, "gamma": gamma} for seed in (0, 1) for gamma in (0.9, 0.95)]


@pytest.fixture(scope="module")
def smoke_seeds(data_dir) -> dict:
    """The smoke preset trained for seeds 0, 1 x gamma 0.9, 0.95 together
    (``train.points_chunk``, as ``launch.train_apex --sweep=seed=0,1 --sweep=gamma=0.9,0.95``
    does) and the last point alone (as a single run does)."""
    from nasjax import sweep as sweep_lib
    from nasjax.agents.apex import checkpoint, train

    config = apex.get_config("smoke")
    params, _ = train.make_env_params(config, data_dir)
    configs = [sweep_lib.apply(config, point) for point in TOGETHER_POINTS]
    trainer = train.make_train(config, params)
    single = train.make_train(configs[-1], params)  # gamma = 0.95 from its config
    alone = jax.jit(single.init)(jax.random.PRNGKey(1))
    init = jax.jit(trainer.init_with)
    together = train.stack_points([init(jax.random.PRNGKey(c.seed), train.hyperparams(c))
                                   for c in configs])
    last = len(configs) - 1
    first = jax.device_get({"alone": alone, "together": train.point_state(together, last)})
    chunk = train.points_chunk(trainer, [train.hyperparams(c) for c in configs])
    metrics = []
    for _ in range(trainer.num_chunks):
        alone, one = single.chunk(alone)
        together, both = chunk(together)
        metrics.append((jax.device_get(one),
                        jax.tree.map(lambda x: x[last], jax.device_get(both))))
    points = [train.point_state(together, i) for i in range(len(configs))]
    return {"first": first, "alone": alone, "together": points[last], "metrics": metrics,
            "digests": [checkpoint.params_sha256(p.params) for p in points]}


def _largest_difference(a, b) -> float:
    return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)),
                        initial=0.0))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.long
@pytest.mark.slow  # trains the smoke preset alone and 4 points together
def test_points_trained_together_start_equal_and_stay_within_float_reordering(smoke_seeds):
    from nasjax.agents.apex import train

    assert _largest_difference(smoke_seeds["first"]["alone"],
                               smoke_seeds["first"]["together"]) == 0.0  # bit-identical init
    alone, together = smoke_seeds["alone"], smoke_seeds["together"]
    for field in ("env_steps", "episodes", "trained_samples", "learner_steps"):
        assert int(getattr(alone, field)) == int(getattr(together, field)), field
    for one, both in zip(jax.tree.leaves(alone.actors.env_state.node),
                         jax.tree.leaves(together.actors.env_state.node)):
        np.testing.assert_array_equal(one, both)  # the same architectures: the same actions
    difference = _largest_difference(alone.params, together.params)
    if train.points_in_turn(len(TOGETHER_POINTS)):  # the single run's program, point by point
        assert difference == 0.0
    else:  # batched matmuls reorder float sums: measured 2.1e-4 (vmapped on CPU, 2 chunks)
        assert difference < 1e-3
    for one, both in smoke_seeds["metrics"]:
        assert (one["episodes"], one["chunk_episodes"]) == (both["episodes"],
                                                            both["chunk_episodes"])
        np.testing.assert_allclose(one["final_val_acc"], both["final_val_acc"], rtol=1e-5)


@pytest.mark.long
@pytest.mark.slow  # two smoke training processes
def test_a_sweep_of_seeds_and_gamma_trains_together_stops_and_resumes(smoke_seeds, tmp_path,
                                                                       data_dir):
    sweep_dir = tmp_path / "seeds"
    command = [sys.executable, "-m", "launch.train_apex",
               f"--config={ROOT / 'configs' / 'apex.py'}:smoke", f"--config.data_dir={data_dir}",
               "--sweep=seed=0,1", "--sweep=gamma=0.9,0.95", f"--workdir={sweep_dir}"]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    stopped = subprocess.run([*command, "--max_chunks=1"], cwd=ROOT, capture_output=True,
                             text=True, timeout=900, env=env)
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    assert "sweep not complete" in stopped.stdout
    assert not (sweep_dir / "summary.json").exists()
    names = [f"gamma={p['gamma']},seed={p['seed']}" for p in TOGETHER_POINTS]
    labels = [f"gamma={p['gamma']}, seed={p['seed']}" for p in TOGETHER_POINTS]
    assert all((sweep_dir / name / "PARTIAL").is_file() for name in names)
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900,
                           env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming after chunk 1 of 2" in again.stdout
    digests = [json.loads((sweep_dir / name / "summary.json").read_text())
               ["final_params_sha256"] for name in names]
    assert digests == smoke_seeds["digests"]  # resumed = uninterrupted, trained together
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert [run["label"] for run in summary["points"]] == labels
    assert summary["ran"] == [{"points": labels, "together": True, "kept": False}]
    report = (sweep_dir / "report.md").read_text()
    assert f"- {'; '.join(labels)}: together (one jitted program over the points)" \
        in report
    assert (sweep_dir / "training_curves.png").stat().st_size > 0


@pytest.mark.long  # CI time: test_env's traced alpha and test_sweep's groups run by default
@pytest.mark.slow  # compiles the smoke run for two single points and for both together
@pytest.mark.parametrize("reward_scale", ["unit", "paper"])
def test_points_over_alpha_trained_together_equal_their_single_runs(data_dir, reward_scale):
    # fig19's alpha 2, 6, 10 train together: alpha and its reward scale are traced.
    from nasjax import sweep as sweep_lib
    from nasjax.agents.apex import train

    configs = [sweep_lib.apply(apex.get_config("smoke"),
                               {"env.alpha": alpha, "reward_scale": reward_scale})
               for alpha in (2.0, 6.0)]
    singles = [train.make_train(c, train.make_env_params(c, data_dir)[0]) for c in configs]
    key = jax.random.PRNGKey(configs[0].seed)
    hypers = [train.hyperparams(c) for c in configs]
    init = jax.jit(singles[0].init_with)  # as launch.train_apex.train_together
    together = train.stack_points([init(key, hyper) for hyper in hypers])
    alone = [jax.jit(single.init)(key) for single in singles]
    for point, state in enumerate(alone):  # bit-identical init
        assert _largest_difference(state, train.point_state(together, point)) == 0.0
    chunk = train.points_chunk(singles[0], hypers)
    for _ in range(singles[0].num_chunks):
        together, both = chunk(together)
        for point, single in enumerate(singles):
            alone[point], one = single.chunk(alone[point])
            assert (one["episodes"], one["chunk_episodes"]) == (both["episodes"][point],
                                                                both["chunk_episodes"][point])
            np.testing.assert_allclose(one["final_val_acc"], both["final_val_acc"][point],
                                       rtol=1e-5)
    for point, state in enumerate(alone):
        trained = train.point_state(together, point)
        for one, two in zip(jax.tree.leaves(state.actors.env_state.node),
                            jax.tree.leaves(trained.actors.env_state.node)):
            np.testing.assert_array_equal(one, two)  # the same architectures: the same actions
        difference = _largest_difference(state.params, trained.params)
        if train.points_in_turn(len(hypers)):  # the single run's program, point by point
            assert difference == 0.0
        else:  # batched matmuls reorder float sums, measured vmapped on CPU (smoke, 2 chunks):
            # alpha 2 and 6 differ by 2.1e-5 and 6.2e-5 (unit scale), 1.1e-4 and 3.8e-5 (paper)
            assert difference < 1e-3


def test_points_spread_over_the_largest_dividing_number_of_devices():
    from nasjax.agents.apex import train

    assert train.point_devices(3) == 1  # one CPU device here
    assert [train.point_devices(p, 8) for p in (1, 2, 3, 4, 5, 6, 7, 8, 10, 16)] == [
        1, 2, 3, 4, 5, 6, 7, 8, 5, 8]
    assert [train.point_devices(p, 4) for p in (6, 7, 9)] == [3, 1, 3]


# Trains the smoke preset's seeds 0 and 1 together over 2 CPU devices (one point each) and each
# alone; prints what the test checks as JSON.
POINTS_OVER_DEVICES = """
import json, sys
import jax, numpy as np
from configs import apex
from nasjax import sweep as sweep_lib
from nasjax.agents.apex import checkpoint, train
from tests.launch.test_sweep import _largest_difference

config = apex.get_config("smoke")
params, _ = train.make_env_params(config, sys.argv[1])
configs = [sweep_lib.apply(config, {"seed": seed}) for seed in (0, 1)]
trainer = train.make_train(config, params)
init = jax.jit(trainer.init_with)
hypers = [train.hyperparams(c) for c in configs]
together = train.stack_points([init(jax.random.PRNGKey(c.seed), h)
                               for c, h in zip(configs, hypers)])
chunk = train.points_chunk(trainer, hypers)
alone = [jax.jit(trainer.init)(jax.random.PRNGKey(c.seed)) for c in configs]
for _ in range(trainer.num_chunks):
    together, metrics = chunk(together)
    alone = [trainer.chunk(state)[0] for state in alone]
points = [train.point_state(together, i) for i in range(2)]
print(json.dumps({
    "point_devices": train.point_devices(2),
    "param_devices": len(jax.tree.leaves(together.params)[0].sharding.device_set),
    "differences": [_largest_difference(a.params, p.params) for a, p in zip(alone, points)],
    "same_nodes": [all(np.array_equal(x, y) for x, y in zip(
        jax.tree.leaves(a.actors.env_state.node), jax.tree.leaves(p.actors.env_state.node)))
        for a, p in zip(alone, points)],
    "counters": [[int(getattr(s, f)) for f in train.COUNTERS] for s in (*alone, *points)],
    "digests": [checkpoint.params_sha256(p.params) for p in (*alone, *points)],
}))
"""


@pytest.mark.long  # CI time: the rule above runs by default; this compiles the smoke chunk twice
@pytest.mark.slow
def test_points_trained_together_spread_over_devices_one_point_each(data_dir):
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": xla_flags("--xla_force_host_platform_device_count=2")}
    result = subprocess.run([sys.executable, "-c", POINTS_OVER_DEVICES, str(data_dir)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["point_devices"] == out["param_devices"] == 2
    assert out["same_nodes"] == [True, True]  # the same actions, so the same architectures
    assert out["counters"][:2] == out["counters"][2:]
    assert all(0.0 <= d < 1e-3 for d in out["differences"]), out["differences"]
