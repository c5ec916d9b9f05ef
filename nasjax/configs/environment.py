"""The incremental MDP's settings per search space (Cassimon et al. §§3.2.2, 4.1.1, 4.2.1): the
``env`` block declared in :data:`nasjax.env.FIELDS`, with the defaults of the space's
registration."""

from __future__ import annotations

import ml_collections

from nasjax import env

RULES = env.FIELDS.rules()


def get(space: str = "nb101") -> ml_collections.ConfigDict:
    """The environment block of a registered space."""
    return env.config(space)
