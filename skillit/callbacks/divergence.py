"""DivergenceGuard: stop a run whose round trained or evaluated on nothing but non-finite values.

It comes after the run record in the Trainer's list, so the diverged round is on record (its
non-finite values as null) before the run stops with a message that says what to change.
"""

from __future__ import annotations

import lightning as L
import numpy as np

from skillit.callbacks.mixing import MixingCallback
from skillit.errors import SkillitError


class TrainingDiverged(SkillitError):
    """The losses of a whole round are non-finite: going on would only train on NaN."""


class DivergenceGuard(L.Callback):
    def __init__(self, mixing: MixingCallback) -> None:
        self.mixing = mixing  # its round outcome: the round's evaluation

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        outcome = self.mixing.last_round
        if trainer.sanity_checking or outcome is None or outcome.round != trainer.current_epoch + 1:
            return  # a replayed round end: it did not diverge, or it would not be on record
        # summed over ranks, so every rank takes the same decision
        finite = float(
            trainer.strategy.reduce(pl_module.finite_train_steps.clone(), reduce_op="sum")
        )
        why = divergence(outcome.eval_loss, finite)
        if why is not None:
            raise TrainingDiverged(
                f"training diverged: {why} of round {outcome.round} is non-finite (at step "
                f"{trainer.global_step}); the likely cause is a learning rate too high for this "
                f"model (optim.lr={pl_module.optim_cfg.lr:g}): lower optim.lr, keep "
                "optim.grad_clip > 0, or check the data of the skills. The rounds so far are in "
                "mixture_history.jsonl"
            )


def divergence(eval_losses: np.ndarray, finite_train_steps: float) -> str | None:
    """What went non-finite in a round (every evaluation loss, or every training loss), or None."""
    if not np.isfinite(eval_losses).any():
        return "every evaluation loss"
    if finite_train_steps <= 0:
        return "every training loss"
    return None
