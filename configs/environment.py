"""The packaged nasjax/configs/environment.py, as a checkout's `--config=configs/environment.py`."""

from nasjax.configs.environment import *  # noqa: F403
