"""Sample orders of the curriculum baselines: which pool row every training sample of a run is.

Pure numpy. A run of H steps at global batch G trains N = H * G samples; a schedule lists, for each
of them in order, the row of a scored pool it takes (scores: a reference model's loss per row,
lower is easier), and how many rows were eligible at each step.

- Sample-level curriculum (Bengio et al.; the paper's curriculum / anticurriculum): the rows sorted
  by score, easiest (hardest) first; with linear pacing g(i) = i * H / M, stage i of M admits the
  first ceil(i/M * n) of them, and its steps draw from that prefix without replacement (a fresh
  seeded permutation of the prefix per stage, cycled if a stage needs more rows than it admits).
- Skill-level curriculum (Xu et al. 2020, the paper's skill-curriculum / skill-anticurriculum, the
  authors' group curriculum with no mixing): skills ordered by their mean score, easiest (hardest)
  first; skill j of k trains alone on N / (2k) samples, then the last N / 2 are drawn uniformly from
  the whole pool, every phase without replacement.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from skillit.errors import SkillitError
from skillit.mixing.base import BuildContext
from skillit.mixing.fixed import RandomStrategy
from skillit.sampling import check_weights, derive_rng

# Keys of the generators of a schedule's permutations (apart from every data-stream key).
_PACED_KEY, _SKILL_KEY = 0x5C4ED, 0x5C11


@dataclass(frozen=True)
class SampleSchedule:
    rows: np.ndarray  # (H * G,) pool row of every training sample of the run, in training order
    admitted: np.ndarray  # (H,) pool rows eligible at each step


def _draw_without_replacement(
    candidates: np.ndarray, size: int, rng: np.random.Generator
) -> np.ndarray:
    """`size` rows of `candidates`, each at most once until all are used (then a new permutation)."""
    rounds = math.ceil(size / len(candidates))
    if rounds == 0:
        return np.empty(0, dtype=np.int64)
    return np.concatenate([rng.permutation(candidates) for _ in range(rounds)])[:size]


def ordered_rows(scores: np.ndarray, hardest_first: bool) -> np.ndarray:
    """Row indices from easiest to hardest (or the reverse); ties in row order."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.size == 0 or np.isnan(s).any():
        raise ValueError("scores must be a non-empty 1-D array without NaN")
    return np.argsort(-s if hardest_first else s, kind="stable").astype(np.int64)


