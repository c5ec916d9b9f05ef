"""Conformance of every registered space, benchmark and agent (jumanji's env_not_smoke habit).

A new space, benchmark or agent gets these tests by registering itself:

- spaces: sampling gives valid architectures, hashes are invariant under ``canonical``,
  neighbours are valid, distinct and not the architecture itself, tokens and the string
  encoding have the declared sizes, padding is invalid; a dense index, where a space has one,
  places each architecture where ``archs()`` holds it and refuses padding;
- benchmarks: ``query`` of an invalid architecture is ``valid=False`` with NaN accuracy;
- agents: one episode (policies) or one short trial (searchers) runs under ``jit`` on every
  space, twice without retracing, on a SYNTHETIC benchmark over the whole space; a variant of
  an agent (same factory, other settings, e.g. ReMAADE's ablations) is traced, not compiled.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import agents as agent_configs
from configs import environment
from nasjax import benchmarks, registry, spaces
from nasjax.agents import base as agents_base
from nasjax.benchmarks import base as bench_lib
from nasjax.evaluation import episodes
from tests.conftest import env_params
from tests.token_benchmark import TokenBenchmark

SPACES = registry.names("space")
BENCHMARKS = registry.names("benchmark")
AGENTS = registry.names("agent")
SAMPLES = 64
# Spaces whose programs compile slowly (NB101's on-the-fly neighbours unroll the WL hash: 10-20
# CPU-s per agent's episode program): their neighbour and agent cases are marked slow.
SLOW_SPACES = ("nb101",)


def _marked(space_names) -> list:
    """The space names as parameters, those of ``SLOW_SPACES`` marked slow."""
    return [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_SPACES else name
            for name in space_names]


@pytest.fixture(scope="module", params=SPACES)
def space(request):
    return spaces.get(request.param)


@pytest.fixture(scope="module")
def samples(space):
    return space.sample(jax.random.key(0), (SAMPLES,))


def _hashes(space, archs) -> np.ndarray:
    return np.asarray(jax.jit(space.hash)(archs))


@pytest.mark.slow  # ~6 CPU-s of its own: out of the fast lane
def test_sampling_gives_valid_architectures(space, samples):
    assert np.asarray(space.is_valid(samples)).all()
    again = space.sample(jax.random.key(0), (SAMPLES,))
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(samples),
                                                    jax.tree.leaves(again), strict=True))


def test_hash_is_invariant_under_canonical(space, samples):
    canonical = jax.jit(space.canonical)(samples)
    np.testing.assert_array_equal(_hashes(space, canonical), _hashes(space, samples))
    assert np.asarray(space.is_valid(canonical)).all()
    twice = jax.jit(space.canonical)(canonical)
    for a, b in zip(jax.tree.leaves(twice), jax.tree.leaves(canonical), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("space_name", _marked(SPACES))
def test_neighbours_are_valid_distinct_and_not_the_architecture(space_name):
    space = spaces.get(space_name)
    samples = space.sample(jax.random.key(0), (SAMPLES,))
    n = 20
    keys = jax.random.split(jax.random.key(1), 8)
    found, mask = jax.jit(jax.vmap(lambda k, a: space.neighbours(k, a, n)))(
        keys, jax.tree.map(lambda x: x[:8], samples))
    counts = np.asarray(jax.jit(space.num_neighbours)(jax.tree.map(lambda x: x[:8], samples)))
    assert (counts >= 1).all() and (counts <= space.max_neighbours).all()
    np.testing.assert_array_equal(np.asarray(mask).sum(-1), np.minimum(counts, n))
    valid = np.asarray(jax.jit(space.is_valid)(found))
    hashes = _hashes(space, found)
    own = _hashes(space, jax.tree.map(lambda x: x[:8], samples))
    for i in range(8):
        shown = np.asarray(mask[i])
        assert valid[i][shown].all() and not valid[i][~shown].any()  # padding is invalid
        keys_i = [tuple(h) for h in hashes[i][shown]]
        assert len(set(keys_i)) == len(keys_i) and tuple(own[i]) not in keys_i


def test_tokens_and_string_encoding_have_the_declared_sizes(space, samples):
    tokens = jax.jit(space.tokens)(samples)
    assert tokens.shape == (SAMPLES, space.token_size) and tokens.dtype == jnp.float32
    strings = jax.jit(space.encode)(samples)
    assert strings.shape == (SAMPLES, len(space.choices))
    assert ((np.asarray(strings) >= 0) & (np.asarray(strings) < np.asarray(space.choices))).all()
    decoded, valid = jax.jit(space.decode)(strings)
    assert np.asarray(valid).all()
    np.testing.assert_array_equal(_hashes(space, decoded), _hashes(space, samples))
    assert len(space.mutation_rates) == len(space.choices)
    assert not np.asarray(space.is_valid(space.padding((3,)))).any()


def test_a_dense_index_places_each_architecture_where_archs_holds_it(space, samples):
    if space.dense is None:
        pytest.skip(f"space {space.name!r} has no dense index")
    keys = jax.tree.map(jnp.asarray, space.dense.keys())
    position = jax.jit(space.dense.position)
    at = np.asarray(position(keys, samples))
    archs = space.dense.archs()
    assert ((at >= 0) & (at < len(jax.tree.leaves(archs)[0]))).all()
    found = jax.tree.map(lambda x: np.asarray(x)[at], archs)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(found),
                                                    jax.tree.leaves(samples), strict=True))
    assert (np.asarray(position(keys, space.padding((3,)))) == -1).all()


# ----------------------------------------------------------------------------- benchmarks


def _loaded(name: str, data_dir):
    try:
        return benchmarks.load(name, data_dir, progress=False)
    except FileNotFoundError as error:  # an official file that is not on this machine
        pytest.skip(str(error).splitlines()[0])


@pytest.mark.slow  # the surrogates and the enumeration are built once into data_dir
@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_rejects_invalid_architectures(name, data_dir):
    bench = _loaded(name, data_dir)
    space = spaces.get(registry.entry("benchmark", name).info["space"])
    assert bench.space == space.name
    valid_archs = space.sample(jax.random.key(2), (4,))
    archs = jax.tree.map(lambda p, v: jnp.concatenate([p, v]), space.padding((4,)), valid_archs)
    out = jax.jit(bench_lib.query)(bench, archs)
    assert not np.asarray(out.valid[:4]).any() and np.isnan(out.val_acc[:4]).all()
    finite = np.isfinite(out.val_acc[4:])
    np.testing.assert_array_equal(finite, out.valid[4:])
    assert ((out.val_acc[4:][finite] >= 0) & (out.val_acc[4:][finite] <= 1)).all()


# ----------------------------------------------------------------------------- agents


def _experiment_config() -> ml_collections.ConfigDict:
    """Agent blocks, small enough for a quick trial."""
    config = ml_collections.ConfigDict()
    config.regularized_evolution = agent_configs.regularized_evolution()
    config.regularized_evolution.population_size = 4
    config.regularized_evolution.tournament_size = 2
    config.remaade = agent_configs.remaade()
    config.remaade.batch_size = 4
    config.remaade.embed_dim = 8
    config.remaade.made_hidden = 8
    config.apex_checkpoints = "untrained"  # random-init networks: the plumbing, no files
    return config


def _needs_files(agent, config) -> bool:
    """An agent whose seeds are checkpoints cannot be built without files (the config above
    asks every trained agent for its untrained, random-init form where it has one)."""
    return agent.seeds is not None and agent.seeds(agent.block(config)) is not None


def _programs(names: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The first agent of each factory (a distinct program: compiled and run), and the others
    (the same factory with other keyword arguments, e.g. ReMAADE's ablations: traced only)."""
    factories: set = set()
    first, variants = [], []
    for name in names:
        factory = registry.entry("agent", name).factory
        (variants if factory in factories else first).append(name)
        factories.add(factory)
    return tuple(first), tuple(variants)


