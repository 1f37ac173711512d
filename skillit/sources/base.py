"""The contract between sources of skill data and the rest of skillit.

A source knows a list of skills (by name) and, for each skill, how to produce tokenized training
samples and a fixed validation set. It knows nothing of models, mixtures or ranks: the data module
decides how many samples of which skill to ask for, and passes the random generator to use, so a
given (seed, round, batch) always yields the same samples on every rank.

Samples travel as :class:`SkillExamples`: right-padded token-id arrays with a mask of the positions
that are scored (the answer tokens). Position ``t`` of ``loss_mask`` is True when the token at
``input_ids[t]`` is a target, i.e. the model is scored on predicting it from ``input_ids[:t]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from tokenizers import Tokenizer


@dataclass
class SkillExamples:
    """A batch of tokenized samples. All arrays share the first dimension n."""

    input_ids: np.ndarray  # (n, L) int64, right-padded with the source's pad_id
    loss_mask: np.ndarray  # (n, L) bool, True at answer-token positions
    skill: np.ndarray  # (n,) int64, index into the source's skill_names

    def __post_init__(self) -> None:
        if self.input_ids.ndim != 2 or self.loss_mask.shape != self.input_ids.shape:
            raise ValueError(
                f"input_ids {self.input_ids.shape} and loss_mask {self.loss_mask.shape} must be "
                "2-D arrays of the same shape"
            )
        if self.skill.shape != (self.input_ids.shape[0],):
            raise ValueError(
                f"skill {self.skill.shape} must have shape ({self.input_ids.shape[0]},)"
            )

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def select(self, index: np.ndarray | slice) -> SkillExamples:
        return SkillExamples(self.input_ids[index], self.loss_mask[index], self.skill[index])


def concat_examples(parts: Sequence[SkillExamples], pad_id: int) -> SkillExamples:
    """Stack examples of possibly different lengths, right-padding to the longest."""
    if not parts:
        raise ValueError("concat_examples needs at least one part")
    width = max(p.input_ids.shape[1] for p in parts)
    n = sum(len(p) for p in parts)
    ids = np.full((n, width), pad_id, dtype=np.int64)
    mask = np.zeros((n, width), dtype=bool)
    skill = np.empty(n, dtype=np.int64)
    row = 0
    for p in parts:
        k, w = p.input_ids.shape
        ids[row : row + k, :w] = p.input_ids
        mask[row : row + k, :w] = p.loss_mask
        skill[row : row + k] = p.skill
        row += k
    return SkillExamples(ids, mask, skill)


@runtime_checkable
class SkillSource(Protocol):
    """What the data module needs from any source of skill data."""

    @property
    def skill_names(self) -> list[str]:
        """Every skill this source can produce, in index order."""

    @property
    def tokenizer(self) -> Tokenizer:
        """The tokenizer that maps this source's text to the ids it returns (saved with a run)."""

    @property
    def pad_id(self) -> int:
        """Token id used for right padding (never scored)."""

    def natural_proportions(self) -> np.ndarray:
        """Skill proportions of the data as it is (the 'random' baseline); sums to 1."""

    def train_examples(self, skill: int, n: int, rng: np.random.Generator) -> SkillExamples:
        """n training samples of one skill, drawn with rng (same rng state -> same samples).

        Finite sources sample with replacement from the skill's training pool; generators make
        fresh samples that never coincide with the validation set.
        """

    def validation_examples(self, skill: int) -> SkillExamples:
        """The fixed validation set of one skill (identical on every call and every rank)."""


@runtime_checkable
class RowWriter(Protocol):
    """Optional, for sources whose training samples all have one width (token windows): the
    data module allocates the batch and the source writes each skill's samples into their rows,
    saving a copy of every sample. `write_train_rows` must use rng exactly as `train_examples`
    does for n = len(rows), so both give the same samples."""

    @property
    def train_width(self) -> int:
        """The length of every training sample."""

    def write_train_rows(
        self,
        skill: int,
        rows: np.ndarray,
        rng: np.random.Generator,
        ids: np.ndarray,
        mask: np.ndarray,
    ) -> None:
        """Write len(rows) training samples of `skill` into ids[rows] and mask[rows]."""
