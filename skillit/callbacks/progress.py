"""What a run shows while it trains: one live bar per round in a terminal, plain lines elsewhere.

Everything skillit says during a run goes to stdout through the `skillit` logger (round lines
included, in one format whether a bar is shown or not), written with `tqdm.write` so that a live
bar is redrawn below a line instead of being broken by it. In a terminal the only bar is the
round's (`round r/T`, no Lightning `Epoch` or validation bars); through a pipe or into a log file
there is no live bar, only a plain progress line every tenth of a round, so a log holds no
carriage returns or escape codes.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

log = logging.getLogger("skillit")


class RoundProgressBar(TQDMProgressBar):
    """The terminal's bar: `round r/T` with the global step of the budget, nothing else."""

    def __init__(self, rounds: int, total_steps: int) -> None:
        super().__init__(refresh_rate=1)
        self.rounds = rounds
        self.total_steps = total_steps

    def init_train_tqdm(self) -> Tqdm:
        bar = super().init_train_tqdm()
        bar.set_description(f"round 1/{self.rounds}")
        return bar

    def init_validation_tqdm(self) -> Tqdm:
        return Tqdm(disable=True)  # an evaluation is a pause of the round's bar, not a bar

    def on_train_epoch_start(self, trainer: L.Trainer, *_: Any) -> None:
        # as Lightning's, with the round's name instead of `Epoch N` (no flash of it)
        bar = self.train_progress_bar
        bar.reset()
        bar.total = self.total_train_batches
        bar.initial = 0
        bar.set_description(f"round {trainer.current_epoch + 1}/{self.rounds}")

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)  # a W&B run id means nothing here
        items["step"] = f"{trainer.global_step}/{self.total_steps}"
        return items


class PlainProgress(L.Callback):
    """Outside a terminal: `round r/T: step s/N, batch loss x` every tenth of a round."""

    def __init__(self, rounds: int, total_steps: int) -> None:
        self.rounds = rounds
        self.total_steps = total_steps

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        steps = trainer.num_training_batches
        every = max(1, steps // 10) if isinstance(steps, int) else 100
        if (batch_idx + 1) % every and batch_idx + 1 != steps:
            return
        # the loss of this step's batch (train/loss in the metrics is logged only every
        # log_every_n_steps, so it would repeat a stale value between logs)
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        shown = f", batch loss {float(loss):.3f}" if loss is not None else ""
        log.info(
            "round %d/%d: step %d/%d%s",
            trainer.current_epoch + 1,
            self.rounds,
            trainer.global_step,
            self.total_steps,
            shown,
        )


def progress_callbacks(rounds: int, total_steps: int, enabled: bool) -> list[L.Callback]:
    """The run's progress display: the round bar in a terminal, plain lines elsewhere."""
    if not enabled:
        return []
    if sys.stdout.isatty():
        return [RoundProgressBar(rounds, total_steps)]
    return [PlainProgress(rounds, total_steps)]
