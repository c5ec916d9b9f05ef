"""Train the Ape-X transformer Q-agent (Cassimon et al. §3.2.3, §4.1.1) and write a run directory.

  python -m launch.train_apex --config=configs/apex.py[:PRESET] --workdir=runs/apex
  nasjax train_apex [--config=:PRESET] --workdir=runs/apex  # installed

Writes ``config.json``, Orbax checkpoints (``checkpoints/<chunks>/``: the whole train state
every ``checkpoint_every`` chunks and at the end), ``metrics.csv`` (per chunk: environment
steps, episodes, mean final validation accuracy of the chunk's training episodes, loss, mean
Q, environment steps/s, trained samples), ``training_curve.png`` (Figs. 17-19's quantity),
``summary.json`` (with ``final_params_sha256``) and ``report.md``.

Resuming. Files are written in place in ``--workdir`` (a ``PARTIAL`` marker says the run is
not complete; ``summary.json`` appears only at the end). Rerunning the same command on a
workdir that holds checkpoints continues from the newest one and ends with the same
parameters as an uninterrupted run; a workdir whose ``config.json`` differs is refused.
``--max_chunks=K`` stops after K chunks of this invocation (at a checkpoint), to split a long
run into jobs. SIGINT or SIGTERM during a chunk lets it finish and checkpoints it before the
process stops (a second signal stops at once), so a rerun loses no finished chunk.
``--overwrite`` starts afresh in a staging directory and replaces the workdir at the end.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from pathlib import Path

import jax
from absl import flags, logging
from tqdm.auto import tqdm

from nasjax import distributed, paths
from nasjax.agents.apex import checkpoint, train
from nasjax.evaluation import apex_training as apex_report
from nasjax.evaluation import interrupts
from nasjax.evaluation import report as report_lib
from nasjax.launch import common, multihost, sweep

_CONFIG = common.define_config("apex", "Ape-X training config.")
_RUN = common.define_run_dir("train_apex")
_MAX_CHUNKS = flags.DEFINE_integer(
    "max_chunks", None, "Stop after this many chunks of this invocation, at a checkpoint; "
    "rerun the same command to continue.", lower_bound=1)
CHECKPOINTS = "checkpoints"
# Fields sweep points may differ in and still train together in one program (the seed and the traced
# hyperparameters, nasjax.agents.apex.train.Hyperparams; env.alpha = None, no shaping, runs
# apart: nasjax.sweep.groups).
TOGETHER = ("seed", *train.HYPERPARAM_FIELDS)
PROCESSES = "processes.json"  # {"num_processes": P} of a run over several processes
RUN_DIR_TIMEOUT = 600  # seconds the other processes wait for process 0 to open the run directory


def open_run_dir(config_dict: dict, path: Path | None = None,
                 overwrite: bool | None = None) -> tuple[report_lib.RunDir, bool]:
    """The run directory (``--workdir`` unless ``path``), and whether it continues a run (it
    holds checkpoints).

    Raises:
      report_lib.RunDirError: a workdir holding another run (other config, or no
        checkpoints) without ``--overwrite`` (or ``overwrite``).
    """
    path = Path(_RUN.path()) if path is None else path
    if _RUN.overwrite.value if overwrite is None else overwrite:
        return common.LockedRunDir(path, overwrite=True), False
    saved = path / "config.json"
    if (path / CHECKPOINTS).is_dir() and saved.is_file():
        if json.loads(saved.read_text()) != json.loads(json.dumps(config_dict)):
            raise report_lib.RunDirError(
                f"--workdir {path} holds a run with another config; rerun with its config "
                "(config.json), pass --overwrite to start afresh, or pick another --workdir")
        return common.LockedRunDir(path, resume=True), True
    if path.exists() and any(path.iterdir()):
        return common.LockedRunDir(path), False  # refuses a non-empty workdir, one line
    return common.LockedRunDir(path, resume=True), False  # in place, so a stop can resume


def check_processes(path: Path) -> None:
    """Refuses to resume checkpoints saved by another process count (each process holds its
    own shards of the state); a fresh run (``--overwrite``, no checkpoints) has nothing to check.

    Raises:
      report_lib.RunDirError: one line naming both counts.
    """
    record, count = path / PROCESSES, jax.process_count()
    if _RUN.overwrite.value or not (path / CHECKPOINTS).is_dir():
        return
    saved = json.loads(record.read_text())["num_processes"] if record.is_file() else 1
    if saved != count:
        raise report_lib.RunDirError(
            f"--workdir {path} holds checkpoints of {saved} process(es), not {count}; resume "
            f"it with --num_processes={saved}, or pass --overwrite to start afresh")


def open_shared_run_dir(config_dict: dict) -> tuple[report_lib.RunDir, bool, Path]:
    """The run directory, whether it continues a run, and the checkpoint directory, which
    every process of a run over several processes shares (process 0 opens the run directory
    and tells the others; they write the rest into scratch directories).

    Raises:
      report_lib.RunDirError: as :func:`open_run_dir` and :func:`check_processes` (on every
        process when process 0 refuses).
    """
    several = multihost.settings().enabled
    key = f"run-dir:{_RUN.path()}"  # one per run directory (a sweep opens several)
    if multihost.is_writer():
        try:
            check_processes(Path(_RUN.path()))
            run_dir, resuming = open_run_dir(config_dict)
        except report_lib.RunDirError:
            if several:
                distributed.announce(key, None, RUN_DIR_TIMEOUT)
            raise
        checkpoints = run_dir.staging / CHECKPOINTS
        if several:
            if not resuming:
                (run_dir.staging / PROCESSES).write_text(
                    json.dumps({"num_processes": jax.process_count()}) + "\n")
            distributed.announce(key, json.dumps([resuming, str(checkpoints)]), RUN_DIR_TIMEOUT)
        return run_dir, resuming, checkpoints
    shared = distributed.announce(key, None, RUN_DIR_TIMEOUT)
    if shared is None:
        raise report_lib.RunDirError("process 0 refused the run directory (its message says "
                                     "why)")
    resuming, checkpoints = json.loads(shared)
    return multihost.ScratchRunDir(), resuming, Path(checkpoints)


def check_sizes(config) -> None:
    """Refuses a batch larger than the replay it samples from, and says in one line when
    ``total_steps`` is rounded up to whole chunks (a chunk is ``iterations_per_chunk``
    iterations of the replay schedule).

    Raises:
      common.ConfigError: when ``batch_size > replay_capacity``.
    """
    if config.batch_size > config.replay_capacity:
        raise common.ConfigError(
            f"config.batch_size = {config.batch_size} exceeds config.replay_capacity = "
            f"{config.replay_capacity}: each learner step samples a batch from the replay; "
            "lower config.batch_size or raise config.replay_capacity")
    num_envs = config.num_workers * config.envs_per_worker
    actor_steps, _ = train.schedule(config.replay_ratio, num_envs, config.batch_size)
    per_chunk = config.iterations_per_chunk * actor_steps * num_envs
    trained = -(-config.total_steps // per_chunk) * per_chunk
    if trained != config.total_steps:
        print(f"note: config.total_steps = {config.total_steps:,} rounded up to {trained:,} "
              f"environment steps: whole chunks of {per_chunk:,} (iterations_per_chunk x "
              "actor steps per iteration x environments)")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # Orbax logs every step at INFO
    config = _CONFIG.value  # checked against configs/apex.py RULES
    config_dict = config.to_dict()
    with common.config_errors():
        train.check_config(config)  # one line, before any file is written
    check_sizes(config)
    data_dir = paths.usable_dir(paths.data_dir(config.data_dir or None))
    with common.missing_data(), common.config_errors():  # before any file is written
        env_params, label = train.make_env_params(config, data_dir)
        trainer = train.make_train(config, env_params)
    run_dir, resuming, checkpoints = open_shared_run_dir(config_dict)
    with run_dir:
        run_dir.write_config(config_dict)
        print(f"benchmark: {label}; {trainer.actors.num_envs} environments, "
              f"{trainer.actor_steps} actor + {trainer.learner_steps} learner steps per "
              f"iteration; {trainer.num_chunks} chunks of {trainer.env_steps_per_chunk:,} "
              "environment steps")
        key = jax.random.PRNGKey(config.seed)
        store = checkpoint.Checkpointer(checkpoints, config.checkpoints_kept)
        done = store.latest() if resuming else None
        if done is not None:
            abstract = jax.eval_shape(trainer.init, key)
            if jax.process_count() > 1:  # each process reads its own shards
                abstract = distributed.abstract(abstract, trainer.placement)
            try:
                done, state, rows, skipped = store.restore_intact(abstract)
            except checkpoint.CorruptCheckpointError as error:
                raise report_lib.RunDirError(f"{error}; pass --overwrite to start afresh") from None
            if skipped:
                print(f"skipped the damaged checkpoint(s) {', '.join(map(str, skipped))} "
                      f"(set aside as <chunks>{checkpoint.CORRUPT_SUFFIX} in {store.directory})")
            print(f"resuming after chunk {done} of {trainer.num_chunks}")
        else:
            done, rows = 0, []
            state = jax.jit(trainer.init)(key)
        stop = trainer.num_chunks if _MAX_CHUNKS.value is None else min(
            trainer.num_chunks, done + _MAX_CHUNKS.value)
        fresh = True  # the first chunk of this process compiles
        # A stop asked for within the loop is taken at its next check(), after the chunk that
        # was running has been checkpointed (_checkpoint_due).
        with interrupts.deferred(), tqdm(total=trainer.num_chunks, initial=done, desc="chunks",
                                         unit="chunk") as bar:
            for index in range(done, stop):
                interrupts.check()
                start = time.perf_counter()
                state, metrics = trainer.chunk(state)
                metrics = jax.device_get(metrics)
                row = apex_report.metrics_row(index + 1, metrics, time.perf_counter() - start,
                                              trainer.env_steps_per_chunk)
                row["compiled"], row["resumed"] = fresh, fresh and index == done and done > 0
                fresh = False
                rows.append(row)
                bar.update(1)
                bar.set_postfix(acc=row["final_val_acc"], steps_s=row["env_steps_per_s"])
                if _checkpoint_due(index + 1, config.checkpoint_every, stop):
                    with interrupts.critical():
                        store.save(index + 1, state, rows)
                        apex_report.write_csv(rows, run_dir.staging / "metrics.csv")
        store.close()
        if stop < trainer.num_chunks:
            kept = run_dir.abandon(f"stopped after chunk {stop} of {trainer.num_chunks} "
                                   "(--max_chunks); rerun the same command to continue")
            print(kept)
            return
        summary = summarise(config, state, rows, label)
        apex_report.training_curve(rows, run_dir.figure_path("training_curve.png"), label)
        run_dir.write_report(apex_report.render(config_dict, summary, rows))
        run_dir.write_summary(summary)
    print(f"final_params_sha256: {summary['final_params_sha256']}")
    print(f"run directory: {run_dir.path}")


def train_together(configs: list, workdirs: list[Path], overwrite: bool) -> bool:
    """Trains sweep points that differ only in :data:`TOGETHER` fields in one jitted program
    over them (:func:`nasjax.agents.apex.train.points_chunk`), each into its own run directory
    with the files, checkpoints and resume rules of a single run (``main``). Each point is
    initialised by the single run's program (compiled once), so only the chunk runs over the
    points.

    Args:
      configs: the points' configs.
      workdirs: their run directories.
      overwrite: start every point afresh.

    Returns:
      False, having touched nothing, when the points cannot run together: ``devices > 1`` (the
      actors already shard over the devices), or their checkpoints stand at different chunks
      (the caller then runs them one after another).

    Raises:
      report_lib.RunDirError, common.ConfigError: one line, as a single run.
    """
    logging.set_verbosity(logging.WARNING)  # Orbax logs every step at INFO
    config = configs[0]
    restart = [sweep.restart(workdir, overwrite) for workdir in workdirs]
    if config.devices > 1 or len({None if again else _latest_chunk(workdir)
                                  for workdir, again in zip(workdirs, restart)}) > 1:
        return False
    with common.config_errors():
        train.check_config(config)
    check_sizes(config)
    data_dir = paths.usable_dir(paths.data_dir(config.data_dir or None))
    with common.missing_data(), common.config_errors():
        env_params, label = train.make_env_params(config, data_dir)
        trainer = train.make_train(config, env_params)
    keys = [jax.random.PRNGKey(c.seed) for c in configs]  # uint32[2] each
    hypers = [train.hyperparams(c) for c in configs]
    with contextlib.ExitStack() as stack:
        run_dirs, resuming = [], []
        for point, workdir, again in zip(configs, workdirs, restart):
            run_dir, resumes = open_run_dir(point.to_dict(), workdir, again)
            run_dirs.append(stack.enter_context(run_dir))
            resuming.append(resumes)
            run_dir.write_config(point.to_dict())
        print(f"benchmark: {label}; {len(configs)} points trained together (one program: "
              f"{'; '.join(workdir.name for workdir in workdirs)}), each "
              f"{trainer.actors.num_envs} environments; {trainer.num_chunks} chunks of "
              f"{trainer.env_steps_per_chunk:,} environment steps")
        stores = [checkpoint.Checkpointer(run_dir.staging / CHECKPOINTS, config.checkpoints_kept)
                  for run_dir in run_dirs]
        if all(resuming) and stores[0].latest() is not None:
            restored = [store.restore_intact(jax.eval_shape(trainer.init, keys[0]))
                        for store in stores]
            if len({done for done, _, _, _ in restored}) > 1:
                raise report_lib.RunDirError(
                    "the points' newest intact checkpoints stand at different chunks; rerun "
                    "the sweep to train them one after another, or pass --overwrite")
            done = restored[0][0]
            state = train.stack_points([state for _, state, _, _ in restored])
            rows = [list(point_rows) for _, _, point_rows, _ in restored]
            print(f"resuming after chunk {done} of {trainer.num_chunks}")
        else:
            done, rows = 0, [[] for _ in configs]
            init = jax.jit(trainer.init_with)
            state = train.stack_points([init(key, hyper) for key, hyper in zip(keys, hypers)])
        chunk = train.points_chunk(trainer, hypers)
        stop = trainer.num_chunks if _MAX_CHUNKS.value is None else min(
            trainer.num_chunks, done + _MAX_CHUNKS.value)
        with interrupts.deferred(), tqdm(total=trainer.num_chunks, initial=done, desc="chunks",
                                         unit="chunk") as bar:  # as in main
            for index in range(done, stop):
                interrupts.check()
                start = time.perf_counter()
                state, metrics = chunk(state)
                metrics = jax.device_get(metrics)
                seconds = time.perf_counter() - start  # all points' chunk
                for point, point_rows in enumerate(rows):
                    row = apex_report.metrics_row(
                        index + 1, {name: value[point] for name, value in metrics.items()},
                        seconds, trainer.env_steps_per_chunk)
                    row["compiled"] = index == done
                    row["resumed"] = index == done and done > 0
                    point_rows.append(row)
                bar.update(1)
                if _checkpoint_due(index + 1, config.checkpoint_every, stop):
                    with interrupts.critical():
                        for point, (store, run_dir) in enumerate(zip(stores, run_dirs)):
                            store.save(index + 1, train.point_state(state, point), rows[point])
                            apex_report.write_csv(rows[point], run_dir.staging / "metrics.csv")
        for store in stores:
            store.close()
        if stop < trainer.num_chunks:
            for run_dir in run_dirs:
                print(run_dir.abandon(f"stopped after chunk {stop} of {trainer.num_chunks} "
                                      "(--max_chunks); rerun the same command to continue"))
            return True
        for point, (point_config, run_dir) in enumerate(zip(configs, run_dirs)):
            summary = summarise(point_config, train.point_state(state, point), rows[point],
                                label)
            apex_report.training_curve(rows[point], run_dir.figure_path("training_curve.png"),
                                       label)
            run_dir.write_report(apex_report.render(point_config.to_dict(), summary,
                                                    rows[point]))
            run_dir.write_summary(summary)
            print(f"{run_dir.path.name}: final_params_sha256 {summary['final_params_sha256']}")
    return True


def _checkpoint_due(chunks: int, every: int, stop: int) -> bool:
    """Whether the state after ``chunks`` chunks is checkpointed: every ``every`` chunks, at the
    ``stop`` of this invocation, and when a stop was asked for (a signal during the chunk)."""
    return chunks % every == 0 or chunks == stop or interrupts.requested() is not None


def _latest_chunk(workdir: Path) -> int | None:
    """The newest checkpoint of a run directory (None without one)."""
    if not (workdir / CHECKPOINTS).is_dir():
        return None
    store = checkpoint.Checkpointer(workdir / CHECKPOINTS, read_only=True)
    try:
        return store.latest()
    finally:
        store.close()


def summarise(config, state, rows: list[dict], label: str) -> dict:
    """The headline numbers of a finished run."""
    resumed_at = [row["chunk"] - 1 for row in rows if row.get("resumed")]
    speeds = [row["env_steps_per_s"] for row in rows if not row.get("compiled")]
    accs = [row["final_val_acc"] for row in rows[-10:] if row.get("final_val_acc") is not None]
    return {
        "benchmark": label, "preset": config.preset, "seed": config.seed,
        "final_params_sha256": checkpoint.params_sha256(state.params),
        "chunks": len(rows), "env_steps": int(state.env_steps), "episodes": int(state.episodes),
        "trained_samples": int(state.trained_samples),
        "learner_steps": int(state.learner_steps),
        "final_val_acc_last": sum(accs) / len(accs) if accs else None,
        "env_steps_per_s": statistics.median(speeds) if speeds else None,
        "training_seconds": sum(row["seconds"] for row in rows),
        "resumed_at_chunks": resumed_at,
    }


if __name__ == "__main__":
    common.run_main(main, _CONFIG, sweep.Together(TOGETHER, train_together))
