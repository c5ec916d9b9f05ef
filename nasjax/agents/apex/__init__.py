"""The Ape-X transformer Q-agent of Cassimon et al. (§3.2.3, Fig. 6; §4.1.1; §4.2.1).

Search-space independent building blocks: they see architectures only as token matrices
``float32[N+1, D]`` (current architecture first, then up to ``N`` neighbours, zero rows at
padding) with an ``action_mask: bool[N+1]`` whose slot 0 ("stay") is always valid.

- :mod:`~nasjax.agents.apex.network`: the transformer dueling Q-network and masked max/argmax;
- :mod:`~nasjax.agents.apex.losses`: n-step returns with partial episode bootstrapping and the
  double-Q Huber loss, rlax style;
- :mod:`~nasjax.agents.apex.replay`: a dense, jittable prioritized replay buffer;
- :mod:`~nasjax.agents.apex.actors`: batched epsilon-greedy Ape-X actors and their 3-step items;
- :mod:`~nasjax.agents.apex.train`: ``make_train``, acting and learning in jitted chunks;
- :mod:`~nasjax.agents.apex.checkpoint`: Orbax checkpoints of the whole train state;
- :mod:`~nasjax.agents.apex.policy`: the trained agent as a greedy policy (registered ``apex``).

Its throughput records are :mod:`nasjax.speed.apex`.
"""

from nasjax.agents.apex import losses, network, replay

__all__ = ["agent", "losses", "network", "replay"]


def agent():
    """The registered ``apex`` agent (:func:`nasjax.agents.apex.policy.agent`; imported on
    use, as it loads Orbax)."""
    from nasjax.agents.apex import policy

    return policy.agent()
