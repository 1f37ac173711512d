"""Which tasks make which skills, and which instances of a task are held out.

1. Candidate tasks: the names a split file lists (`train_split`, `eval_split`), or every task file
   under <root>/tasks when no split is given. Listed names without a file are reported
   (`on_missing`: warn and go on with those present, or error).
2. Each present task is read once and named by the slicer; tasks with fewer than `min_instances`
   instances are left out (`eval_min_instances` for evaluation-only skills).
3. Training skills are `train_skills`, or every skill found among the training candidates.
   Evaluation skills are `eval_skills`, or every skill of `eval_split`, or the training skills. A
   skill's tasks come from the training candidates, or from the evaluation candidates for an
   evaluation-only skill. A named skill with no task is an error, whatever `on_missing` says.
4. Every task holds out `dev_size` instances (`eval_dev_size` for evaluation-only skills), drawn with
   `split_seed` from the task's name alone. A task too small for that holds out half its instances
   (a training task) or all of them (an evaluation-only task), with a warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from skillit.errors import SkillitError
from skillit.sources.natinst.config import KEY, NatInstSourceConfig
from skillit.sources.natinst.loader import TaskStore, read_split, split_file
from skillit.sources.natinst.slicer import dev_positions, skill_of

EXAMPLES_SHOWN = 5  # names quoted in a warning or an error


class NatInstWarning(UserWarning):
    """Data problems the source works around (missing task files, clipped hold-outs)."""


def quote(names: list[str]) -> str:
    shown = ", ".join(names[:EXAMPLES_SHOWN])
    return shown + (", ..." if len(names) > EXAMPLES_SHOWN else "")


@dataclass
class Candidates:
    """Tasks one side (training or evaluation) draws from, and what it lists but lacks."""

    present: list[str]
    missing: list[str]
    origin: str  # for messages: the split file, or the tasks folder


@dataclass
class TaskPlan:
    """One task of a skill: its size and which instance positions train or validate."""

    name: str
    skill: str
    n_instances: int
    train: np.ndarray
    dev: np.ndarray


@dataclass
class Selection:
    train_skills: list[str]
    eval_skills: list[str]
    skill_names: list[str]  # training skills, then evaluation skills not among them
    skill_tasks: list[list[str]]  # per skill_names entry, sorted task names
    plans: dict[str, TaskPlan]
    missing: dict[str, list[str]] = field(default_factory=dict)  # "train"/"eval" -> task names
    below_min: dict[str, int] = field(default_factory=dict)  # left-out task -> instance count


def candidates(
    cfg: NatInstSourceConfig, store: TaskStore, split: str | None, key: str
) -> Candidates:
    root = store.root
    if split is None:
        return Candidates(store.all_names(), [], f"the task files under {root / 'tasks'}")
    names = read_split(root, split, key)
    present = [n for n in names if store.present(n)]
    missing = [n for n in names if not store.present(n)]
    path = split_file(root, split)
    if missing:
        message = (
            f"{len(missing)} of {len(names)} tasks listed in {path} have no file under "
            f"{root / 'tasks'} (e.g. {quote(missing)})"
        )
        if cfg.on_missing == "error":
            raise SkillitError(
                f"{message}; {KEY}.on_missing=error: point {KEY}.root at a folder holding them "
                f"or set {KEY}.on_missing=warn to go on with the {len(present)} present"
            )
        warnings.warn(
            f"{message}; going on with the {len(present)} present ({KEY}.on_missing=warn)",
            NatInstWarning,
            stacklevel=4,
        )
    return Candidates(present, missing, f"split {split} ({path})")


def group(
    store: TaskStore, cands: Candidates, slicer: str, minimum: int
) -> tuple[dict[str, list[str]], dict[str, dict[str, int]]]:
    """(skill -> its tasks with >= minimum instances, skill -> {smaller task: count})."""
    groups: dict[str, list[str]] = {}
    small: dict[str, dict[str, int]] = {}
    for name in cands.present:
        task = store.get(name)
        skill = skill_of(task, slicer)
        if len(task) >= minimum:
            groups.setdefault(skill, []).append(name)
        else:
            small.setdefault(skill, {})[name] = len(task)
    return {s: sorted(ts) for s, ts in groups.items()}, small


def check_skills(
    requested: list[str],
    key: str,
    cands: Candidates,
    groups: dict[str, list[str]],
    small: dict[str, dict[str, int]],
    slicer: str,
    min_key: str,
    minimum: int,
) -> None:
    """Every requested skill must be a skill of some candidate and keep at least one task."""
    found = sorted(set(groups) | set(small))
    unknown = [s for s in requested if s not in found]
    if unknown:
        hint = ""
        if cands.missing:
            hint = (
                f"; {len(cands.missing)} tasks of that split have no file here, so the skills of "
                "those tasks cannot be known"
            )
        raise SkillitError(
            f"{KEY}.{key} names {len(unknown)} skill(s) that no task has ({quote(unknown)}; "
            f"slicer={slicer}); skills found among {cands.origin}: {found}{hint}; null instead "
            "of a list takes every skill found"
        )
    for skill in requested:
        if skill not in groups:
            listed = quote([f"{n} ({c})" for n, c in sorted(small[skill].items())])
            raise SkillitError(
                f"{KEY}.{key}: skill {skill!r} has no task with at least {minimum} instances "
                f"({KEY}.{min_key}={minimum}); its tasks: {listed}; lower {KEY}.{min_key}"
            )


def plan_task(
    cfg: NatInstSourceConfig, name: str, skill: str, n: int, trains: bool, clipped: list[str]
) -> TaskPlan:
    asked = cfg.dev_size if trains else cfg.eval_only_dev_size
    size = asked if asked < n else (n // 2 if trains else n)
    if size < asked:
        clipped.append(f"{name} ({size} of its {n} instances)")
    dev = dev_positions(name, n, size, cfg.split_seed)
    keep = np.ones(n, dtype=bool)
    keep[dev] = False
    return TaskPlan(name, skill, n, np.flatnonzero(keep), dev)


def select(cfg: NatInstSourceConfig, store: TaskStore) -> Selection:
    """Skills, their tasks and each task's hold-out, as the module docstring describes."""
    train_c = candidates(cfg, store, cfg.train_split, "train_split")
    eval_c = train_c
    if cfg.eval_split is not None and cfg.eval_split != cfg.train_split:
        eval_c = candidates(cfg, store, cfg.eval_split, "eval_split")
    train_groups, train_small = group(store, train_c, cfg.slicer, cfg.min_instances)
    eval_groups, eval_small = group(store, eval_c, cfg.slicer, cfg.eval_only_min_instances)

    train = cfg.train_skills or sorted(train_groups)
    if not train:
        raise SkillitError(
            f"no training task left among {train_c.origin}: {len(train_c.present)} present, "
            f"none with at least {KEY}.min_instances={cfg.min_instances} instances"
        )
    check_skills(
        train, "train_skills", train_c, train_groups, train_small, cfg.slicer, "min_instances",
        cfg.min_instances,
    )  # fmt: skip
    if cfg.eval_skills is not None:
        evals = list(cfg.eval_skills)
    elif cfg.eval_split is not None:
        evals = sorted(eval_groups)
    else:
        evals = list(train)
    eval_only = [s for s in evals if s not in train]
    check_skills(
        eval_only, "eval_skills", eval_c, eval_groups, eval_small, cfg.slicer,
        "eval_min_instances", cfg.eval_only_min_instances,
    )  # fmt: skip

    names = [*train, *eval_only]
    skill_tasks, plans, below_min, clipped = [], {}, {}, []
    for skill in names:
        trains = skill in train
        tasks = (train_groups if trains else eval_groups)[skill]
        below_min.update((train_small if trains else eval_small).get(skill, {}))
        skill_tasks.append(list(tasks))
        for name in tasks:
            plans[name] = plan_task(cfg, name, skill, len(store.get(name)), trains, clipped)
    if clipped:
        warnings.warn(
            f"{len(clipped)} task(s) are too small for the validation hold-out "
            f"({KEY}.dev_size={cfg.dev_size}, {KEY}.eval_dev_size={cfg.eval_only_dev_size}; "
            "a training task keeps half for training, an evaluation-only one gives all); "
            f"held out: {quote(clipped)}",
            NatInstWarning,
            stacklevel=3,
        )
    missing = {"train": train_c.missing, "eval": eval_c.missing if eval_c is not train_c else []}
    return Selection(
        list(train), evals, names, skill_tasks, plans, missing, dict(sorted(below_min.items()))
    )
