"""Per-skill evaluation as a torchmetrics Metric whose states are sums.

Every state is reduced across ranks by summation, so per-skill loss and accuracy are computed from
global (sum, count) pairs, never as an average of per-rank means (ranks hold uneven shares).
"""

from __future__ import annotations

import torch
from torchmetrics import Metric


class PerSkillEval(Metric):
    full_state_update = False

    def __init__(self, num_skills: int):
        super().__init__()
        self.num_skills = num_skills
        for name in ("loss_sum", "tokens", "correct", "samples"):
            self.add_state(
                name, default=torch.zeros(num_skills, dtype=torch.float64), dist_reduce_fx="sum"
            )

    def update(
        self,
        skill: torch.Tensor,
        loss_sum: torch.Tensor,
        tokens: torch.Tensor,
        correct: torch.Tensor,
    ) -> None:
        skill = skill.long()
        self.loss_sum.index_add_(0, skill, loss_sum.to(torch.float64))
        self.tokens.index_add_(0, skill, tokens.to(torch.float64))
        self.correct.index_add_(0, skill, correct.to(torch.float64))
        self.samples.index_add_(0, skill, torch.ones_like(skill, dtype=torch.float64))

    def compute(self) -> dict[str, torch.Tensor]:
        return {
            "loss": self.loss_sum / self.tokens.clamp_min(1),
            "acc": self.correct / self.samples.clamp_min(1),
            "samples": self.samples,
        }
