"""A NAS-Bench-301 benchmark computed from genotypes by a tree ensemble (jitted, batched).

NAS-Bench-301 scores a genotype with the mean of an ensemble of XGBoost regressors over the 56
features of :mod:`nb301_features` (Cassimon et al. §4.2 query it without noise). Here the
ensemble is a :class:`trees.TreeEnsemble`: a query is ``features -> trees.predict`` under
``jit``, with ``mode="mean"`` the members' mean (NumPy's summation order, bit for bit) and
``mode="noisy"`` a draw of Normal(mean, std over members), as the official ``with_noise`` does
(``np.random.normal(loc=np.mean(preds), scale=np.std(preds))``, population std).

The official members predict the validation accuracy in percent; ``percent=True`` divides by
100 (exactly, in float32), so accuracies are fractions as for every nasjax benchmark, clipped
to [0, 1] (a mean prediction is inside it; a noisy draw may not be). The ensembles predict no
test accuracy, training time or parameter count: those fields are NaN.
"""

from __future__ import annotations

import json
from pathlib import Path

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from nasjax import paths
from nasjax.benchmarks import base, nb301_features, trees
from nasjax.spaces import nb301

PERCENT = 100.0  # the official ensemble's unit: validation accuracy in percent


@flax.struct.dataclass
class EnsembleBenchmark(base._Described):
    """A tree ensemble over NAS-Bench-301 genotypes; implements the Benchmark protocol."""

    ensemble: trees.TreeEnsemble  # M members over the 56 official features
    name: str = flax.struct.field(pytree_node=False, default="nb301")
    space: str = flax.struct.field(pytree_node=False, default="nb301")
    info: tuple = flax.struct.field(pytree_node=False, default=())  # ((key, value), ...)
    percent: bool = flax.struct.field(pytree_node=False, default=True)  # members predict %
    note: str = flax.struct.field(pytree_node=False, default="")  # shown in the label

    @property
    def label(self) -> str:
        """The name for tables and plots, with the benchmark's note (what it was fitted on)."""
        return f"{self.name} ({self.note})" if self.note else self.name

    @property
    def held_out(self) -> dict:
        """The held-out quality stored with a fitted ensemble ({} when it has none)."""
        value = self.metadata.get("held_out", "{}")
        return json.loads(value) if isinstance(value, str) else dict(value)

    @property
    def has_test(self) -> bool:
        """The ensembles predict validation accuracy only."""
        return False

    def member_predictions(self, arch: nb301.Genotype) -> jax.Array:
        """float32[..., M]: each member's raw prediction (percent for the official members)."""
        return trees.predict(self.ensemble, nb301_features.features(arch))

    def query(self, arch: nb301.Genotype, key: jax.Array | None = None,
              mode: str = "mean") -> base.Metrics:
        """Metrics of genotypes ``Genotype[...]`` (see :func:`nasjax.benchmarks.base.query`)."""
        base.check_mode(mode, key)
        valid = nb301.is_valid(arch)
        preds = self.member_predictions(arch)
        value = trees.ensemble_mean(preds)
        if mode == "noisy":
            value = value + jnp.std(preds, axis=-1) * jax.random.normal(key, value.shape)
        if self.percent:  # one exact float32 division: a divisor made from the data, behind
            # a barrier, keeps XLA from folding it into the mean's (x / M / 100 -> x / (100 M))
            # or into a product with 1/100 (see trees.ensemble_mean)
            value, scale = lax.optimization_barrier(
                (value, jnp.abs(value) * 0.0 + jnp.float32(PERCENT)))
            value = value / scale
        nan = jnp.float32(jnp.nan)
        val_acc = jnp.where(valid, jnp.clip(value, 0.0, 1.0), nan).astype(jnp.float32)
        missing = jnp.full(valid.shape, nan, jnp.float32)
        return base.Metrics(valid=valid, val_acc=val_acc, test_acc=missing,
                            train_seconds=missing, params=missing)

    @property
    def num_members(self) -> int:
        """Ensemble members."""
        return self.ensemble.num_members


def load_file(path: str | Path, name: str, remake: str, info: dict | None = None,
              percent: bool = True, note: str = "") -> EnsembleBenchmark:
    """The benchmark of an ensemble file written by :func:`trees.save` into the data directory,
    verified against its checksum file first (see :func:`from_ensemble`).

    Raises:
      DataFileError: naming the file and ``remake`` when it is missing or fails its checksum.
      ValueError: a verified file that is not a tree ensemble file.
    """
    paths.verify(path, remake)
    ensemble, metadata = trees.load(path)
    return from_ensemble(ensemble, name, {**metadata, **(info or {})}, percent, note)


def from_ensemble(ensemble: trees.TreeEnsemble, name: str, metadata: dict,
                  percent: bool = True, note: str = "") -> EnsembleBenchmark:
    """The benchmark of an ensemble and its metadata; values that are not scalars are kept as
    JSON text (``info`` is static)."""
    pairs = tuple(sorted((k, v if isinstance(v, (str, int, float, bool)) else _json(v))
                         for k, v in metadata.items()))
    return EnsembleBenchmark(ensemble=ensemble, name=name, info=pairs, percent=percent, note=note)


def _json(value) -> str:
    return json.dumps(value, default=str)


def describe(ensemble: trees.TreeEnsemble) -> dict:
    """Size of an ensemble: members, trees per member, nodes, deepest tree."""
    return {"members": ensemble.num_members, "trees_per_member": list(ensemble.num_trees),
            "nodes": int(ensemble.node.shape[0]),
            "max_depth": int(np.asarray(ensemble.chunk_depth).max())}
