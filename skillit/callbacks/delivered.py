"""DeliveredCounts: the rows and non-pad tokens each training skill got in a round.

Counted from the batches themselves, so the record says what a round actually trained on (a
mixture is a request; a block plan, a pool or rounding decide the rows). Summed over the ranks
once per round, when first asked; a checkpoint inside a round keeps the counts so far.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import lightning as L
import torch

if TYPE_CHECKING:
    from skillit.callbacks.mixing import RoundOutcome


class DeliveredCounts(L.Callback):
    def __init__(self, train_skills: list[str], pad_id: int) -> None:
        self.train_skills = list(train_skills)
        self.pad_id = pad_id
        self._lookup: torch.Tensor | None = None  # source skill id -> training skill index
        self._counts: torch.Tensor | None = None  # (2, k): samples and tokens this round
        self._round = 0
        self._restored: tuple[int, list] | None = None
        self._totals: tuple[int, dict[str, dict[str, int]]] | None = None  # (round, reduced)

    def state_dict(self) -> dict[str, Any]:
        return {
            "delivered_round": self._round,
            "delivered": None if self._counts is None else self._counts.cpu().tolist(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("delivered") is not None:
            self._restored = (int(state["delivered_round"]), state["delivered"])

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning does not call on_train_epoch_start for a round resumed at a step inside it
        self.on_train_epoch_start(trainer, pl_module)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._lookup is None:
            self._lookup = trainer.datamodule.skill_lookup().to(pl_module.device)
        k, round_t = len(self.train_skills), trainer.current_epoch + 1
        restored, self._restored = self._restored, None
        if restored is not None and restored[0] == round_t:  # resumed inside this round
            self._counts = torch.tensor(restored[1], dtype=torch.float64).to(pl_module.device)
        else:
            self._counts = torch.zeros(2, k, dtype=torch.float64, device=pl_module.device)
        self._round = round_t

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        skills = self._lookup[batch["skill"]]
        tokens = (batch["input_ids"] != self.pad_id).sum(1)
        self._counts[0].index_add_(0, skills, torch.ones_like(skills, dtype=torch.float64))
        self._counts[1].index_add_(0, skills, tokens.double())

    def totals(self, trainer: L.Trainer) -> dict[str, dict[str, int]]:
        """This round's rows and non-pad tokens per training skill, summed over the ranks (every
        rank must ask, in the same order: it is a collective); {} when no step ran here."""
        if self._counts is None:
            return {}
        if self._totals is None or self._totals[0] != self._round:
            total = trainer.strategy.reduce(self._counts.clone(), reduce_op="sum").cpu().numpy()
            self._totals = (
                self._round,
                {
                    "delivered_samples": {s: int(v) for s, v in zip(self.train_skills, total[0])},
                    "delivered_tokens": {s: int(v) for s, v in zip(self.train_skills, total[1])},
                },
            )
        return self._totals[1]

    def round_record(self, trainer: L.Trainer, outcome: RoundOutcome) -> dict[str, Any]:
        """The round's delivered counts, for its history line."""
        return self.totals(trainer)
