"""The three Skill-It settings and which training skills the stratified baseline samples from.

They differ only in how the evaluation skills relate to the training skills:

- continual_pretraining: eval == train; stratified samples all k skills.
- fine_tuning: eval is a proper subset of train (the targets); stratified samples the
  prerequisites of the targets together with the targets.
- out_of_domain: eval and train are disjoint; stratified samples the prerequisites.

A prerequisite is a training skill with an edge (A[i, j] > 0) to some evaluation column j.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from skillit.errors import SkillitError

SETTINGS = ("continual_pretraining", "fine_tuning", "out_of_domain")


def check_setting(setting: str, train_skills: Sequence[str], eval_skills: Sequence[str]) -> None:
    """Raise SkillitError (naming skills.eval) unless the two skill sets fit `setting`."""
    if setting not in SETTINGS:
        raise SkillitError(
            f"setting {setting!r} is unknown (key mixing.setting); valid: {', '.join(SETTINGS)}"
        )
    train, evals = list(train_skills), list(eval_skills)
    for key, names in (("skills.train", train), ("skills.eval", evals)):
        if not names:
            raise SkillitError(f"{key} is empty; name at least one skill")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SkillitError(f"{key} lists {dupes} more than once")
    t, e = set(train), set(evals)
    if setting == "continual_pretraining" and t != e:
        raise SkillitError(
            "skills.eval must equal the training skills in continual_pretraining; "
            f"only in skills.eval: {sorted(e - t)}, only in skills.train: {sorted(t - e)}"
        )
    if setting == "fine_tuning" and not e < t:
        extra = sorted(e - t)
        why = f"{extra} are not training skills" if extra else "it names every training skill"
        raise SkillitError(
            "skills.eval must be a proper subset of the training skills (the targets) in "
            f"fine_tuning, but {why} (use continual_pretraining to evaluate every skill)"
        )
    if setting == "out_of_domain" and t & e:
        raise SkillitError(
            "skills.eval must share no skill with the training skills in out_of_domain; "
            f"both name {sorted(t & e)}"
        )


def prerequisite_mask(graph: np.ndarray) -> np.ndarray:
    """Training skills (rows) with an edge to at least one evaluation skill (column)."""
    a = np.asarray(graph, dtype=np.float64)
    return (a > 0).any(axis=1)


def stratified_mask(
    setting: str,
    train_skills: Sequence[str],
    eval_skills: Sequence[str],
    graph: np.ndarray,
) -> np.ndarray:
    """(k,) bool: the training skills the stratified baseline samples uniformly from."""
    check_setting(setting, train_skills, eval_skills)
    a = np.asarray(graph, dtype=np.float64)
    k, m = len(train_skills), len(eval_skills)
    if a.shape != (k, m):
        raise SkillitError(
            f"the graph has shape {a.shape} but skills.train and skills.eval need ({k}, {m})"
        )
    if setting == "continual_pretraining":
        return np.ones(k, dtype=bool)
    prerequisites = prerequisite_mask(a)
    if setting == "fine_tuning":
        targets = np.isin(np.asarray(list(train_skills), dtype=object), list(eval_skills))
        return prerequisites | targets
    if not prerequisites.any():
        raise SkillitError(
            "no training skill has an edge to any skill of skills.eval in the graph, so the "
            "out_of_domain stratified baseline has nothing to sample; check the graph"
        )
    return prerequisites
