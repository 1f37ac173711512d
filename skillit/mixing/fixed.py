"""Loss-free strategies: the data as it is (random), uniform over the relevant skills
(stratified), and a mixture or schedule given by the user (manual)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from skillit.errors import SkillitError
from skillit.mixing.base import BuildContext, MixingStrategy
from skillit.mixing.settings import stratified_mask
from skillit.sampling import check_weights


class RandomStrategy(MixingStrategy):
    """Sample the data as it is: the source's natural proportions (or the given ones)."""

    name = "random"

    def __init__(self, proportions: Sequence[float], eval_skills: Sequence[str] | None = None):
        self._p = check_weights(proportions, None)
        super().__init__(self._p.size, eval_skills)

    def initial_weights(self) -> np.ndarray:
        return self._p.copy()


class StratifiedStrategy(MixingStrategy):
    """Uniform over the relevant skills (a boolean mask over the training skills), 0 elsewhere."""

    name = "stratified"

    def __init__(self, relevant: Sequence[bool], eval_skills: Sequence[str] | None = None):
        mask = np.asarray(relevant, dtype=bool)
        if mask.ndim != 1 or mask.size == 0:
            raise SkillitError("the stratified mask must be one flag per training skill")
        if not mask.any():
            raise SkillitError(
                "the stratified baseline has no skill to sample: no training skill is a target or "
                "a prerequisite (check skills.eval and the graph)"
            )
        self._p = mask / mask.sum()
        super().__init__(mask.size, eval_skills)

    def initial_weights(self) -> np.ndarray:
        return self._p.copy()


class ManualStrategy(MixingStrategy):
    """A fixed mixture, or a schedule of (start_round, weights) entries starting at round 1."""

    name = "manual"

    def __init__(
        self,
        weights: Sequence[float] | None = None,
        schedule: Sequence[tuple[int, Sequence[float]]] | None = None,
        eval_skills: Sequence[str] | None = None,
        num_skills: int | None = None,
    ) -> None:
        if (weights is None) == (schedule is None):
            raise SkillitError(
                "the manual strategy needs exactly one of mixing.weights (a fixed mixture) or "
                "mixing.schedule (a list of [start_round, weights])"
            )
        entries = [(1, weights)] if schedule is None else list(schedule)
        key = "mixing.weights" if schedule is None else "mixing.schedule"
        if not entries:
            raise SkillitError("mixing.schedule is empty; give at least [1, weights]")
        starts = []
        mixtures = []
        for entry in entries:
            try:
                start, w = entry
            except (TypeError, ValueError):
                raise SkillitError(
                    f"{key} entries must be [start_round, weights], got {entry!r}"
                ) from None
            if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
                raise SkillitError(f"{key} start rounds must be integers, got {start!r}")
            mixtures.append(check_weights(w, num_skills, key))
            num_skills = mixtures[-1].size
            starts.append(start)
        if starts[0] != 1 or any(b <= a for a, b in itertools.pairwise(starts)):
            raise SkillitError(
                f"{key} start rounds must begin at 1 and increase strictly, got {starts}"
            )
        self._starts = [int(s) for s in starts]
        self._mixtures = mixtures
        super().__init__(mixtures[0].size, eval_skills)

    def weights_for_round(self, round_number: int) -> np.ndarray:
        """The scheduled mixture of `round_number`: the last entry starting at or before it."""
        pos = max(i for i, s in enumerate(self._starts) if s <= round_number)
        return self._mixtures[pos].copy()

    def initial_weights(self) -> np.ndarray:
        return self.weights_for_round(1)

    def _next(self, round_number: int, losses: np.ndarray) -> np.ndarray:
        # The schedule does not read losses, so it advances even when a loss is non-finite.
        return self.weights_for_round(round_number + 1)


# -- builds (see skillit.mixing.registry) ---------------------------------------------------------


def build_random(ctx: BuildContext, options: None) -> RandomStrategy:
    """mixing.weights when given (proportions to sample), else the source's natural ones."""
    source = ctx.weights if ctx.weights is not None else ctx.natural
    if source is None:
        raise SkillitError("the random strategy needs the source's natural proportions")
    return RandomStrategy(check_weights(source, ctx.num_skills), ctx.eval_skills)


def build_stratified(ctx: BuildContext, options: None) -> StratifiedStrategy:
    """All training skills in continual pre-training; elsewhere the targets' prerequisites (and
    the targets, in fine-tuning), which come from the graph."""
    if ctx.setting == "continual_pretraining":
        return StratifiedStrategy([True] * ctx.num_skills, ctx.eval_skills)
    if ctx.graph is None:
        raise SkillitError(
            f"the stratified baseline in setting {ctx.setting} samples prerequisites of the "
            "targets, which come from the graph: set mixing.graph.path or mixing.graph.matrix"
        )
    mask = stratified_mask(ctx.setting, ctx.train_skills, ctx.eval_skills, ctx.graph)
    return StratifiedStrategy(mask, ctx.eval_skills)


def build_manual(ctx: BuildContext, options: None) -> ManualStrategy:
    return ManualStrategy(
        weights=ctx.weights,
        schedule=ctx.schedule,
        eval_skills=ctx.eval_skills,
        num_skills=ctx.num_skills,
    )
