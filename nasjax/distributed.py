"""Several processes (hosts) through JAX's multi-controller runtime, with the numbers of one.

Every process runs the same program: ``jax.distributed.initialize`` connects them, a global
mesh (``jax.make_mesh`` over every process's devices, :mod:`nasjax.sharding`) splits a batch
of episodes, trials or Ape-X shards over all devices, and :func:`gather` brings the results
back to every process (``jax.experimental.multihost_utils``), so that every host computes the
same summaries and only process 0 writes them. On CPU, collectives between processes use gloo.

:class:`Settings` holds the arguments of ``jax.distributed.initialize``; :func:`check` refuses
bad ones in one line before anything connects; :func:`initialize` connects, and turns an
unreachable coordinator, a coordinator port already taken or a refused registration into one
line (what the runtime reports only by aborting, ``nasjax.launch.runtime_log`` turns into one).
:func:`announce` lets the others wait for process 0 longer than a collective would.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from typing import Any

import jax
import numpy as np
from jax._src import distributed as runtime  # its client: the coordination service's store
from jax.experimental import multihost_utils

RETRY_SECONDS = 1.0  # between attempts to reach the coordinator


class DistributedError(ValueError):
    """The processes cannot start or go on together; the message is one line."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """The arguments of ``jax.distributed.initialize``.

    Attributes:
      coordinator_address: ``HOST:PORT`` of process 0's coordination service.
      num_processes: how many processes run the job.
      process_id: this process's index, ``0 <= process_id < num_processes``.
      auto: let JAX detect the cluster (SLURM, Open MPI, TPU) instead of the three above.
      initialization_timeout: seconds to wait for every process to connect.
      heartbeat_timeout: seconds without a heartbeat after which a process counts as gone
        and the others stop.
    """

    coordinator_address: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    auto: bool = False
    initialization_timeout: int = 120
    heartbeat_timeout: int = 60

    @property
    def enabled(self) -> bool:
        """Whether the run spans processes (any argument given, or cluster detection)."""
        return self.auto or any(value is not None for value in (
            self.coordinator_address, self.num_processes, self.process_id))


def check(settings: Settings) -> None:
    """Refuses arguments that cannot start a run, before anything connects.

    Raises:
      DistributedError: one line naming the flag and the fix.
    """
    if settings.initialization_timeout < 1 or settings.heartbeat_timeout < 1:
        raise DistributedError("--initialization_timeout and --heartbeat_timeout are seconds, "
                               "at least 1")
    if not settings.enabled or settings.auto:
        return
    missing = [flag for flag, value in (
        ("--coordinator_address=HOST:PORT", settings.coordinator_address),
        ("--num_processes=P", settings.num_processes),
        ("--process_id=I", settings.process_id)) if value is None]
    if missing:
        raise DistributedError(f"several processes need {', '.join(missing)} as well (the same "
                               "address and count on every process, its own id on each), or "
                               "--distributed=auto on a SLURM, Open MPI or TPU cluster")
    host, _, port = settings.coordinator_address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DistributedError(f"--coordinator_address={settings.coordinator_address}: give "
                               "HOST:PORT of process 0, e.g. node001:12345")
    if settings.num_processes < 1:
        raise DistributedError(f"--num_processes={settings.num_processes}: at least 1")
    if not 0 <= settings.process_id < settings.num_processes:
        raise DistributedError(f"--process_id={settings.process_id}: must lie in 0.."
                               f"{settings.num_processes - 1} (--num_processes="
                               f"{settings.num_processes}); give each process its own id")


def initialize(settings: Settings) -> None:
    """Connects this process to the others (nothing when ``settings`` is not enabled).

    Raises:
      DistributedError: one line when the coordinator cannot be reached within
        ``initialization_timeout`` or refuses this process (e.g. a duplicate ``process_id``).
    """
    check(settings)
    if not settings.enabled:
        return
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU collectives
    where = ("the cluster's coordinator" if settings.auto
             else f"the coordinator {settings.coordinator_address}")
    if not settings.auto and settings.process_id != 0:
        wait_for(settings.coordinator_address, settings.initialization_timeout)
    elif not settings.auto:
        check_coordinator(settings.coordinator_address)
    try:
        jax.distributed.initialize(
            coordinator_address=settings.coordinator_address,
            num_processes=settings.num_processes, process_id=settings.process_id,
            cluster_detection_method="auto" if settings.auto else None,
            initialization_timeout=settings.initialization_timeout,
            heartbeat_timeout_seconds=settings.heartbeat_timeout)
    except Exception as error:  # noqa: BLE001 (the runtime raises RuntimeError / XlaRuntimeError)
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DistributedError(
            f"could not join {where} as process {settings.process_id} within "
            f"{settings.initialization_timeout} s ({first[:200]}); start process 0 and every "
            "other process with the same --coordinator_address and --num_processes, each with "
            "its own --process_id") from None


def wait_for(address: str, timeout: float) -> None:
    """Waits until ``HOST:PORT`` accepts connections (the runtime aborts the process without a
    word when its coordinator cannot be reached, so a process other than 0 checks first).

    Raises:
      DistributedError: one line when it does not within ``timeout`` seconds.
    """
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=RETRY_SECONDS):
                return
        except OSError as error:
            if time.monotonic() + RETRY_SECONDS > deadline:
                raise DistributedError(
                    f"the coordinator {address} did not answer within {timeout:g} s "
                    f"({error.strerror or error}); start process 0 there (it runs the "
                    "coordinator), check the address, or raise --initialization_timeout") from None
            time.sleep(RETRY_SECONDS)


def check_coordinator(address: str) -> None:
    """Checks, on process 0, that ``HOST:PORT`` names this host's coordinator: the host resolves
    and the port is free (the runtime binds it on every interface and says nothing when another
    program, e.g. a second process 0, holds it; its processes then wait for peers that register
    elsewhere).

    Raises:
      DistributedError: one line when the host does not resolve or the port is taken.
    """
    host, _, port = address.rpartition(":")
    try:
        socket.getaddrinfo(host.strip("[]"), int(port))
    except OSError as error:
        raise DistributedError(f"--coordinator_address={address}: {host} does not resolve "
                               f"({error.strerror or error}); give process 0's host") from None
    family = socket.AF_INET6 if socket.has_ipv6 else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past connections' TIME_WAIT
        try:
            probe.bind(("::" if family == socket.AF_INET6 else "", int(port)))
        except OSError as error:
            raise DistributedError(
                f"--coordinator_address={address}: process 0 cannot run the coordinator on port "
                f"{port} ({error.strerror or error}): another process 0 or another program holds "
                "it; give every process another free port") from None


def is_runtime_failure(error: BaseException) -> bool:
    """Whether ``error`` is the runtime's (a collective or the coordination service failing,
    e.g. because another process is gone), not the program's."""
    return isinstance(error, jax.errors.JaxRuntimeError) or "Gloo" in str(error)


