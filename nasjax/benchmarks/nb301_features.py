"""The 56 values NAS-Bench-301's official surrogate reads, computed from genotypes in JAX.

The official API (``nasbench301``, Siems, Zimmer et al. 2020) queries a genotype in four
steps, reproduced here without ConfigSpace:

1. ``representations.convert_genotype_to_config``: node ``k`` (DARTS node ``k + 2``) of
   cell ``c`` owns edges ``EDGE_START[k] + i`` for its inputs ``i`` (edges 0-1, 2-4, 5-8,
   9-13); hyperparameter ``edge_{c}_{e}`` is the op on edge ``e`` and, for ``k >= 1``,
   ``inputs_node_{c}_{k+2}`` the sorted input pair ``"a_b"``;
2. ``api.fixed_hyperparameters`` adds the fixed training settings (:data:`FIXED`);
3. ``surrogate_models/utils.py`` ``ConfigLoader.load_config_space`` reads the official
   configuration space but re-bounds ``layers``, ``init_channels`` and ``T_max`` as
   integers in ``1..10000`` and ``eta_min`` as a float in ``0..10000``;
4. ``XGBModel.query`` takes ``Configuration.get_array()`` (ConfigSpace 0.4.12) and
   replaces NaN (inactive) by -1.

``get_array()`` orders the hyperparameters unconditional first, then conditional (the edges
of nodes 1..3, active only when their input is in the node's pair), each group sorted by
name as strings (so ``edge_normal_10`` precedes ``edge_normal_2``): :data:`FEATURE_NAMES`.
A categorical value is its choice index (ops in :data:`nb301.OP_NAMES` order, input pairs
in lexicographic order, :func:`nb301.pair_rank`); a constant is 0; a uniform numeric value
``v`` in ``[lower, upper]`` is ``(v - lower) / (upper - lower)``, on ``log`` scale when the
hyperparameter is logarithmic, with integer bounds widened by 0.49999 each side; a normal
logarithmic value is ``log(v)``. The fixed values are computed in float64 and rounded once
to float32, as XGBoost's ``DMatrix`` rounds the official float64 array. Only valid genotypes
have official features.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.spaces import nb301
from nasjax.spaces.nb301 import NUM_CELLS, NUM_NODES, Genotype

DARTS = "NetworkSelectorDatasetInfo:darts:"
INACTIVE = -1.0  # value of an inactive (conditional) hyperparameter
EDGE_START = np.array([k * (k + 3) // 2 for k in range(NUM_NODES)])  # 0, 2, 5, 9
NUM_EDGES = int(EDGE_START[-1]) + NUM_NODES + 1  # 14 edges per cell
_INT_WIDENING = 0.49999  # ConfigSpace 0.4.12 UniformIntegerHyperparameter bounds +- this

# The fixed training settings of a genotype query (nasbench301 ``api.fixed_hyperparameters``)
# and each one's hyperparameter in the loader's configuration space (``configspace.json`` with
# ``ConfigLoader.load_config_space``'s re-bounds of layers, init_channels, T_max, eta_min):
# name -> (value, kind, bounds or choices, log).
FIXED: dict[str, tuple] = {
    "CreateImageDataLoader:batch_size": (96, "int", (64, 128), True),
    "ImageAugmentation:augment": (True, "categorical", (True,), False),
    "ImageAugmentation:autoaugment": (False, "categorical", (False, True), False),
    "ImageAugmentation:cutout": (True, "categorical", (True,), False),
    "ImageAugmentation:cutout_holes": (1, "int", (1, 3), False),
    "ImageAugmentation:cutout_length": (16, "int", (1, 50), False),
    "ImageAugmentation:fastautoaugment": (False, "categorical", (False, True), False),
    "LossModuleSelectorIndices:loss_module": ("cross_entropy", "categorical",
                                              ("cross_entropy",), False),
    DARTS + "auxiliary": (True, "categorical", (True,), False),
    DARTS + "drop_path_prob": (0.2, "constant", (), False),
    DARTS + "init_channels": (32, "int", (1, 10000), False),
    DARTS + "layers": (8, "int", (1, 10000), False),
    "NetworkSelectorDatasetInfo:network": ("darts", "categorical", ("darts",), False),
    "OptimizerSelector:optimizer": ("sgd", "categorical", ("sgd",), False),
    "OptimizerSelector:sgd:learning_rate": (0.025, "normal", (), True),
    "OptimizerSelector:sgd:momentum": (0.9, "float", (0.1, 0.99), False),
    "OptimizerSelector:sgd:weight_decay": (0.0003, "normal", (), True),
    "SimpleLearningrateSchedulerSelector:cosine_annealing:T_max": (100, "int", (1, 10000), False),
    "SimpleLearningrateSchedulerSelector:cosine_annealing:eta_min": (1e-8, "float", (0, 10000),
                                                                     False),
    "SimpleLearningrateSchedulerSelector:lr_scheduler": ("cosine_annealing", "categorical",
                                                         ("cosine_annealing",), False),
    "SimpleTrainNode:batch_loss_computation_technique": ("mixup", "categorical", ("mixup",),
                                                         False),
    "SimpleTrainNode:mixup:alpha": (0.2, "float", (0.01, 0.7), True),
}


def vector_value(value, kind: str, bounds: tuple, log: bool) -> float:
    """ConfigSpace 0.4.12's vector value of one hyperparameter value (see module docstring)."""
    if kind == "categorical":
        return float(bounds.index(value))
    if kind == "constant":
        return 0.0
    if kind == "normal":
        return math.log(value) if log else float(value)
    lower, upper = bounds
    if kind == "int":
        lower, upper = lower - _INT_WIDENING, upper + _INT_WIDENING
    if log:
        value, lower, upper = math.log(value), math.log(lower), math.log(upper)
    return (value - lower) / (upper - lower)


