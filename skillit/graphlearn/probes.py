"""Which short training runs ("probes") a graph-learning method needs. Pure: no training here.

A probe trains the same start model for `steps` steps on a uniform mixture of `skills` (training
skill names) with data seed `seed`, then measures every evaluation skill's loss. The probe with no
skills and no steps is the start model itself: its losses are the baseline the drops are measured
from.

- linear approximation: per seed, the baseline and one probe per training skill (h steps);
- brute force: per seed, the baseline, one probe per evaluation skill alone and one per unordered
  pair of training skills that holds at least one evaluation skill (H steps). A pair run {i, j}
  measures both d_j^{i,j} and d_i^{i,j}, so every pair is trained exactly once.
- transfer (against a control): per seed, a *control* probe on the uniform mixture over all
  training skills, and for every edge i -> j a probe on the same mixture with skill i's share moved
  to the skills other than i and j, so j gets exactly the data it gets in the control; the edge
  is how much higher j's loss ends without i. A skill's own entry comes from the probe without j
  (its share spread over all the others). Probes that coincide are run once. Meant to start from a
  model warmed up on the mixture (`--warmup-steps`), where removing a prerequisite makes the model
  lose what the dependent skill builds on.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from skillit.errors import SkillitError

METHODS = ("transfer", "linear", "brute")


@dataclass(frozen=True)
class Probe:
    seed: int
    skills: tuple[str, ...]  # training skills mixed uniformly; () = the untouched start model
    steps: int
    weights: tuple[float, ...] | None = None  # over all training skills; None: uniform on skills

    @property
    def is_baseline(self) -> bool:
        return not self.skills

    @property
    def key(self) -> str:
        """A file-name-safe identifier; the hash keeps distinct probes apart after sanitising."""
        exact = repr((self.seed, self.steps, self.skills)).encode()
        if self.weights is not None:
            exact += repr(self.weights).encode()
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


def transfer_weights(k: int, drop: int, keep: int | None) -> tuple[float, ...]:
    """The uniform mixture over k skills with skill `drop`'s share moved, in equal parts, to every
    skill other than `drop` and `keep` (so `keep` gets what it gets in the uniform control)."""
    receivers = [s for s in range(k) if s not in (drop, keep)]
    if not receivers:
        raise SkillitError(
            "--method transfer moves a skill's share to the other skills while the measured "
            f"skill keeps its own, which needs at least 3 training skills (got {k}); use "
            "--method brute or linear"
        )
    w = [1.0 / k] * k
    w[drop] = 0.0
    for s in receivers:
        w[s] += (1.0 / k) / len(receivers)
    return tuple(w)


def transfer_probe(seed: int, train_skills: Sequence[str], drop: int, keep: int | None, steps: int):
    w = transfer_weights(len(train_skills), drop, keep)
    names = tuple(n for n, v in zip(train_skills, w) if v > 0)
    return Probe(seed, names, steps, w)


def control_probe(seed: int, train_skills: Sequence[str], steps: int) -> Probe:
    return Probe(seed, tuple(train_skills), steps)


def transfer_cells(
    seed: int, train_skills: Sequence[str], eval_skills: Sequence[str], steps: int
) -> Iterator[tuple[int, int, Probe]]:
    """(row i, column c, the probe that measures A[i, c]) for every entry of the graph: i taken
    out with c's own share held, or c's own skill taken out on its own entry."""
    index = {name: i for i, name in enumerate(train_skills)}
    for c, name in enumerate(eval_skills):
        own = index.get(name)
        for i in range(len(train_skills)):
            keep = None if i == own else own
            yield i, c, transfer_probe(seed, train_skills, i, keep, steps)


def transfer_probes(
    train_skills: Sequence[str], eval_skills: Sequence[str], seeds: Sequence[int], steps: int
) -> list[Probe]:
    out = []
    for seed in seeds:
        plan = {control_probe(seed, train_skills, steps): None}
        for _, _, probe in transfer_cells(seed, train_skills, eval_skills, steps):
            plan[probe] = None
        out.extend(plan)  # dict: coinciding probes once, in plan order
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
    if method == "transfer":
        return transfer_probes(train_skills, eval_skills, seeds, steps)
    raise SkillitError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
