"""Orbax checkpoints of Ape-X training: the whole train state, resumable bit for bit.

A checkpoint directory holds one Orbax step per saved chunk count (``<dir>/<chunks>/``) with
three items: ``state`` (every leaf of the :class:`~nasjax.agents.apex.train.TrainState` in tree
order: parameters, target, actor copy, Adam state, replay, environments, PRNG key, counters),
``params`` (the online parameters alone, what a trained policy loads) and ``metrics`` (the
host's metrics rows so far, JSON). Resuming restores the newest step into the structure of a
fresh ``init`` (``jax.eval_shape``, no computation) and continues the same jitted chunks, so a
run stopped after any saved chunk and resumed ends with the same parameters as an
uninterrupted one: :func:`params_sha256` checks it. Each step carries a manifest of its
files' sha256 (``<chunks>/MANIFEST.sha256.json``, written after Orbax finalises the step); a
step whose files are damaged (a disk error, a copy cut short) is skipped for the newest intact
one (:meth:`Checkpointer.restore_intact`), found by the manifest before any of its data is
read, so tensorstore never parses damaged chunks.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

ITEMS = ("state", "params", "metrics")
CORRUPT_SUFFIX = ".corrupt"  # a skipped step's directory is renamed <chunks>.corrupt
MANIFEST = "MANIFEST.sha256.json"  # inside each step: {relative path: sha256} of its files


class CorruptCheckpointError(ValueError):
    """A saved step cannot be read back (damaged or missing files); one line."""


def params_sha256(params: Any) -> str:
    """sha256 (hex) of parameters' bytes, leaves in tree order (C order, native dtype)."""
    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(params):
        digest.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
    return digest.hexdigest()


