"""The one check of a mixture vector: every weight vector that enters skillit passes through it."""

from __future__ import annotations

from typing import Any

import numpy as np

from skillit.errors import SkillitError


def check_weights(
    weights: Any, num_skills: int | None = None, key: str = "mixing.weights"
) -> np.ndarray:
    """A mixture as a normalised float64 array: finite, >= 0, not all zero, one per skill.

    Errors are :class:`SkillitError` naming `key` (a config key, or what produced the vector).
    """
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise SkillitError(f"{key} must be a list of numbers, got {weights!r}") from None
    if w.ndim != 1 or w.size == 0:
        raise SkillitError(f"{key} must be a non-empty list of numbers, got {weights!r}")
    if num_skills is not None and w.size != num_skills:
        raise SkillitError(
            f"{key} has {w.size} entries but there are {num_skills} training skills; "
            "give one weight per training skill"
        )
    if not np.isfinite(w).all() or (w < 0).any():
        raise SkillitError(f"{key} must hold finite numbers >= 0, got {w.tolist()}")
    total = w.sum()
    if total <= 0:
        raise SkillitError(f"{key} are all zero; at least one skill needs a positive weight")
    return w / total
