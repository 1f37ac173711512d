"""CurriculumCallback: the curriculum baselines, apart from mixing.

At fit start it draws a pool of training samples in the strategy's fixed mixture (by default as
many as the run trains on, steps x global batch, as the authors do), scores every sample with a
reference model (the mean answer-token loss, through the same evaluation path as validation: the
start model, or the checkpoint `mixing.curriculum_reference`), and hands the data module the pool
with the order in which the run takes its rows (skillit.mixing.curricula): paced by stages for the
sample-level curricula, skill by skill for the skill-level ones. The order is a pure function of
the scores and the seed, so only the scores are checkpointed; a resumed run rebuilds the same order
and continues it exactly.
"""

from __future__ import annotations

import copy
from typing import Any

import lightning as L
import numpy as np

from skillit.build import load_initial_weights
from skillit.mixing.curricula import CurriculumSchedule
from skillit.model.evaluation import score_samples


class CurriculumCallback(L.Callback):
    def __init__(
        self,
        schedule: CurriculumSchedule,
        total_steps: int,
        global_batch_size: int,
        seed: int,
        pool_size: int | None = None,
        reference: str | None = None,
    ) -> None:
        self.schedule = schedule
        self.total_steps = total_steps
        self.global_batch_size = global_batch_size
        self.seed = seed
        self.pool_size = pool_size or total_steps * global_batch_size
        self.reference = reference
        self.scores: np.ndarray | None = None  # reference-model loss per pool sample

    def state_dict(self) -> dict[str, Any]:
        return {"scores": None if self.scores is None else self.scores.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("scores") is not None:
            self.scores = np.asarray(state["scores"], dtype=np.float64)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dm = trainer.datamodule
        pool = dm.draw_pool(self.pool_size, self.seed)
        if self.scores is None:  # a fresh run; a resumed one kept them in its checkpoint
            self.scores = score_samples(
                self._reference_network(pl_module), pool, dm.eval_batch_size, pl_module.device
            )
        order = self.schedule.plan(
            self.scores, dm.pool_labels(pool), self.total_steps, self.global_batch_size, self.seed
        )
        dm.set_pool(pool, order)

    def _reference_network(self, pl_module: L.LightningModule):
        if self.reference is None:
            return pl_module.network  # the start model
        network = copy.deepcopy(pl_module.network)
        load_initial_weights(network, self.reference, key="mixing.curriculum_reference")
        return network
