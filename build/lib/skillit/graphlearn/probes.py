"""Which short training runs ("probes") a graph-learning method needs. Pure: no training here.

A probe trains the same start model for `steps` steps on a uniform mixture of `skills` (training
skill names) with data seed `seed`, then measures every evaluation skill's loss. The probe with no
skills and no steps is the start model itself: its losses are the baseline the drops are measured
from.

- linear approximation: per seed, the baseline and one probe per training skill (h steps);
- brute force: per seed, the baseline, one probe per evaluation skill alone and one per unordered
  pair of training skills that holds at least one evaluation skill (H steps). A pair run {i, j}
  measures both d_j^{i,j} and d_i^{i,j}, so every pair is trained exactly once.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from skillit.errors import SkillitError

METHODS = ("linear", "brute")


@dataclass(frozen=True)
class Probe:
    seed: int
    skills: tuple[str, ...]  # training skills mixed uniformly; () = the untouched start model
    steps: int

    @property
    def is_baseline(self) -> bool:
        return not self.skills

    @property
    def key(self) -> str:
        """A file-name-safe identifier; the hash keeps distinct probes apart after sanitising."""
        exact = repr((self.seed, self.steps, self.skills)).encode()
        digest = hashlib.sha1(exact).hexdigest()[:8]
        names = "+".join(self.skills) if self.skills else "start"
        readable = re.sub(r"[^A-Za-z0-9_.+-]", "_", names)[:60]
        return f"seed{self.seed}_steps{self.steps}_{readable}_{digest}"


def baseline(seed: int) -> Probe:
    return Probe(seed, (), 0)


def linear_probes(train_skills: Sequence[str], seeds: Sequence[int], steps: int) -> list[Probe]:
    out = []
    for seed in seeds:
        out.append(baseline(seed))
        out.extend(Probe(seed, (name,), steps) for name in train_skills)
    return out


def skill_pairs(train_skills: Sequence[str], eval_skills: Sequence[str]) -> list[tuple[str, str]]:
    """Unordered pairs of training skills (in training order) that touch an evaluation skill."""
    targets = set(eval_skills)
    return [
        (a, b) for a, b in itertools.combinations(train_skills, 2) if a in targets or b in targets
    ]


def brute_probes(
    train_skills: Sequence[str], eval_skills: Sequence[str], seeds: Sequence[int], steps: int
) -> list[Probe]:
    missing = [s for s in eval_skills if s not in train_skills]
    if missing:
        raise SkillitError(
            f"--method brute needs every evaluation skill to be a training skill, but {missing} "
            "(skills.eval) are not in skills.train; use --method linear (the only choice "
            "out-of-domain) or add them to skills.train"
        )
    out = []
    for seed in seeds:
        out.append(baseline(seed))
        out.extend(Probe(seed, (name,), steps) for name in eval_skills)
        out.extend(Probe(seed, pair, steps) for pair in skill_pairs(train_skills, eval_skills))
    return out


def plan_probes(
    method: str,
    train_skills: Sequence[str],
    eval_skills: Sequence[str],
    seeds: Sequence[int],
    steps: int,
) -> list[Probe]:
    if method == "linear":
        return linear_probes(train_skills, seeds, steps)
    if method == "brute":
        return brute_probes(train_skills, eval_skills, seeds, steps)
    raise SkillitError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
