"""UniMax (Chung et al., ICLR 2023): a closed-form mixture from token counts and an epoch cap.

The budget is shared as evenly as it can be, and no domain is repeated more than `max_epochs`
times: visit the domains from the smallest to the largest, give each an equal share of what is
left of the budget, capped at max_epochs x its tokens, and subtract what it got. Domains that hit
their cap pass the rest on to larger ones. When every domain is capped (a budget beyond
max_epochs x the corpus), the mixture is the caps' proportions: the natural one.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from skillit.errors import SkillitError, SkillitWarning
from skillit.mixing.base import BuildContext
from skillit.mixing.fixed import RandomStrategy


@dataclass
class UniMaxConfig:
    """UniMax's option (mixing.unimax)."""

    max_epochs: float = 4.0  # N: the most epochs of its train tokens a domain gets

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_epochs) and self.max_epochs > 0):
            raise SkillitError(
                f"mixing.unimax.max_epochs must be a finite number > 0, got {self.max_epochs}"
            )


def unimax_allocation(train_tokens, budget_tokens: float, max_epochs: float) -> np.ndarray:
    """Tokens given to each domain (in the order given) from a budget of `budget_tokens`."""
    tokens = np.asarray(train_tokens, dtype=np.float64)
    if tokens.ndim != 1 or tokens.size == 0 or not (np.isfinite(tokens) & (tokens >= 0)).all():
        raise ValueError(f"train tokens must be finite counts >= 0, got {tokens}")
    if not (budget_tokens > 0 and max_epochs > 0):
        raise ValueError(
            f"the budget and max_epochs must be > 0, got {budget_tokens} and {max_epochs}"
        )
    given = np.zeros_like(tokens)
    left = float(budget_tokens)
    order = np.argsort(tokens, kind="stable")  # smallest first: they are the ones capped
    for rank, i in enumerate(order):
        share = left / (tokens.size - rank)
        given[i] = min(share, max_epochs * tokens[i])
        left -= given[i]
    return given


def unimax_weights(train_tokens, budget_tokens: float, max_epochs: float) -> np.ndarray:
    return _proportions(unimax_allocation(train_tokens, budget_tokens, max_epochs))


def _proportions(given: np.ndarray) -> np.ndarray:
    if given.sum() <= 0:
        raise SkillitError("UniMax has no tokens to share: every training domain is empty")
    return given / given.sum()


class UniMaxStrategy(RandomStrategy):
    """A fixed mixture, UniMax's allocation of the run's token budget."""

    name = "unimax"


def build_unimax(ctx: BuildContext, options: UniMaxConfig) -> UniMaxStrategy:
    given = unimax_allocation(ctx.train_tokens, ctx.budget_tokens, options.max_epochs)
    if given.sum() < ctx.budget_tokens * (1 - 1e-9):
        warnings.warn(
            f"UniMax: the run's {ctx.budget_tokens:,} tokens exceed mixing.unimax.max_epochs="
            f"{options.max_epochs:g} x the training domains' {int(sum(ctx.train_tokens)):,}, so "
            "every domain is capped and the mixture is the natural one; each domain is seen "
            f"about {ctx.budget_tokens / sum(ctx.train_tokens):.1f} times",
            SkillitWarning,
            stacklevel=2,
        )
    return UniMaxStrategy(_proportions(given), ctx.eval_skills)
