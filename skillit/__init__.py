"""skillit: skill-based data selection for training language models (Skill-It) on Lightning.

`skillit.load_config(...)` and `skillit.train(cfg)` are the Python API (skillit/api.py); they are
imported on first use, so `import skillit` stays light.
"""

__version__ = "0.1.0"

__all__ = ["load_config", "train"]


def __getattr__(name: str):
    if name in __all__:
        from skillit import api

        return getattr(api, name)
    raise AttributeError(f"module 'skillit' has no attribute {name!r}")
