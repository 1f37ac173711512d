"""DoReMi-style online reweighting (Xie et al. 2023, arXiv 2305.10429) and its options section.

After round t, with L_t the model's and R the reference model's per-skill eval losses:
w_{t+1} = (1 - c) normalise(w_t * exp(eta * max(L_t - R, 0))) + c / k. The weights are the mixture
the next round samples from. DoReMi's *output* is an average of the weights: `skillit mixture
export` writes the step-weighted one by default and, with `--average updates`, the authors'
running mean over the initial weights and every update (see docs/fidelity.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from skillit.errors import SkillitError
from skillit.mixing import updates
from skillit.mixing.base import BuildContext, MixingStrategy
from skillit.sampling import check_weights


@dataclass
class DoReMiConfig:
    """DoReMi-style online reweighting (mixing.doremi).

    Defaults: step size eta 1 (the paper's) and smoothing c 1e-3 (the paper's, and the value the
    authors' sample scripts in sangmichaelxie/doremi pass).
    """

    reference: str | None = None  # a skillit checkpoint (.ckpt) of the reference model
    eta: float = 1.0
    smoothing: float = 1e-3  # c: weight of the uniform distribution mixed into every update

    def __post_init__(self) -> None:
        if not math.isfinite(self.eta) or self.eta < 0:
            raise SkillitError(f"mixing.doremi.eta must be a finite number >= 0, got {self.eta}")
        if not 0.0 <= self.smoothing <= 1.0:
            raise SkillitError(f"mixing.doremi.smoothing must be in [0, 1], got {self.smoothing}")


class DoReMiStrategy(MixingStrategy):
    """DoReMi-style reweighting of each training skill by its round's excess eval loss."""

    name = "doremi"
    uses_losses = True

    def __init__(
        self,
        initial: Sequence[float],
        reference_losses: Sequence[float],
        eta: float,
        smoothing: float,
        eval_skills: Sequence[str] | None = None,
    ) -> None:
        self._p = check_weights(initial, None)
        self.reference = np.asarray(reference_losses, dtype=np.float64)
        if self.reference.shape != self._p.shape or not np.isfinite(self.reference).all():
            raise SkillitError(
                f"doremi needs one finite reference loss per training skill ({self._p.size}), "
                f"got {list(self.reference)}"
            )
        self.eta = float(eta)
        self.smoothing = float(smoothing)
        updates.doremi_update(self._p, np.zeros_like(self._p), eta, smoothing)  # fails fast
        super().__init__(self._p.size, eval_skills)
        self.last_excess: np.ndarray | None = None  # the signal of the last update (for the record)

    @property
    def num_eval(self) -> int:
        return self.num_skills  # one eval loss per training skill, in the same order

    def initial_weights(self) -> np.ndarray:
        return self._p.copy()

    def excess(self, losses: np.ndarray) -> np.ndarray:
        return np.maximum(np.asarray(losses, dtype=np.float64) - self.reference, 0.0)

    def signal(self) -> dict[str, list[float]]:
        if self.last_excess is None:
            return {}
        return {"excess_loss": [float(v) for v in self.last_excess]}

    def _next(self, round_number: int, losses: np.ndarray) -> np.ndarray:
        self.last_excess = self.excess(losses)
        return updates.doremi_update(
            self.current_weights, self.last_excess, self.eta, self.smoothing
        )


def build_doremi(ctx: BuildContext, options: DoReMiConfig) -> DoReMiStrategy:
    """From uniform (or mixing.weights) with the reference model's losses (needs: reference)."""
    start = ctx.weights if ctx.weights is not None else np.ones(ctx.num_skills)
    return DoReMiStrategy(
        check_weights(start, ctx.num_skills),
        ctx.reference_losses,
        options.eta,
        options.smoothing,
        ctx.eval_skills,
    )
