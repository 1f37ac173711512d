"""Sources backed by the synthetic generators: fresh LEGO or addition samples on every call.

Each skill has a fixed validation set (``val_size`` samples drawn from ``val_seed`` and the skill
index only, so it does not move with the training seed). Training samples are generated on demand
from the caller's random generator and redrawn if they coincide with any validation sample.
Token ids come straight from the generator; the tokenizer is a WordLevel one over the generator's
vocabulary, which maps the rendered text to the same ids (ids 0..2 are <pad>, <unk>, <eos>).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from skillit.errors import SkillitError
from skillit.sources.base import SkillExamples
from skillit.tokenization import wordlevel_tokenizer
from synthetic import addition, lego
from synthetic.common import (
    ANSWER_LOSSES,
    FORMATS,
    PAD_ID,
    Samples,
    Task,
    draw,
    normalise_proportions,
    validation_samples,
)


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SkillitError(f"{key} must be one of {', '.join(choices)}; got {value!r}")


def _check_common(prefix: str, cfg, n_skills: int) -> None:
    """Checks shared by both configs; keys are named as they appear in a run config."""
    _check_choice(f"{prefix}.fmt", cfg.fmt, FORMATS)
    _check_choice(f"{prefix}.answer_loss", cfg.answer_loss, ANSWER_LOSSES)
    if cfg.proportions is not None:
        props = list(cfg.proportions)
        if len(props) != n_skills:
            raise SkillitError(
                f"{prefix}.proportions must have {n_skills} entries (one per skill), got "
                f"{len(props)}; or leave it null for uniform"
            )
        if any(not np.isfinite(p) or p < 0 for p in props) or sum(props) <= 0:
            raise SkillitError(
                f"{prefix}.proportions must be finite, non-negative and not all zero; got {props}"
            )
    if cfg.val_size < 1:
        raise SkillitError(f"{prefix}.val_size must be >= 1, got {cfg.val_size}")


@dataclass
class GeneratedSourceConfig:
    """What both generators take: the format, what is scored, the natural mix, validation sets."""

    fmt: str = "paper"  # paper | chain (chain-of-answers, learns fast on CPU)
    answer_loss: str = "last"  # chain format: score the asked value only (last) or all values
    proportions: list[float] | None = (
        None  # natural skill mix, one weight per skill; None = uniform
    )
    val_size: int = 100  # validation samples per skill
    val_seed: int = 1234  # seed of the validation sets, independent of the training seed


@dataclass
class LegoSourceConfig(GeneratedSourceConfig):
    """LEGO data (see synthetic/lego.py): skill i asks for a variable at depth i."""

    k: int = 5  # number of variables, 1..26
    structure: str = "chain"  # chain | tree (balanced binary tree in breadth-first order)

    def __post_init__(self) -> None:
        if not 1 <= self.k <= lego.MAX_K:
            raise SkillitError(f"data.lego.k must be between 1 and {lego.MAX_K}, got {self.k}")
        _check_choice("data.lego.structure", self.structure, lego.STRUCTURES)
        _check_common("data.lego", self, lego.skill_count(self.k, self.structure))

    def task(self) -> lego.LegoTask:
        return lego.LegoTask(self.k, self.structure, self.fmt, self.answer_loss)


@dataclass
class AdditionSourceConfig(GeneratedSourceConfig):
    """Addition data (see synthetic/addition.py): skill i is digit i of the sum, ones first."""

    digits: int = 3  # digits per operand, 1..10; one skill per digit

    def __post_init__(self) -> None:
        if not 1 <= self.digits <= addition.MAX_DIGITS:
            raise SkillitError(
                f"data.addition.digits must be between 1 and {addition.MAX_DIGITS}, "
                f"got {self.digits}"
            )
        _check_common("data.addition", self, self.digits)

    def task(self) -> addition.AdditionTask:
        return addition.AdditionTask(self.digits, self.fmt, self.answer_loss)


def _to_examples(samples: Samples, copy: bool = False) -> SkillExamples:
    if copy:  # cached sets: callers may modify what they get without touching the cache
        return SkillExamples(samples.ids.copy(), samples.answer_mask.copy(), samples.skill.copy())
    return SkillExamples(samples.ids, samples.answer_mask, samples.skill)


class GeneratedSource:
    """A :class:`~skillit.sources.base.SkillSource` over a synthetic task."""

    def __init__(self, task: Task, proportions, val_size: int, val_seed: int) -> None:
        self.task = task
        self._proportions = normalise_proportions(proportions, task.n_skills)
        self._validation = [
            validation_samples(task, s, val_size, val_seed) for s in range(task.n_skills)
        ]
        self._val_hashes = np.unique(np.concatenate([v.hashes() for v in self._validation]))
        self._tokenizer: Tokenizer | None = None

    @property
    def skill_names(self) -> list[str]:
        return self.task.skill_names()

    @property
    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            self._tokenizer = wordlevel_tokenizer(self.task.vocab)
        return self._tokenizer

    @property
    def pad_id(self) -> int:
        return PAD_ID

    def natural_proportions(self) -> np.ndarray:
        return self._proportions.copy()

    def train_samples(self, skill: int, n: int, rng: np.random.Generator) -> Samples:
        """n fresh training samples of one skill, with their text (never a validation sample)."""
        self._check_skill(skill)
        try:
            return draw(self.task, n, rng, skill=skill, avoid=self._val_hashes)
        except ValueError as exc:  # sample space exhausted by the validation set
            raise SkillitError(f"{self.skill_names[skill]}: {exc}; lower val_size") from exc

    def train_examples(self, skill: int, n: int, rng: np.random.Generator) -> SkillExamples:
        return _to_examples(self.train_samples(skill, n, rng))

    def validation_examples(self, skill: int) -> SkillExamples:
        self._check_skill(skill)
        return _to_examples(self._validation[skill], copy=True)

    def validation_samples(self, skill: int) -> Samples:
        """The validation set with its text (prompts and answers), for inspection and decoding."""
        self._check_skill(skill)
        return self._validation[skill]

    def _check_skill(self, skill: int) -> None:
        if not 0 <= skill < self.task.n_skills:
            raise IndexError(f"skill {skill} is not in 0..{self.task.n_skills - 1}")


class LegoSource(GeneratedSource):
    def __init__(self, cfg: LegoSourceConfig) -> None:
        self.cfg = cfg
        super().__init__(cfg.task(), cfg.proportions, cfg.val_size, cfg.val_seed)


class AdditionSource(GeneratedSource):
    def __init__(self, cfg: AdditionSourceConfig) -> None:
        self.cfg = cfg
        super().__init__(cfg.task(), cfg.proportions, cfg.val_size, cfg.val_seed)
