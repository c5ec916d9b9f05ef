"""The packaged nasjax/configs/evaluate.py, as a checkout's `--config=configs/evaluate.py`."""

from nasjax.configs.evaluate import *  # noqa: F403