PROGRAMS, VARIANTS = _programs(AGENTS)


def _checked_trial(name: str, space_name: str):
    """The agent's searcher with a retrace counter on ``update`` and its jitted short trial, or
    None for a policy-only agent."""
    agent = registry.make("agent", name)
    searcher = agent.make_searcher and agent.make_searcher(spaces.get(space_name),
                                                           agent.block(_experiment_config()))
    if searcher is None:
        return None, None
    searcher = agents_base.Searcher(
        name=searcher.name, batch=searcher.batch, init=searcher.init,
        propose=searcher.propose, update=chex.assert_max_traces(searcher.update, n=1))
    return searcher, jax.jit(lambda key, b: agents_base.run_trial(searcher, b, key,
                                                                  2 * searcher.batch, "noisy",
                                                                  "val"))


@pytest.mark.slow  # ~31 CPU-s of its own: out of the fast lane
@pytest.mark.parametrize("name", PROGRAMS)
@pytest.mark.parametrize("space_name", _marked(SPACES))
def test_agent_runs_under_jit_without_retracing(name, space_name):
    chex.clear_trace_counter()  # counters are per function: parametrized cases share them
    agent = registry.make("agent", name)
    space = spaces.get(space_name)
    bench = TokenBenchmark(name="conformance (SYNTHETIC)", space=space_name)
    config = _experiment_config()
    searcher, trial = _checked_trial(name, space_name)
    if searcher is not None:
        for seed in range(2):
            out = trial(jax.random.key(seed), bench)
            assert np.asarray(out.valid).all() and out.observed.shape == (2 * searcher.batch,)
    if agent.make_policy is not None and not _needs_files(agent, config):
        settings = environment.get(space_name)
        params = env_params(space, bench, max_neighbours=8, episode_length=4,
                            alpha=settings.alpha)
        policy = agent.make_policy(params, agent.block(config), seed=0)
        run = jax.jit(chex.assert_max_traces(
            lambda p, arch, key: episodes.run_episode(policy, p, arch, key), n=1))
        archs = space.sample(jax.random.key(3), (2,))
        for seed in range(2):
            out = run(params, jax.tree.map(lambda x: x[seed], archs), jax.random.key(seed))
            assert 1 <= int(out.steps) <= 4 and np.isfinite(out.final_val)


@pytest.mark.slow  # ~17 CPU-s of its own: out of the fast lane
@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("space_name", SPACES)
def test_agent_variant_traces_under_jit_without_retracing(name, space_name):
    """A variant of a program compiled above (its own config, same code) is traced, not
    compiled: its trial builds with the declared shapes, twice with one trace of ``update``."""
    chex.clear_trace_counter()
    agent = registry.make("agent", name)
    assert agent.make_policy is None, f"{name}: a policy variant needs its own episode check"
    bench = TokenBenchmark(name="conformance (SYNTHETIC)", space=space_name)
    searcher, trial = _checked_trial(name, space_name)
    for seed in range(2):
        out = jax.eval_shape(trial, jax.random.key(seed), bench)
        assert out.valid.shape == out.observed.shape == (2 * searcher.batch,)
        assert out.valid.dtype == jnp.bool_