class Checkpointer:
    """Saves and restores train states in a directory (an Orbax ``CheckpointManager``)."""

    def __init__(self, directory: str | Path, keep: int = 2, read_only: bool = False) -> None:
        """Opens (and unless ``read_only`` creates) the checkpoint directory.

        Args:
          directory: where steps are written.
          keep: newest checkpoints kept.
          read_only: only restore.
        """
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=None if read_only else keep, create=not read_only, read_only=read_only,
            save_interval_steps=0 if read_only else 1, enable_async_checkpointing=False)
        self._manager = ocp.CheckpointManager(self.directory, options=options, item_names=ITEMS)

    def latest(self) -> int | None:
        """The newest saved chunk count, or None."""
        return self._manager.latest_step()

    def _step(self, chunks: int | None) -> int:
        """``chunks``, or the newest step when None; FileNotFoundError when there is none."""
        chunks = self.latest() if chunks is None else chunks
        if chunks is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        return chunks

    def save(self, chunks: int, state: Any, rows: list[dict]) -> None:
        """Saves the state after ``chunks`` chunks and the metrics rows so far (blocking).

        Over several processes every process calls it with the same directory: each writes
        its own shards of the (global) state, process 0 the rest and the manifest.
        """
        several = jax.process_count() > 1
        host = (lambda leaf: leaf) if several else np.asarray  # Orbax splits global arrays
        leaves = [host(leaf) for leaf in jax.tree.leaves(state)]
        params = jax.tree.map(host, state.params)
        self._manager.save(chunks, args=ocp.args.Composite(
            state=ocp.args.StandardSave(leaves), params=ocp.args.StandardSave(params),
            metrics=ocp.args.JsonSave({"rows": rows})))
        self._manager.wait_until_finished()
        if jax.process_index() == 0:
            step = self.directory / str(chunks)
            (step / MANIFEST).write_text(json.dumps(_file_digests(step), indent=0,
                                                    sort_keys=True))
        if several:
            multihost_utils.sync_global_devices(f"nasjax checkpoint {chunks}")

    def restore(self, abstract_state: Any, chunks: int | None = None) -> tuple[Any, list[dict]]:
        """The state and metrics rows saved after ``chunks`` chunks (default the newest).

        Args:
          abstract_state: the state's structure (``jax.eval_shape`` of the trainer's ``init``;
            over several processes with each leaf's sharding).
          chunks: which step.
        Raises:
          FileNotFoundError: when there is no checkpoint.
          CorruptCheckpointError: when the step cannot be read back.
        """
        chunks = self._step(chunks)
        leaves, treedef = jax.tree.flatten(abstract_state)
        restored = self._read(chunks, ocp.args.Composite(
            state=ocp.args.StandardRestore(leaves), metrics=ocp.args.JsonRestore()))
        state = jax.tree.unflatten(treedef, list(restored.state))
        return state, list(restored.metrics["rows"])

    def restore_intact(self, abstract_state: Any) -> tuple[int, Any, list[dict], list[int]]:
        """The newest step that reads back whole, skipping damaged newer ones.

        A skipped step's directory is renamed ``<chunks>.corrupt`` (kept for inspection, out of
        the way of the step that training saves again).

        Args:
          abstract_state: the state's structure (``jax.eval_shape`` of the trainer's ``init``).

        Returns:
          ``(chunks, state, rows, skipped)``: the restored step, its state and metrics rows,
          and the skipped steps, newest first.

        Raises:
          FileNotFoundError: when there is no checkpoint.
          CorruptCheckpointError: when no step reads back.
        """
        steps = sorted(self._manager.all_steps(), reverse=True)
        if not steps:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        skipped = []
        for chunks in steps:
            try:
                state, rows = self.restore(abstract_state, chunks)
            except CorruptCheckpointError:
                skipped.append(chunks)
                continue
            for step in skipped:
                shutil.move(self.directory / str(step),
                            self.directory / f"{step}{CORRUPT_SUFFIX}")
            self._manager.reload()
            return chunks, state, rows, skipped
        raise CorruptCheckpointError(f"no checkpoint in {self.directory} reads back (steps "
                                     f"{', '.join(map(str, steps))} are damaged)")

    def _check_manifest(self, chunks: int) -> None:
        """Raises CorruptCheckpointError when a step's files differ from its manifest (a step
        saved without one, by nasjax 0.2, is left to Orbax's own checks)."""
        step = self.directory / str(chunks)
        try:
            expected = json.loads((step / MANIFEST).read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as error:
            raise CorruptCheckpointError(
                f"checkpoint {chunks} in {self.directory} has an unreadable manifest "
                f"({type(error).__name__})") from None
        actual = _file_digests(step)
        changed = sorted(path for path in expected.keys() | actual.keys()
                         if expected.get(path) != actual.get(path))
        if changed:
            raise CorruptCheckpointError(
                f"checkpoint {chunks} in {self.directory} differs from its manifest "
                f"({len(changed)} file(s), e.g. {changed[0]})")

    def _read(self, chunks: int, args: ocp.args.Composite) -> Any:
        """``manager.restore`` of a step that matches its manifest, with any failure to read
        it as one line."""
        self._check_manifest(chunks)
        try:
            return self._manager.restore(chunks, args=args)
        except Exception as error:  # noqa: BLE001 (Orbax and tensorstore raise many types)
            first = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
            raise CorruptCheckpointError(
                f"checkpoint {chunks} in {self.directory} cannot be read ({type(error).__name__}"
                f"{': ' + first if first else ''})") from None

    def restore_params(self, abstract_params: Any, chunks: int | None = None) -> Any:
        """The online parameters saved after ``chunks`` chunks (default the newest).

        Raises:
          FileNotFoundError: when there is no checkpoint.
          CorruptCheckpointError: when the step cannot be read back.
        """
        chunks = self._step(chunks)
        restored = self._read(chunks, ocp.args.Composite(
            params=ocp.args.StandardRestore(abstract_params)))
        return restored.params

    def close(self) -> None:
        """Waits for pending writes and releases the manager."""
        self._manager.close()


def _file_digests(step: Path) -> dict[str, str]:
    """{path relative to ``step``: sha256 hex} of every file in a step but the manifest."""
    digests = {}
    for file in sorted(step.rglob("*")):
        if file.is_file() and file.name != MANIFEST:
            digest = hashlib.sha256()
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            digests[str(file.relative_to(step))] = digest.hexdigest()
    return digests
