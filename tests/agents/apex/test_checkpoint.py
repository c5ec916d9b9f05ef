"""Checkpointer: a damaged newest step falls back to the newest intact one."""

from __future__ import annotations

import flax
import jax
import numpy as np
import pytest

from nasjax.agents.apex import checkpoint


@flax.struct.dataclass
class _State:
    params: dict  # {"w": float32[2, 3]}
    steps: np.ndarray  # int32[]


def _state(value: float) -> _State:
    return _State(params={"w": np.full((2, 3), value, np.float32)}, steps=np.int32(value))


def _damage(step_dir) -> None:
    """Overwrites every data chunk of a saved step with garbage of the same size."""
    for file in step_dir.rglob("*"):
        if file.is_file() and file.parent.name == "d":
            file.write_bytes(b"\xff" * file.stat().st_size)


def test_a_damaged_newest_step_falls_back_and_is_set_aside(tmp_path):
    store = checkpoint.Checkpointer(tmp_path / "checkpoints", keep=3)
    for step in (1, 2, 3):
        store.save(step, _state(step), [{"chunk": step}])
    store.close()
    _damage(tmp_path / "checkpoints" / "3")
    _damage(tmp_path / "checkpoints" / "2")
    store = checkpoint.Checkpointer(tmp_path / "checkpoints", keep=3)
    abstract = jax.eval_shape(lambda: _state(0))
    with pytest.raises(checkpoint.CorruptCheckpointError,
                       match="^checkpoint 3 in .* differs from its manifest"):
        store.restore(abstract)
    (tmp_path / "checkpoints" / "2" / checkpoint.MANIFEST).unlink()  # saved before manifests
    with pytest.raises(checkpoint.CorruptCheckpointError,
                       match="^checkpoint 2 in .* cannot be read"):
        store.restore(abstract, 2)
    chunks, state, rows, skipped = store.restore_intact(abstract)
    assert (chunks, rows, skipped) == (1, [{"chunk": 1}], [3, 2])
    np.testing.assert_array_equal(state.params["w"], _state(1).params["w"])
    assert store.latest() == 1
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "1", "2.corrupt", "3.corrupt"]
    store.save(2, _state(2), [{"chunk": 2}])  # training saves the skipped step again
    assert store.latest() == 2
    store.close()


def test_no_intact_step_is_one_error(tmp_path):
    store = checkpoint.Checkpointer(tmp_path / "checkpoints", keep=2)
    store.save(1, _state(1), [])
    _damage(tmp_path / "checkpoints" / "1")
    with pytest.raises(checkpoint.CorruptCheckpointError, match="steps 1 are damaged"):
        store.restore_intact(jax.eval_shape(lambda: _state(0)))
    with pytest.raises(checkpoint.CorruptCheckpointError, match="checkpoint 1 in"):
        store.restore_params(jax.eval_shape(lambda: _state(0).params))
