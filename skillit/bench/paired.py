"""Paired comparisons of strategies over the same seeds: curve metrics, differences, intervals.

A suite's runs of two strategies with the same seed share the initial weights, the world and the
validation sets, so the per-seed difference removes what the seeds have in common. Everything
here is a pure function of evaluation curves (lists of {"step", "eval_acc"} records).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0  # fixed, so a report rebuilt from the same runs prints the same intervals


def mean_acc(record: dict, skills: Sequence[str]) -> float:
    return float(np.mean([record["eval_acc"][s] for s in skills]))


def acc_at(curve: list[dict], step: int, skills: Sequence[str]) -> float | None:
    """Mean accuracy over `skills` at the last evaluation at or before `step` (None if none)."""
    before = [r for r in curve if int(r["step"]) <= step]
    return mean_acc(before[-1], skills) if before else None


def area_under_curve(curve: list[dict], skills: Sequence[str], budget: int) -> float:
    """Mean accuracy averaged over training time: the trapezoid area under the curve from step 0
    (accuracy taken as the first evaluation's before it) to `budget`, divided by `budget`."""
    points = sorted(
        (int(r["step"]), mean_acc(r, skills)) for r in curve if int(r["step"]) <= budget
    )
    if not points:
        return float("nan")
    steps = np.array([0] + [s for s, _ in points] + [budget], dtype=np.float64)
    accs = np.array([points[0][1]] + [a for _, a in points] + [points[-1][1]])
    return float(np.trapezoid(accs, steps) / budget)


def steps_to(curve: list[dict], skills: Sequence[str], value: float) -> int | None:
    """First evaluation step with mean accuracy over `skills` >= value (None: never)."""
    for r in sorted(curve, key=lambda r: int(r["step"])):
        if mean_acc(r, skills) >= value:
            return int(r["step"])
    return None


@dataclass(frozen=True)
class PairedDifference:
    """candidate - baseline over the seeds both ran."""

    seeds: list[int]
    differences: list[float]
    mean: float
    std: float
    low: float  # 95% bootstrap percentile interval of the mean difference
    high: float
    wins: int  # seeds where the candidate is strictly better (larger)
    ties: int

    def as_dict(self) -> dict:
        return {
            "seeds": self.seeds,
            "differences": self.differences,
            "mean": self.mean,
            "std": self.std,
            "ci95": [self.low, self.high],
            "wins": self.wins,
            "ties": self.ties,
            "n": len(self.seeds),
        }


def bootstrap_interval(
    values: Sequence[float], level: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (seeded, so it is reproducible)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2:
        return (float(x.mean()), float(x.mean())) if x.size else (float("nan"), float("nan"))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    return float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail))


def paired_difference(candidate: dict[int, float], baseline: dict[int, float]) -> PairedDifference:
    """Per-seed candidate - baseline over the seeds present in both (values keyed by seed)."""
    seeds = sorted(set(candidate) & set(baseline))
    diffs = [float(candidate[s] - baseline[s]) for s in seeds]
    x = np.asarray(diffs, dtype=np.float64)
    low, high = bootstrap_interval(diffs)
    return PairedDifference(
        seeds,
        diffs,
        float(x.mean()) if x.size else float("nan"),
        float(x.std(ddof=1)) if x.size > 1 else 0.0,
        low,
        high,
        int((x > 0).sum()),
        int((x == 0).sum()),
    )
