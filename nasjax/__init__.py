"""nasjax: reinforcement-learning neural architecture search as fast, functional JAX code.

It reimplements Cassimon et al., "Scalable Reinforcement Learning-based Neural Architecture
Search" (the incremental NAS MDP; random search, random walk, local search and an Ape-X
transformer Q-agent on NAS-Bench-101 and NAS-Bench-301) and ReMAADE (a masked attention
autoregressive policy trained with REINFORCE/PPO on NAS-Bench-101).

One core serves every search space: a :class:`~nasjax.spaces.SearchSpace`, a benchmark's
``query``, the environment of :mod:`nasjax.env` and the agents of :mod:`nasjax.agents`, each
registered by name (:mod:`nasjax.registry`):

  >>> import nasjax
  >>> space = nasjax.spaces.get("nb101")
  >>> bench = nasjax.benchmarks.load("nb101-surrogate")
"""

from nasjax import agents, benchmarks, registry, spaces

__version__ = "0.3.0"
__all__ = ["__version__", "agents", "benchmarks", "registry", "spaces"]
