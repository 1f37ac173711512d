"""Sources backed by the synthetic generators: fresh LEGO, addition or composition samples.

Each skill has a fixed validation set (``val_size`` samples drawn from ``val_seed`` and the skill
index only, so it does not move with the training seed). Training samples are generated on demand
from the caller's random generator and redrawn if they coincide with any validation sample.
Token ids come straight from the generator; the tokenizer is a WordLevel one over the generator's
vocabulary, which maps the rendered text to the same ids (ids 0..2 are <pad>, <unk>, <eos>).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tokenizers import Tokenizer

from skillit.errors import SkillitError
from skillit.sources.base import SkillExamples
from skillit.utils.tokenization import wordlevel_tokenizer
from synthetic import addition, compose, lego
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


def _check_common(prefix: str, cfg, n_skills: int, formats: tuple[str, ...] = FORMATS) -> None:
    """Checks shared by both configs; keys are named as they appear in a run config."""
    _check_choice(f"{prefix}.fmt", cfg.fmt, formats)
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
    check_val_seed(f"{prefix}.val_seed", cfg.val_seed)


def check_val_seed(key: str, seed: int) -> None:
    """numpy seeds a generator from integers >= 0 only (a negative one fails at the first draw)."""
    if seed < 0:
        raise SkillitError(f"{key} must be an integer >= 0, got {seed}")


@dataclass
class GeneratedSourceConfig:
    """What both generators take: the format, what is scored, the natural mix, validation sets."""

    fmt: str = "paper"  # paper | chain (chain-of-answers, learns fast on CPU) | query (LEGO only)
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
        _check_common(
            "data.lego", self, lego.skill_count(self.k, self.structure), lego.LEGO_FORMATS
        )

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
    """A :class:`~skillit.sources.base.SkillSource` over a synthetic task.

    ``avoid_validation``: training samples never coincide with a validation sample (LEGO,
    addition: huge sample spaces); off for tasks whose whole sample space is small enough for
    the validation sets to cover it (composition), where validation measures learning, not
    generalisation.
    """

    def __init__(
        self, task: Task, proportions, val_size: int, val_seed: int, avoid_validation: bool = True
    ) -> None:
        self.task = task
        self._proportions = normalise_proportions(proportions, task.n_skills)
        self._validation = [
            validation_samples(task, s, val_size, val_seed) for s in range(task.n_skills)
        ]
        self._val_hashes = (
            np.unique(np.concatenate([v.hashes() for v in self._validation]))
            if avoid_validation
            else None
        )
        self._tokenizer: Tokenizer | None = None

    @property
    def skill_names(self) -> list[str]:
        return self.task.skill_names()

    @property
    def train_skill_names(self) -> list[str]:
        """Skills that can be trained on (every one, unless a task keeps some for evaluation)."""
        return self.skill_names

    @property
    def eval_skill_names(self) -> list[str] | None:
        """The default evaluation skills (None: the training skills)."""
        return None

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


@dataclass
class ComposeSourceConfig:
    """Composition of fixed permutations (see synthetic/compose.py): skill depth<d> asks for the
    image of a symbol under d of the world's permutations, so each depth builds on the last."""

    n_symbols: int = 8
    n_functions: int = 8
    depths: list[int] = field(default_factory=lambda: [1, 2, 3])
    # The permutation set. null: the run's seed, so every seed of a suite is its own world (and
    # tuning seeds never share a world with reported ones).
    world: int | None = None
    separator: str | None = None  # a word between prompt and answer; null: none
    # Fraction of the deepest skill's function sequences never trained on; > 0 adds the
    # validation-only skill depth<D>_novel (prompts of unseen compositions).
    novel_fraction: float = 0.0
    proportions: list[float] | None = None  # natural mix over the depths; None = uniform
    val_size: int = 256  # validation samples per skill, drawn from the training distribution
    val_seed: int = 1234

    def __post_init__(self) -> None:
        self.task(0)  # the generator checks the world's shape and names the field
        if self.proportions is not None:
            props = list(self.proportions)
            if len(props) != len(self.depths):
                raise SkillitError(
                    f"data.compose.proportions must have {len(self.depths)} entries (one per "
                    f"depth in data.compose.depths), got {len(props)}; or null for uniform"
                )
            if any(not np.isfinite(p) or p < 0 for p in props) or sum(props) <= 0:
                raise SkillitError(
                    "data.compose.proportions must be finite, non-negative and not all zero; "
                    f"got {props}"
                )
        if self.val_size < 1:
            raise SkillitError(f"data.compose.val_size must be >= 1, got {self.val_size}")
        check_val_seed("data.compose.val_seed", self.val_seed)
        if self.world is not None and not 0 <= self.world < 2**32:
            raise SkillitError(
                f"data.compose.world must be in [0, 2**32) or null, got {self.world}"
            )

    def task(self, world: int) -> compose.ComposeTask:
        try:
            return compose.ComposeTask(
                self.n_symbols,
                self.n_functions,
                tuple(self.depths),
                world,
                self.separator,
                self.novel_fraction,
            )
        except ValueError as exc:
            raise SkillitError(f"data.compose: {exc}") from None


class ComposeSource(GeneratedSource):
    """The composition family of one world. Its validation sets come from the training
    distribution (training may draw the same prompts); ``depth<D>_novel``, when configured, is
    validation only."""

    def __init__(self, cfg: ComposeSourceConfig, run_seed: int = 0) -> None:
        self.cfg = cfg
        self.world = cfg.world if cfg.world is not None else run_seed
        task = cfg.task(self.world)
        props = normalise_proportions(cfg.proportions, task.n_train_skills)
        props = np.concatenate([props, np.zeros(task.n_skills - task.n_train_skills)])
        super().__init__(task, props, cfg.val_size, cfg.val_seed, avoid_validation=False)

    @property
    def train_skill_names(self) -> list[str]:
        return self.skill_names[: self.task.n_train_skills]

    def train_samples(self, skill: int, n: int, rng: np.random.Generator) -> Samples:
        if skill >= self.task.n_train_skills:
            raise SkillitError(
                f"{self.skill_names[skill]} holds compositions that are never trained on; it can "
                f"only be evaluated (skills.train must name skills of {self.train_skill_names})"
            )
        return super().train_samples(skill, n, rng)