def put(tree: Any, shardings: Any) -> Any:
    """Each leaf of ``tree`` (the same whole value on every process) placed by its sharding in
    ``shardings`` (a pytree prefix of ``tree``): ``jax.device_put`` when the sharding is this
    process's alone, else a global array to which each process gives its devices' parts."""
    def place(x, sharding):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return x  # already global
        if sharding.is_fully_addressable:
            return jax.device_put(x, sharding)
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            data = place(jax.random.key_data(x), sharding)
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
        x = x if isinstance(x, jax.Array) else np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    return jax.tree.map(lambda sharding, sub: jax.tree.map(lambda x: place(x, sharding), sub),
                        shardings, tree, is_leaf=lambda x: isinstance(x, jax.sharding.Sharding))


def abstract(tree: Any, shardings: Any) -> Any:
    """``jax.ShapeDtypeStruct`` leaves of ``tree`` (shapes and dtypes) carrying their sharding
    in ``shardings`` (a pytree prefix of ``tree``): what a checkpoint restores into."""
    return jax.tree.map(
        lambda sharding, sub: jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), sub),
        shardings, tree, is_leaf=lambda x: isinstance(x, jax.sharding.Sharding))


def to_global(tree: Any, mesh: jax.sharding.Mesh, spec: jax.sharding.PartitionSpec) -> Any:
    """:func:`put` with every leaf sharded by ``spec`` over ``mesh``."""
    sharding = jax.sharding.NamedSharding(mesh, spec)
    return put(tree, jax.tree.map(lambda _: sharding, tree))


def announce(key: str, text: str | None, timeout: int) -> str | None:
    """Process 0's ``text`` on every process (None stays None), through the coordination
    service's key-value store: unlike a collective (gloo gives up on a peer after 30 s), the
    others wait as long as process 0 works, up to ``timeout`` seconds (a process 0 that dies
    ends the wait through its heartbeats). Every process calls it once per ``key``.

    Raises:
      DistributedError: one line when process 0 did not announce within ``timeout``.
    """
    client = runtime.global_state.client  # the runtime's own (Orbax reads it the same way)
    name = f"nasjax/{key}"
    if jax.process_index() == 0:
        if client is not None:  # None: a single process, nobody to tell
            client.key_value_set(name, "" if text is None else "+" + text)
        return text
    try:
        value = client.blocking_key_value_get(name, timeout * 1000)
    except jax.errors.JaxRuntimeError as error:
        raise DistributedError(f"process {jax.process_index()}: process 0 did not finish {key} "
                               f"within {timeout} s ({str(error).splitlines()[0][:200]})") from None
    return value[1:] if value else None


def gather(tree: Any) -> Any:
    """Every leaf of ``tree`` (global arrays) whole on every process, as a local array."""
    return jax.tree.map(jax.numpy.asarray, multihost_utils.process_allgather(tree, tiled=True))
