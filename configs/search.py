"""The packaged nasjax/configs/search.py, as a checkout's `--config=configs/search.py`."""

from nasjax.configs.search import *  # noqa: F403
