"""The packaged nasjax/configs/agents.py, as a checkout's `--config=configs/agents.py`."""

from nasjax.configs.agents import *  # noqa: F403
