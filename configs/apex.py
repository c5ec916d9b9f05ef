"""The packaged nasjax/configs/apex.py, as a checkout's `--config=configs/apex.py`."""

from nasjax.configs.apex import *  # noqa: F403