def _edge_name(cell: str, edge: int) -> str:
    return f"{DARTS}edge_{cell}_{edge}"


def _inputs_name(cell: str, node: int) -> str:
    return f"{DARTS}inputs_node_{cell}_{node + nb301.NUM_CELL_INPUTS}"


def _layout() -> tuple[tuple[str, ...], np.ndarray]:
    """Feature names in ``get_array()`` order, and each one's slot in :func:`_values`."""
    slots = {}  # name -> slot: per cell 14 edges then nodes 1..3's input pairs, then FIXED
    per_cell = NUM_EDGES + NUM_NODES - 1
    conditional = []
    for c, cell in enumerate(nb301.CELL_NAMES):
        for edge in range(NUM_EDGES):
            slots[_edge_name(cell, edge)] = c * per_cell + edge
            if edge >= EDGE_START[1]:
                conditional.append(_edge_name(cell, edge))
        for node in range(1, NUM_NODES):
            slots[_inputs_name(cell, node)] = c * per_cell + NUM_EDGES + node - 1
    for i, name in enumerate(FIXED):
        slots[name] = NUM_CELLS * per_cell + i
    unconditional = [name for name in slots if name not in conditional]
    names = tuple(sorted(unconditional) + sorted(conditional))
    return names, np.array([slots[name] for name in names])


FEATURE_NAMES, _SLOTS = _layout()
NUM_FEATURES = len(FEATURE_NAMES)  # 56
_FIXED_VALUES = np.array([vector_value(*spec) for spec in FIXED.values()], np.float64)


def _values(genotypes: Genotype) -> jax.Array:
    """float32[..., 56]: the features in slot order (see :func:`_layout`)."""
    inputs = genotypes.inputs.astype(jnp.int32)
    ops = genotypes.ops.astype(jnp.int32)
    edge = jnp.asarray(EDGE_START)[:, None] + inputs  # [..., 2, 4, 2]
    on_edge = jax.nn.one_hot(edge, NUM_EDGES, dtype=jnp.int32)  # [..., 2, 4, 2, 14]
    edges = jnp.einsum("...kpe,...kp->...e", on_edge, ops + 1) - 1  # -1 where inactive
    low = jnp.minimum(inputs[..., 0], inputs[..., 1])[..., 1:]
    high = jnp.maximum(inputs[..., 0], inputs[..., 1])[..., 1:]
    pairs = nb301.pair_rank(low, high, jnp.asarray(nb301.NUM_INPUT_CHOICES[1:]))
    arch = jnp.concatenate([edges, pairs], -1).reshape(genotypes.shape + (-1,))
    fixed = jnp.broadcast_to(_FIXED_VALUES.astype(np.float32), genotypes.shape + (len(FIXED),))
    return jnp.concatenate([arch.astype(jnp.float32), fixed], -1)


def features(genotypes: Genotype) -> jax.Array:
    """float32[..., 56]: the official surrogate's input row of each valid genotype.

    Column ``j`` is hyperparameter ``FEATURE_NAMES[j]``; inactive edges are -1. Jittable and
    batched over any leading shape; the order of a node's two pairs does not matter.
    """
    return _values(genotypes)[..., _SLOTS]
