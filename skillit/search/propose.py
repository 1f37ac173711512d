"""The mixture a fitted regression proposes: RegMix's simulation step.

A large set of candidate mixtures is drawn from the same prior as the swarm, those that break
the repetition limit are dropped, the regression predicts each one's target loss, and the
proposal is the mean of the `top_k` best (one candidate alone would chase the regression's noise;
the mean of mixtures within the limit is within it too, the limit being one bound per domain).
Its uncertainty is the spread of the cross-validation folds' predictions of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skillit.search.prior import draw_prior


@dataclass
class Proposal:
    weights: np.ndarray
    predicted: float  # by the regression fitted on every run
    predicted_std: float  # across the cross-validation folds' fits
    candidates: int  # candidates within the limit
    top_k: int


def propose(
    model,
    fold_models: list,
    natural,
    upper,
    rng: np.random.Generator,
    candidates: int = 100_000,
    top_k: int = 100,
    floor: float = 1e-3,
) -> Proposal:
    natural = np.asarray(natural, float) / np.sum(natural)
    upper = np.asarray(upper, float)
    pool = draw_prior(natural, candidates, rng, floor)
    pool = pool[(pool <= upper[None, :] + 1e-12).all(axis=1)]
    if len(pool) == 0:
        raise ValueError("no candidate mixture fits the repetition limit")
    predicted = model.predict(pool)
    best = pool[np.argsort(predicted, kind="stable")[: min(top_k, len(pool))]]
    weights = best.mean(axis=0)
    weights = weights / weights.sum()
    folds = [float(m.predict(weights[None, :])[0]) for m in fold_models]
    return Proposal(
        weights=weights,
        predicted=float(model.predict(weights[None, :])[0]),
        predicted_std=float(np.std(folds, ddof=1)) if len(folds) > 1 else float("nan"),
        candidates=len(pool),
        top_k=len(best),
    )
