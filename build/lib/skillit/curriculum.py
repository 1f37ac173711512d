"""CurriculumCallback: sample-level curricula (curriculum / anticurriculum), apart from mixing.

At fit start it draws a fixed pool of training samples in the strategy's (natural) mixture and
scores each one with the start model, the reference model (the mean answer-token loss, through the
same evaluation path as validation). Before every round it hands the data module the admitted
part of the pool under linear pacing: the easiest (or hardest) i/M of the samples in stage i.
The scores are saved in every checkpoint, so a resumed run admits the same samples.

Place it after `SkillItCallback` in the Trainer's callbacks: that one records the round that just
ended and sets the next mixture; this one then narrows the next round to its pool.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np

from skillit.mixing.strategies import CurriculumSchedule
from skillit.model.evaluation import score_samples


class CurriculumCallback(L.Callback):
    def __init__(
        self,
        schedule: CurriculumSchedule,
        round_lengths: list[int],
        pool_size: int,
        seed: int,
    ) -> None:
        self.schedule = schedule
        self.round_lengths = list(round_lengths)
        self.total_steps = sum(self.round_lengths)
        self.pool_size = pool_size
        self.seed = seed
        self.scores: np.ndarray | None = None  # reference-model loss per pool sample
        self.rounds_done = 0
        self._pool = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "rounds_done": self.rounds_done,
            "scores": None if self.scores is None else self.scores.tolist(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rounds_done = int(state.get("rounds_done", 0))
        if state.get("scores") is not None:
            self.scores = np.asarray(state["scores"], dtype=np.float64)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dm = trainer.datamodule
        self._pool = dm.draw_pool(self.pool_size, self.seed)
        if self.scores is None:  # fresh run: the start model is the reference model
            self.scores = score_samples(pl_module, self._pool, dm.eval_batch_size, pl_module.device)
        # The restored round count, not trainer.current_epoch: Lightning restores the loops later.
        self._admit(dm)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        round_t = trainer.current_epoch + 1
        if trainer.sanity_checking or round_t <= self.rounds_done:
            return  # a resume replays the end of the checkpoint's round: already done
        self.rounds_done = round_t
        self._admit(trainer.datamodule)

    def _admit(self, dm) -> None:
        """Set the pool of the round after `rounds_done` (none after the last round)."""
        if self.rounds_done >= len(self.round_lengths):
            return
        first_step = sum(self.round_lengths[: self.rounds_done])
        dm.set_pool(self._pool, self.schedule.pool(self.scores, first_step, self.total_steps))