def stage_bounds(total_steps: int, stages: int) -> np.ndarray:
    """First step of each of the M stages and the end: stage i holds the steps s with
    (i-1)H/M <= s < iH/M (integer arithmetic, so the boundaries are exact)."""
    if stages < 1 or total_steps < stages:
        raise ValueError(f"need 1 <= stages <= total_steps, got {stages} and {total_steps}")
    return np.array([-(-i * total_steps // stages) for i in range(stages + 1)], dtype=np.int64)


def paced_schedule(
    scores: np.ndarray, stages: int, total_steps: int, batch: int, seed: int, hardest_first: bool
) -> SampleSchedule:
    order = ordered_rows(scores, hardest_first)
    n = order.size
    bounds = stage_bounds(total_steps, stages)
    rows, admitted = [], np.empty(total_steps, dtype=np.int64)
    for i in range(stages):
        size = max(1, math.ceil((i + 1) * n / stages - 1e-9))  # i/M * n lands a hair above
        first, end = int(bounds[i]), int(bounds[i + 1])
        rng = derive_rng(seed, _PACED_KEY, i)
        rows.append(order[_draw_without_replacement(np.arange(size), (end - first) * batch, rng)])
        admitted[first:end] = size
    return SampleSchedule(np.concatenate(rows), admitted)


def skill_schedule(
    scores: np.ndarray,
    skills: np.ndarray,
    total_steps: int,
    batch: int,
    seed: int,
    hardest_first: bool,
) -> SampleSchedule:
    s = np.asarray(scores, dtype=np.float64)
    skills = np.asarray(skills, dtype=np.int64)
    order = skill_order(s, skills, hardest_first)
    total = total_steps * batch
    phase = total // (2 * len(order))  # each skill alone; the rest (about half) over everything
    rows, admitted = [], []
    for j, skill in enumerate(order):
        candidates = np.flatnonzero(skills == skill)
        rng = derive_rng(seed, _SKILL_KEY, j)
        rows.append(_draw_without_replacement(candidates, phase, rng))
        admitted.append(np.full(phase, candidates.size))
    rest = total - phase * len(order)
    rng = derive_rng(seed, _SKILL_KEY, len(order))
    rows.append(_draw_without_replacement(np.arange(s.size), rest, rng))
    admitted.append(np.full(rest, s.size))
    per_sample = np.concatenate(admitted)
    return SampleSchedule(np.concatenate(rows), per_sample[::batch].copy())


def skill_order(scores: np.ndarray, skills: np.ndarray, hardest_first: bool) -> np.ndarray:
    """The order in which skill_schedule trains the skills (for the record)."""
    s = np.asarray(scores, dtype=np.float64)
    present = np.unique(skills)
    means = np.array([s[skills == j].mean() for j in present])
    return present[ordered_rows(means, hardest_first)]


# -- the strategies ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurriculumSchedule:
    """How a curriculum orders a scored pool.

    `level="sample"`: linear pacing over the samples' scores in `stages` stages (M);
    `level="skill"`: the skills one after the other by mean score, then everything.
    `hardest_first` turns either into its anticurriculum.
    """

    stages: int = 5
    hardest_first: bool = False
    level: str = "sample"

    def __post_init__(self) -> None:
        if isinstance(self.stages, bool) or not isinstance(self.stages, int) or self.stages < 1:
            raise SkillitError(f"mixing.stages must be an integer >= 1, got {self.stages!r}")
        if self.level not in ("sample", "skill"):
            raise ValueError(f"level must be 'sample' or 'skill', got {self.level!r}")

    def plan(
        self, scores: np.ndarray, skills: np.ndarray, total_steps: int, batch: int, seed: int
    ) -> SampleSchedule:
        """The pool row of every training sample of the run (`skills`: each row's skill)."""
        if self.level == "skill":
            return skill_schedule(scores, skills, total_steps, batch, seed, self.hardest_first)
        if self.stages > total_steps:
            raise SkillitError(
                f"mixing.stages={self.stages} is larger than trainer.max_steps={total_steps}"
            )
        return paced_schedule(scores, self.stages, total_steps, batch, seed, self.hardest_first)


CURRICULA = {
    "curriculum": ("sample", False),
    "anticurriculum": ("sample", True),
    "skill_curriculum": ("skill", False),
    "skill_anticurriculum": ("skill", True),
}


class CurriculumStrategy(RandomStrategy):
    """A fixed skill mixture to draw the pool from; :attr:`schedule` orders the pool's samples
    (skillit.callbacks.curriculum.CurriculumCallback scores the pool and hands the order to the data)."""

    name = "curriculum"

    def __init__(
        self,
        proportions: Sequence[float],
        schedule: CurriculumSchedule,
        eval_skills: Sequence[str] | None = None,
    ) -> None:
        super().__init__(proportions, eval_skills)
        self.schedule = schedule
        self.name = next(
            name
            for name, (level, hardest) in CURRICULA.items()
            if (level, hardest) == (schedule.level, schedule.hardest_first)
        )

    def pool_schedule(self) -> CurriculumSchedule:
        return self.schedule


def curriculum_builder(name: str) -> Callable[[BuildContext, None], CurriculumStrategy]:
    """The build of curriculum `name` (see skillit.mixing.registry)."""
    level, hardest_first = CURRICULA[name]

    def build(ctx: BuildContext, options: None) -> CurriculumStrategy:
        # M: by default one pacing stage per round
        plan = CurriculumSchedule(ctx.stages or ctx.rounds, hardest_first, level)
        if level == "skill":  # the authors draw a skill-stratified pool for the skill curricula
            pool = np.full(ctx.num_skills, 1.0 / ctx.num_skills)
        else:
            pool = check_weights(ctx.natural, ctx.num_skills)
        return CurriculumStrategy(pool, plan, ctx.eval_skills)

    return build
