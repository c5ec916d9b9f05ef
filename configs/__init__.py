"""A checkout's config files: each re-exports its packaged module in nasjax/configs/."""
