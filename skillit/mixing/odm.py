"""Online Data Mixing (Albalak et al. 2023, arXiv 2312.02406): a bandit over the training skills
rewarded by their training loss, updated inside rounds; with its options section.

The reward of a skill is its mean training loss since the last update (EXP3, importance-weighted
by the policy) or exp of it (the authors' smoothed-mean updater). The training loop feeds
per-skill (loss sum, token count) every `update_every` steps (0: once per round) through
:meth:`ODMStrategy.observe_training`, after `warmup_steps` steps on the warm-up mixture. A round is
drawn in blocks of `update_every` steps: the first from the mixture in force, each later one
from the update after the block before it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from skillit.errors import SkillitError
from skillit.mixing import updates
from skillit.mixing.base import Block, BuildContext, InRoundNeeds, MixingStrategy
from skillit.sampling import check_weights

POLICIES = ("exp3", "smoothed_mean")
WARMUPS = ("uniform", "natural")


@dataclass
class ODMConfig:
    """Online Data Mixing (mixing.odm).

    Defaults: EXP3 (the paper's algorithm), an update every step and no warm-up (the paper's
    cadence; the authors' 1B runs warm up 2000 steps), smoothing alpha 0.9 (the default of the
    authors' smoothed reward in alon-albalak/online-data-mixing). `policy: smoothed_mean` is the
    updater of the authors' main 1B runs; `warmup_weights: natural` their warm-up mixture.
    """

    alpha: float = 0.9  # R̂ <- alpha R̂ + (1 - alpha) reward
    update_every: int = 1  # steps between updates; 0: once per round, at its end
    warmup_steps: int = 0  # steps on the warm-up mixture before the first update
    policy: str = "exp3"  # exp3 | smoothed_mean (see skillit.mixing.updates)
    warmup_weights: str = "uniform"  # uniform | natural: the mixture before the first update

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha < 1.0:
            raise SkillitError(f"mixing.odm.alpha must be in [0, 1), got {self.alpha}")
        if isinstance(self.update_every, bool) or self.update_every < 0:
            raise SkillitError(
                f"mixing.odm.update_every must be a number of steps >= 1, or 0 for once per "
                f"round, got {self.update_every}"
            )
        if self.warmup_steps < 0:
            raise SkillitError(f"mixing.odm.warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.policy not in POLICIES:
            raise SkillitError(
                f"mixing.odm.policy must be one of {list(POLICIES)}, got {self.policy!r}"
            )
        if self.warmup_weights not in WARMUPS:
            raise SkillitError(
                f"mixing.odm.warmup_weights must be one of {list(WARMUPS)}, got "
                f"{self.warmup_weights!r}"
            )


class ODMStrategy(MixingStrategy):
    """ODM's bandit: EXP3 over the training skills (or the authors' smoothed-mean variant)."""

    name = "odm"
    in_round = InRoundNeeds(row_losses=True)

    def __init__(
        self,
        num_skills: int,
        alpha: float,
        update_every: int,
        warmup_steps: int,
        eval_skills: Sequence[str] | None = None,
        policy: str = "exp3",
        initial: Sequence[float] | None = None,
    ) -> None:
        if num_skills < 2:
            raise SkillitError("mixing.strategy=odm needs at least 2 training skills")
        super().__init__(num_skills, eval_skills)
        self.alpha = float(alpha)
        self.update_every = int(update_every)
        self.warmup_steps = int(warmup_steps)
        self.policy = policy
        # the mixture before the first update: uniform (EXP3's start) or the natural one
        self._p = check_weights(initial if initial is not None else np.ones(num_skills), None)
        self.estimate = np.zeros(num_skills)  # R̂: the smoothed rewards
        self.eps = 1.0 / num_skills  # ε of the last update (ε_0 = 1/K, as the authors start)
        self.updates = 0
        self.last_reward: np.ndarray | None = None  # the mean losses of the last update

    def initial_weights(self) -> np.ndarray:
        return self._p.copy()

    def round_blocks(self, round_number: int, round_steps: int, mixture: np.ndarray) -> list[Block]:
        """Blocks of `update_every` steps (0: one block); the first uses `mixture`, the others
        are published by the updates."""
        size = self.update_every or round_steps
        first = tuple(float(v) for v in mixture)
        return [
            Block(min(size, round_steps - s), first if s == 0 else None)
            for s in range(0, round_steps, size)
        ]

    def observe_training(self, step: int, loss_sums, counts) -> np.ndarray:
        """One update from the training losses of the steps since the last one (`step`: training
        steps done). Inside the warm-up nothing changes; a skill not drawn (count 0) or with a
        non-finite loss keeps its reward estimate."""
        sums = np.asarray(loss_sums, dtype=np.float64)
        n = np.asarray(counts, dtype=np.float64)
        if step <= self.warmup_steps:
            return self.current_weights
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, sums / np.maximum(n, 1), np.nan)
        seen = np.isfinite(mean)
        if ((n > 0) & ~seen).any():
            bad = [self._eval_name(i) for i in np.flatnonzero((n > 0) & ~seen)]
            warnings.warn(
                f"step {step}: non-finite training loss for skill {', '.join(bad)}; its reward "
                "estimate is kept",
                RuntimeWarning,
                stacklevel=2,
            )
        policy = self.current_weights
        eps = updates.odm_exploration(step, self.num_skills)
        if self.policy == "exp3":
            self.estimate = updates.odm_reward_estimate(
                self.estimate, np.where(seen, mean, 0.0), seen, policy, self.alpha
            )
            self._weights = updates.odm_policy(self.estimate, self.eps, eps)
        else:
            self.estimate = updates.odm_smoothed_mean_reward(
                self.estimate, np.where(seen, mean, 0.0), seen, self.alpha
            )
            self._weights = updates.odm_linear_policy(self.estimate, eps)
        self.eps = eps
        self.updates += 1
        self.last_reward = mean
        return self._weights.copy()

    def signal(self) -> dict[str, list[float]]:
        return {"reward_estimate": [float(v) for v in self.estimate]}

    def _extra_state(self) -> dict[str, Any]:
        return {
            "estimate": [float(v) for v in self.estimate],
            "eps": self.eps,
            "updates": self.updates,
        }

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        estimate = np.asarray(state.get("estimate", self.estimate), dtype=np.float64)
        if estimate.shape != (self.num_skills,):
            raise SkillitError(
                f"the checkpoint's ODM rewards are for {estimate.size} skills, this run has "
                f"{self.num_skills}; resume with the same training skills"
            )
        self.estimate = estimate
        self.eps = float(state.get("eps", self.eps))
        self.updates = int(state.get("updates", 0))


def build_odm(ctx: BuildContext, options: ODMConfig) -> ODMStrategy:
    budget = sum(ctx.round_lengths)
    if budget and options.warmup_steps >= budget:
        raise SkillitError(
            f"mixing.odm.warmup_steps={options.warmup_steps} covers the whole run "
            f"(trainer.max_steps={budget}), so ODM would never update; use fewer warm-up steps"
        )
    if ctx.round_lengths and options.update_every > max(ctx.round_lengths):
        raise SkillitError(
            f"mixing.odm.update_every={options.update_every} is longer than every round "
            f"({max(ctx.round_lengths)} steps at most), so it would update once per round: set "
            "mixing.odm.update_every=0 for that, or a number of steps within a round"
        )
    natural = options.warmup_weights == "natural"
    if natural and ctx.natural is None:
        raise SkillitError(
            "mixing.odm.warmup_weights=natural needs the source's natural proportions"
        )
    return ODMStrategy(
        ctx.num_skills,
        options.alpha,
        options.update_every,
        options.warmup_steps,
        ctx.eval_skills,
        policy=options.policy,
        initial=check_weights(ctx.natural, ctx.num_skills) if natural else None,
    )
