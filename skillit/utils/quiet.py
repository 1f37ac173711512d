"""Output hygiene for processes that skillit starts itself (the CLI, bench and probe workers).

Library callers of `skillit.training.train` keep their own warning filters and log levels: only
process entry points call these.
"""

from __future__ import annotations

import logging
import sys
import warnings

from tqdm import tqdm


def quiet_known_warnings() -> None:
    """Hide warnings that do not apply to skillit's loaders (they shard by worker themselves)."""
    warnings.filterwarnings("ignore", message=".*IterableDataset. has .__len__. defined.*")
    warnings.filterwarnings("ignore", message=".*isinstance.treespec, LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*litlogger.*")
    # the data module restarts a round's stream after the checkpoint's step itself
    warnings.filterwarnings(
        "ignore", message=".*ended before the epoch ended and your dataloader.*"
    )


def plain_skillit_warnings() -> None:
    """Show skillit's own warnings as `skillit: warning: ...`, without a source location."""
    from skillit.errors import SkillitWarning

    default = warnings.formatwarning

    def formatwarning(message, category, filename, lineno, line=None):
        if issubclass(category, SkillitWarning):
            return f"skillit: warning: {message}\n"
        return default(message, category, filename, lineno, line)

    warnings.formatwarning = formatwarning


def quiet_lightning() -> None:
    """Keep Lightning's banners (device availability, tips, stop reasons) out of the output.

    Call it after Lightning is imported: it sets its loggers' levels when it loads.
    """
    for name in (
        "lightning",
        "lightning.pytorch",
        "lightning.fabric",
        "lightning.pytorch.utilities.rank_zero",
        "lightning.fabric.utilities.rank_zero",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)


def show_skillit_info() -> None:
    """Print skillit's own INFO lines (the device, the rounds, progress) as `skillit: ...` on
    stdout, each on a line of its own above any live bar."""

    logger = logging.getLogger("skillit")
    if not logger.handlers:
        handler = TqdmLineHandler()
        handler.setFormatter(logging.Formatter("skillit: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


class TqdmLineHandler(logging.Handler):
    """A logging handler writing each record on its own stdout line, above any live bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stdout)
        except Exception:  # a closed stream must not end the run
            self.handleError(record)
