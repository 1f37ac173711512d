"""Output hygiene for processes that skillit starts itself (the CLI, bench and probe workers).

Library callers of `skillit.train.train` keep their own warning filters and log levels: only
process entry points call these.
"""

from __future__ import annotations

import logging
import warnings


def quiet_known_warnings() -> None:
    """Hide warnings that do not apply to skillit's loaders (they shard by worker themselves)."""
    warnings.filterwarnings("ignore", message=".*IterableDataset. has .__len__. defined.*")
    warnings.filterwarnings("ignore", message=".*isinstance.treespec, LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*litlogger.*")


def quiet_lightning() -> None:
    """Many short runs in one process (probes, bench runs): keep Lightning's banners out."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
