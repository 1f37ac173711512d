"""Addition: one digit of the sum of two d-digit numbers per skill (as used by Skill-It).

Operands are drawn uniformly from 0 .. 10^d - 1 and written with leading zeros, most significant
digit first, one token per digit. Digits of the sum are indexed from the ones digit: ``A 0`` is the
ones digit, ``A 1`` the tens digit, and so on. Skill i (0-based; the paper's skill i + 1) is digit
i of the sum, so there are d skills. The sum can have a (d+1)-th digit, the final carry; like the
paper we make no skill of it (it is 0 or 1 and needs no digit arithmetic of its own).

Formats:

- ``paper`` (default): ``Input: A = 1 0 6 + 0 7 1 , A 0 = ? Output:`` with the answer ``7``.
- ``chain``: ``Input: A = 1 0 6 + 0 7 1 . Output: 7 7`` lists the sum's digits from the ones
  digit up to digit i, so each digit can lean on the ones before it. ``answer_loss="last"``
  scores only digit i (the prompt is everything before it); ``"all"`` scores every listed digit
  (the prompt ends at ``Output:``).

d is at most 10, so that a digit index is one token. Token ids follow :mod:`synthetic.common`:
``VOCAB[j]`` has id ``j + 3``; the vocabulary is the same for every d and format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synthetic.common import (
    ANSWER_LOSSES,
    FORMATS,
    PAD_ID,
    Samples,
    as_rng,
    check_choice,
    draw,
    word_ids,
)

MAX_DIGITS = 10
DIGITS = tuple(str(i) for i in range(10))
VOCAB: tuple[str, ...] = ("Input:", "Output:", "A", "=", "+", ",", "?", ".", *DIGITS)

_ID = word_ids(VOCAB)
_INPUT, _OUTPUT, _A, _EQ, _PLUS = (_ID[w] for w in ("Input:", "Output:", "A", "=", "+"))
_COMMA, _QUESTION, _DOT, _ZERO = _ID[","], _ID["?"], _ID["."], _ID["0"]


def digits_of(x: np.ndarray, d: int) -> np.ndarray:
    """(n, d) digits of each number, most significant first."""
    powers = 10 ** np.arange(d - 1, -1, -1, dtype=np.int64)
    return (x[:, None] // powers) % 10


@dataclass(frozen=True)
class AdditionTask:
    """One addition configuration; :meth:`sample` draws token ids for given skills."""

    digits: int = 3
    fmt: str = "paper"
    answer_loss: str = "last"

    def __post_init__(self) -> None:
        if not 1 <= self.digits <= MAX_DIGITS:
            raise ValueError(f"digits must be between 1 and {MAX_DIGITS}; got {self.digits}")
        check_choice("fmt", self.fmt, FORMATS)
        check_choice("answer_loss", self.answer_loss, ANSWER_LOSSES)

    @property
    def n_skills(self) -> int:
        return self.digits

    @property
    def vocab(self) -> tuple[str, ...]:
        return VOCAB

    def skill_names(self) -> list[str]:
        return [f"add{i + 1}" for i in range(self.n_skills)]

    def sample(self, skills: np.ndarray, rng: np.random.Generator) -> Samples:
        """One fresh sample per entry of ``skills`` (sum digit indices), vectorised."""
        n, d = len(skills), self.digits
        skills = np.asarray(skills, dtype=np.int64)
        operands = rng.integers(0, 10**d, size=(2, n), dtype=np.int64)
        # Sum digits from the ones digit up: total_digits[:, i] is digit i.
        total_digits = digits_of(operands.sum(axis=0), d)[:, ::-1]
        head = np.empty((n, 2 * d + 4), dtype=np.int64)  # Input: A = a.. + b..
        head[:, 0] = _INPUT
        head[:, 1] = _A
        head[:, 2] = _EQ
        head[:, 3 : 3 + d] = _ZERO + digits_of(operands[0], d)
        head[:, 3 + d] = _PLUS
        head[:, 4 + d :] = _ZERO + digits_of(operands[1], d)
        rows = np.arange(n)
        if self.fmt == "paper":
            length = 2 * d + 11
            ids = np.empty((n, length), dtype=np.int64)
            ids[:, : 2 * d + 4] = head
            ids[:, 2 * d + 4 : length - 1] = [_COMMA, _A, _ZERO, _EQ, _QUESTION, _OUTPUT]
            ids[:, 2 * d + 6] = _ZERO + skills
            ids[:, -1] = _ZERO + total_digits[rows, skills]
            mask = np.zeros((n, length), dtype=bool)
            mask[:, -1] = True
            lengths = np.full(n, length, dtype=np.int64)
            return Samples(ids, lengths, lengths - 1, mask, skills, VOCAB)

        start = 2 * d + 6
        top = int(skills.max()) + 1 if n else 1
        listed = np.arange(top) <= skills[:, None]
        ids = np.full((n, start + top), PAD_ID, dtype=np.int64)
        ids[:, : 2 * d + 4] = head
        ids[:, 2 * d + 4] = _DOT
        ids[:, 2 * d + 5] = _OUTPUT
        ids[:, start:] = np.where(listed, _ZERO + total_digits[:, :top], PAD_ID)
        mask = np.zeros(ids.shape, dtype=bool)
        mask[:, start:] = listed if self.answer_loss == "all" else np.arange(top) == skills[:, None]
        lengths = start + skills + 1
        prompt = lengths - 1 if self.answer_loss == "last" else np.full(n, start)
        return Samples(ids, lengths, prompt, mask, skills, VOCAB)


def generate(
    n: int,
    digits: int = 3,
    seed: int | np.random.Generator = 0,
    proportions: Sequence[float] | None = None,
    fmt: str = "paper",
    skill: int | np.ndarray | None = None,
    answer_loss: str = "last",
    avoid: np.ndarray | None = None,
) -> Samples:
    """n addition samples, deterministic from ``seed``; skills and ``avoid`` as in lego.generate."""
    task = AdditionTask(digits, fmt, answer_loss)
    return draw(task, n, as_rng(seed), proportions=proportions, skill=skill, avoid=avoid)
