"""Pure functions that turn a mixture p over k skills into the skills of the next round's samples.

Why integer counts with seeded rounding (not i.i.d. multinomial draws): a round of N samples then
contains floor(p_i * N) or ceil(p_i * N) samples of skill i, never more than one sample away from
p_i * N, so short rounds and small skills follow the mixture exactly; the leftover samples are handed
out by a seeded draw in proportion to the fractional parts, so the expected count is exactly p_i * N.

The order of a round's samples is a function of (seed, round) alone, identical on every rank and in
every worker; ranks then take disjoint slices of each global batch, so the union over ranks is the
global order whatever the world size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from skillit.errors import SkillitError


def derive_rng(*keys: int) -> np.random.Generator:
    """A generator determined by a tuple of non-negative integers (seed, round, batch, ...)."""
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


def mixture_counts(weights: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Integer counts per skill summing to `total`, each floor or ceil of weight * total.

    Leftovers go by systematic sampling over the fractional parts (in a seeded random order): one
    uniform offset u and the points u, u + 1, ... pick skill i with probability exactly its fraction,
    so E[count_i] = weight_i * total however many leftovers there are. (Drawing them one after the
    other without replacement, in proportion to the fractions, favours the largest fractions.)

    The generators' `synthetic.common.skill_counts` rounds differently on purpose: a data file is
    a function of (n, proportions) alone, so it hands leftovers to the largest fractions, while a
    training round draws them by seed so that, over rounds, no skill is favoured by the rounding.
    (`synthetic` is usable without skillit, so it cannot share this function.)
    """
    p = check_weights(weights, key="mixture")
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    exact = p * total
    counts = np.floor(exact).astype(np.int64)
    leftover = int(total - counts.sum())
    if leftover > 0:
        frac = exact - counts
        order = rng.permutation(len(p))
        edges = np.cumsum(frac[order])
        edges *= leftover / edges[-1]  # the fractions sum to `leftover` up to rounding error
        points = rng.uniform() + np.arange(leftover)
        chosen = order[np.minimum(np.searchsorted(edges, points, side="right"), len(p) - 1)]
        counts[chosen] += 1
    return counts


def order_rng(seed: int, round_number: int) -> np.random.Generator:
    """The generator of a round's skill order. Rounds are numbered from 1 everywhere; the key
    is the 0-based offset, which keeps every seed's data stream as it has always been."""
    return derive_rng(seed, round_number - 1, 0)


def batch_rng(seed: int, round_number: int, batch_index: int) -> np.random.Generator:
    """The generator of the samples of global batch `batch_index` (0-based) of a round."""
    return derive_rng(seed, round_number - 1, batch_index + 1)


def round_skill_order(weights: np.ndarray, total: int, seed: int, round_number: int) -> np.ndarray:
    """The skill of every sample of round `round_number` (1-based), in training order.

    The same on every rank and in every worker.
    """
    rng = order_rng(seed, round_number)
    counts = mixture_counts(weights, total, rng)
    order = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    rng.shuffle(order)
    return order


def block_skill_order(
    weights: np.ndarray, total: int, seed: int, round_number: int, block: int
) -> np.ndarray:
    """The skill of every sample of block `block` (0-based) of a round drawn in blocks: exact
    counts within the block, shuffled; its own key, so blocks are independent of each other."""
    rng = derive_rng(seed, round_number - 1, 0, block + 1)
    counts = mixture_counts(weights, total, rng)
    order = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    rng.shuffle(order)
    return order


def round_lengths(total_steps: int, rounds: int) -> list[int]:
    """Split `total_steps` into `rounds` rounds as evenly as possible (earlier rounds get extras)."""
    if rounds < 1 or total_steps < rounds:
        raise ValueError(
            f"need 1 <= rounds <= total_steps, got rounds={rounds}, steps={total_steps}"
        )
    base, extra = divmod(total_steps, rounds)
    return [base + (1 if r < extra else 0) for r in range(rounds)]


def per_rank_batch_size(global_batch_size: int, world_size: int) -> int:
    """data.global_batch_size split evenly over the ranks; an uneven split is refused."""
    if world_size < 1 or global_batch_size % world_size:
        raise SkillitError(
            f"data.global_batch_size={global_batch_size} does not divide evenly over "
            f"{world_size} ranks (trainer.devices x nodes); choose a multiple of {world_size}"
        )
    return global_batch_size // world_size


def rank_slice(global_batch_size: int, rank: int, world_size: int) -> slice:
    """Rows of a global batch that belong to `rank` (contiguous, equal sizes)."""
    per_rank = per_rank_batch_size(global_batch_size, world_size)
    return slice(rank * per_rank, (rank + 1) * per_rank)


# The one check of a mixture vector: every weight vector that enters skillit passes through it.
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
