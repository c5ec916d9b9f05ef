"""Batches of independent work (episodes, trials, environments) sharded over all devices.

Episodes and trials are independent given their keys, so a vmapped batch splits over devices
without communication: ``jax.make_mesh`` over the devices and ``jax.shard_map`` with the
batch axis sharded and everything else (benchmark tables, parameters) replicated. Each item
computes the same numbers on 1 and on 8 devices. Tested on CPU with
``XLA_FLAGS=--xla_force_host_platform_device_count=8``. Over several processes
(:mod:`nasjax.distributed`) the mesh spans every process's devices: each process runs its
devices' share of the batch and every process receives the whole result.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec

from nasjax import distributed

AXIS = "batch"


def num_devices() -> int:
    """Devices the batches are sharded over: every process's (the local ones in one process)."""
    return jax.device_count()


def mesh(devices: int, axis: str = AXIS) -> jax.sharding.Mesh:
    """A one-axis mesh over the first ``devices`` devices of all processes (process order)."""
    return jax.make_mesh((devices,), (axis,), axis_types=(jax.sharding.AxisType.Auto,),
                         devices=jax.devices()[:devices])


@functools.cache
def _compiled(fn: Callable, static: tuple, num_args: int, devices: int) -> Callable:
    sharded = jax.shard_map(lambda batch, *args: fn(batch, *args, *static), mesh=mesh(devices),
                            in_specs=(PartitionSpec(AXIS),) + (PartitionSpec(),) * num_args,
                            out_specs=PartitionSpec(AXIS), check_vma=False)
    return jax.jit(sharded)


def map_batch(fn: Callable, batch: Any, *args: Any, static: tuple = ()) -> Any:
    """``fn(batch, *args, *static)`` with ``batch`` (a pytree, leading axis B) sharded over
    the devices of every process and ``args`` replicated; ``fn`` must treat the items of ``batch``
    independently (a ``vmap``). ``static`` values are hashable and compiled in.

    B need not divide the device count: the batch is padded by repeating its first items
    and the padding's results are dropped. Over several processes every process passes the
    same ``batch`` and ``args``, runs its devices' share and returns the whole result.
    """
    devices = num_devices()
    size = jax.tree.leaves(batch)[0].shape[0]
    pad = -size % devices
    if pad:
        batch = jax.tree.map(lambda x: jnp.concatenate([x, x[jnp.arange(pad) % size]]), batch)
    compiled = _compiled(fn, static, len(args), devices)
    if jax.process_count() == 1:
        out = compiled(batch, *args)
    else:
        grid = mesh(devices)
        out = distributed.gather(compiled(distributed.to_global(batch, grid, PartitionSpec(AXIS)),
                                          *distributed.to_global(args, grid, PartitionSpec())))
    return jax.tree.map(lambda x: x[:size], out) if pad else out
