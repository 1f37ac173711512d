"""The training progress bar: `round r/T` and the global step of the budget, no logger version."""

from __future__ import annotations

import sys
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar


class RoundProgressBar(TQDMProgressBar):
    def __init__(self, rounds: int, total_steps: int) -> None:
        # In a log file (not a terminal) every redraw is a new line: redraw rarely there.
        super().__init__(refresh_rate=1 if sys.stderr.isatty() else 50)
        self.rounds = rounds
        self.total_steps = total_steps

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(f"round {trainer.current_epoch + 1}/{self.rounds}")

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)  # a W&B run id means nothing here
        items["step"] = f"{trainer.global_step}/{self.total_steps}"
        return items
