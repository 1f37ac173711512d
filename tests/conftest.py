"""Shared tiny fakes: a toy skill source that needs no generator or file."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from skillit.sources.base import SkillExamples
from skillit.tokenization import wordlevel_tokenizer

# Keep tests light on the 2-core machines and avoid oversubscription with subprocesses.
torch.set_num_threads(1)
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


class ToySource:
    """Skill s: read `length` random digits, then the query token q<s>; answer = digit at position s.

    Every sample is [d0 .. d{L-1}, q<s>, answer]; only the answer is scored. Validation samples use
    their own seed and training draws exclude them, as real sources must.
    """

    def __init__(
        self, num_skills: int = 3, length: int = 4, val_size: int = 40, val_seed: int = 99
    ):
        self.num_skills, self.length, self.val_size = num_skills, length, val_size
        words = [str(d) for d in range(10)] + [f"q{s}" for s in range(num_skills)]
        self._tokenizer = wordlevel_tokenizer(words)
        self.digit0 = self._tokenizer.token_to_id("0")
        self.query0 = self._tokenizer.token_to_id("q0")
        self._val = {
            s: self._make(s, val_size, np.random.default_rng([val_seed, s]))
            for s in range(num_skills)
        }

    @property
    def skill_names(self) -> list[str]:
        return [f"toy{s + 1}" for s in range(self.num_skills)]

    @property
    def tokenizer(self):
        return self._tokenizer

    @property
    def pad_id(self) -> int:
        return 0

    def natural_proportions(self) -> np.ndarray:
        return np.full(self.num_skills, 1.0 / self.num_skills)

    def _make(self, skill: int, n: int, rng: np.random.Generator) -> SkillExamples:
        digits = rng.integers(0, 10, size=(n, self.length))
        ids = np.empty((n, self.length + 2), dtype=np.int64)
        ids[:, : self.length] = digits + self.digit0
        ids[:, self.length] = self.query0 + skill
        ids[:, self.length + 1] = digits[:, skill] + self.digit0
        mask = np.zeros_like(ids, dtype=bool)
        mask[:, -1] = True
        return SkillExamples(ids, mask, np.full(n, skill, dtype=np.int64))

    def train_examples(self, skill: int, n: int, rng: np.random.Generator) -> SkillExamples:
        return self._make(skill, n, rng)

    def validation_examples(self, skill: int) -> SkillExamples:
        return self._val[skill]


@pytest.fixture
def toy_source() -> ToySource:
    return ToySource()
