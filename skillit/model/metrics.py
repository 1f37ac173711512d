"""Per-skill evaluation as a torchmetrics Metric whose states are sums.

Every state is reduced across ranks by summation, so per-skill loss and accuracy are computed from
global (sum, count) pairs, never as an average of per-rank means (ranks hold uneven shares).
"""

from __future__ import annotations

import torch
from torchmetrics import Metric


class PerSkillEval(Metric):
    full_state_update = False
    # scored_tokens: the answer tokens scored (every token of a window, for a corpus)
    STATES = ("loss_sum", "scored_tokens", "seq_loss_sum", "correct", "samples")

    def __init__(self, num_skills: int):
        super().__init__()
        self.num_skills = num_skills
        # seq_loss_sum: the sum over samples of each sample's own mean token loss.
        for name in self.STATES:
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
        self.scored_tokens.index_add_(0, skill, tokens.to(torch.float64))
        per_sample = loss_sum.to(torch.float64) / tokens.to(torch.float64).clamp_min(1)
        self.seq_loss_sum.index_add_(0, skill, per_sample)
        self.correct.index_add_(0, skill, correct.to(torch.float64))
        self.samples.index_add_(0, skill, torch.ones_like(skill, dtype=torch.float64))

    def stacked_states(self) -> torch.Tensor:
        """The sums as one (5, k) tensor, in STATES order: one reduction combines ranks."""
        return torch.stack([getattr(self, name) for name in self.STATES])

    @staticmethod
    def results(states: torch.Tensor) -> dict[str, torch.Tensor]:
        """loss, seq_loss, acc and samples per skill from (5, k) sums in STATES order."""
        loss_sum, tokens, seq_loss_sum, correct, samples = states
        return {
            "loss": loss_sum / tokens.clamp_min(1),  # token-weighted mean
            "seq_loss": seq_loss_sum / samples.clamp_min(1),  # mean of sample means
            "acc": correct / samples.clamp_min(1),
            "samples": samples,
        }

    def compute(self) -> dict[str, torch.Tensor]:
        return self.results(self.stacked_states())
