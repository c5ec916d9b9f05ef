"""The incremental MDP's settings per search space (Cassimon et al. §§3.2.2, 4.1.1, 4.2.1)."""

from __future__ import annotations

import ml_collections

from nasjax import config_rules as rules

# alpha: reward shaping exponent (§3.2.2: 6 on NAS-Bench-101, 32 on NAS-Bench-301).
ALPHA = {"nb101": 6.0, "nb301": 32.0}


def get(space: str = "nb101") -> ml_collections.ConfigDict:
    """The environment block of a space."""
    if space not in ALPHA:
        raise ValueError(f"no environment settings for space {space!r}; "
                         f"known: {', '.join(ALPHA)}")
    config = ml_collections.ConfigDict()
    config.max_neighbours = 50  # N, neighbours presented per step (§4.1.1, §5.2)
    config.alpha = ALPHA[space]  # reward shaping exponent; None = no shaping (§5.3)
    config.train_episode_length = 16  # training episodes (§4.1.1)
    config.eval_episode_length = 32  # evaluation episodes (§4.1.1)
    config.query_mode = "mean"  # reward: mean of repeats/members (reduced-noise setting)
    config.neighbourhood = "table" if space == "nb101" else "on_the_fly"  # neighbour strategy
    return config


RULES = {
    "max_neighbours": rules.positive_int(),
    "alpha": rules.number(0.0, low_open=True),
    "train_episode_length": rules.positive_int(),
    "eval_episode_length": rules.positive_int(),
    "query_mode": rules.one_of("mean", "noisy"),
    "neighbourhood": rules.one_of("on_the_fly", "table"),
}
