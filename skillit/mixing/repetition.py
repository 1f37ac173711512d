"""How often a run has repeated each domain of a corpus, and a cap on it (`data.tokens.max_epochs`).

Windows are drawn with replacement, so a small domain under a large weight is seen many times.
Epochs seen = tokens delivered from a domain / its train tokens. With a cap, the mixture a round
is drawn from gives no domain more than what keeps it under `max_epochs` by the round's end: a
domain's weight is cut to its room left, and the weight taken off goes to the other domains in
proportion to their weights (water-filling); a domain at its cap gets weight 0. When the domains'
room together is less than the round, the cap cannot be honoured: every domain is filled to its
room and the rest is spread in proportion to the requested weights, over the cap (and the run
says so). Exact to within one window a round (a round's counts are floor or ceil of p * n).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CappedMixture:
    weights: np.ndarray  # the mixture the round is drawn from
    room: np.ndarray  # each domain's weight that keeps it at or under the cap this round
    changed: bool  # the requested mixture was changed
    honoured: bool  # False: the round needs more tokens than the domains have left under the cap


def epochs_seen(tokens_seen: np.ndarray, train_tokens: np.ndarray) -> np.ndarray:
    return np.asarray(tokens_seen, np.float64) / np.maximum(np.asarray(train_tokens, np.float64), 1)


def cap_mixture(
    weights: np.ndarray,
    tokens_seen: np.ndarray,
    train_tokens: np.ndarray,
    max_epochs: float,
    round_tokens: float,
) -> CappedMixture:
    """The mixture of the next round under the cap (see the module docstring)."""
    w = np.asarray(weights, dtype=np.float64)
    left = np.maximum(max_epochs * np.asarray(train_tokens, np.float64) - tokens_seen, 0.0)
    room = left / float(round_tokens)
    if room.sum() < 1.0:  # not enough left anywhere: fill every domain, the rest over the cap
        rest = 1.0 - room.sum()
        share = w if w.sum() > 0 else np.full(w.size, 1.0 / w.size)
        out = room + rest * share / share.sum()
        return CappedMixture(out, room, True, False)
    out = w.copy()
    fixed = np.zeros(w.size, dtype=bool)
    while True:
        over = ~fixed & (out > room)
        if not over.any():
            break
        fixed |= over
        out[fixed] = room[fixed]
        mass = 1.0 - out[fixed].sum()
        free = ~fixed
        basis = w[free] if w[free].sum() > 0 else room[free]  # no requested weight: by room
        out[free] = mass * basis / basis.sum() if basis.sum() > 0 else 0.0
    return CappedMixture(out, room, bool(fixed.any()), True)
