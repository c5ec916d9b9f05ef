"""The launches' persistent compilation cache (nasjax.launch.compile_cache): where it is, how it
is turned off, and that a launch reads back what an earlier launch compiled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

from nasjax.launch import compile_cache

ROOT = Path(__file__).resolve().parents[2]


def test_the_default_directory_is_in_the_users_cache():
    assert compile_cache.directory({}) == Path("~/.cache/nasjax-compiled").expanduser()
    assert compile_cache.directory({compile_cache.ENV: "/x/y"}) == Path("/x/y")


def test_no_home_directory_leaves_the_default_off(monkeypatch):
    def no_home(path):
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "expanduser", no_home)
    assert compile_cache.directory({}) is None


@pytest.mark.parametrize("value", ["off", "OFF", "0", "", "no", "false"])
def test_off_turns_the_cache_off(value):
    assert compile_cache.directory({compile_cache.ENV: value}) is None


def test_a_cache_the_caller_chose_wins():
    chosen = jax.config.jax_compilation_cache_dir
    assert chosen, "tests/conftest.py sets the session's cache"
    assert compile_cache.enable({compile_cache.ENV: "/nowhere/else"}) == Path(chosen)
    assert jax.config.jax_compilation_cache_dir == chosen


@pytest.fixture
def no_cache_chosen():
    """The process as a launch finds it when nobody chose a cache (the session's is restored)."""
    chosen = jax.config.jax_compilation_cache_dir
    bound = jax.config.jax_compilation_cache_max_size
    jax.config.update("jax_compilation_cache_dir", None)
    yield
    jax.config.update("jax_compilation_cache_dir", chosen)
    jax.config.update("jax_compilation_cache_max_size", bound)


def test_a_launch_caches_in_the_directory_asked_for_within_a_size_bound(tmp_path,
                                                                         no_cache_chosen):
    assert compile_cache.enable({compile_cache.ENV: str(tmp_path / "c")}) == tmp_path / "c"
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "c")
    assert jax.config.jax_compilation_cache_max_size == compile_cache.MAX_BYTES
    assert (tmp_path / "c").is_dir()


def test_an_unwritable_directory_leaves_the_cache_off(tmp_path, no_cache_chosen):
    blocked = tmp_path / "file"
    blocked.write_text("x")
    assert compile_cache.enable({compile_cache.ENV: str(blocked / "cache")}) is None
    assert compile_cache.enable({compile_cache.ENV: "off"}) is None
    assert jax.config.jax_compilation_cache_dir is None


# A launch (common.run_main) whose main compiles one program and prints what it computed.
_LAUNCH = """
import jax, jax.numpy as jnp
from nasjax.launch import common

def main(argv):
    print(float(jax.jit(lambda x: jnp.sin(x).sum())(jnp.arange(5.0))))

common.run_main(main)
"""


def _env_caching_in(cache: Path) -> dict:
    """A launch's environment with ``cache`` its compilation cache (the session's dropped)."""
    env = {key: value for key, value in os.environ.items()
           if key != "JAX_COMPILATION_CACHE_DIR"}
    env.update({compile_cache.ENV: str(cache), "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu",
                "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"})
    return env


def test_a_launch_refused_on_its_command_line_creates_no_cache(tmp_path):
    cache = tmp_path / "compiled"
    result = subprocess.run([sys.executable, "-m", "tests.launch.fake_launch",
                             "--config.inner.rate=None"], cwd=tmp_path, env=_env_caching_in(cache),
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2 and result.stderr.startswith("error: config.inner.rate")
    assert not cache.exists()


def test_a_launch_reads_back_what_an_earlier_one_compiled(tmp_path):
    cache = tmp_path / "compiled"
    env = _env_caching_in(cache)

    def launch() -> str:
        result = subprocess.run([sys.executable, "-c", _LAUNCH], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    first = launch()
    entries = sorted(p.name for p in cache.iterdir() if p.name.startswith("jit_"))
    assert entries, "the first launch wrote its program"
    assert launch() == first  # the same number from the executable read back
    assert sorted(p.name for p in cache.iterdir() if p.name.startswith("jit_")) == entries
