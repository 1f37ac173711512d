"""Natural Instructions as a skill source: skills are task categories (optionally x languages).

How tasks become skills (see NatInstSourceConfig for the keys):
1. candidate tasks: the names a split file lists (`train_split`, `eval_split`), or every task file
   under <root>/tasks when no split is given; listed names without a file are reported
   (`on_missing`: warn and go on, or error);
2. each present task is read once and named by the slicer; tasks with fewer than `min_instances`
   instances are left out (`eval_min_instances` for evaluation-only skills);
3. training skills are `train_skills` (or every skill found), evaluation skills `eval_skills`
   (or every skill of `eval_split`, or the training skills); a skill's tasks come from the training
   candidates, or from the evaluation candidates for an evaluation-only skill;
4. every task holds out `dev_size` instances (`eval_dev_size` for evaluation-only skills), drawn
   with `split_seed` from its name alone; when a task is too small the hold-out is clipped (to half
   the task, or to all of it for an evaluation-only task) with a warning.

Sampling: a training sample of a skill picks one of the skill's tasks uniformly and packs that
task's definition and training instances into `max_len` tokens (packing.py); validation rows are
each held-out instance with its definition, scored on its first output.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from skillit.errors import SkillitError
from skillit.sources.base import SkillExamples
from skillit.sources.natinst.config import KEY, NatInstSourceConfig
from skillit.sources.natinst.loader import TaskStore, read_split, split_file
from skillit.sources.natinst.packing import (
    DEFINITION_LABEL,
    INPUT_LABEL,
    OUTPUT_LABEL,
    SEPARATOR,
    TaskTokens,
    TemplateIds,
    tokenize_task,
)
from skillit.sources.natinst.slicer import dev_positions, skill_of
from skillit.sources.natinst.vocab import build_tokenizer, resolve_pad_id

EXAMPLES_SHOWN = 5  # task names quoted in a warning or error


class NatInstWarning(UserWarning):
    """Data problems the source works around (missing task files, clipped hold-outs)."""


@dataclass
class _Candidates:
    """Tasks one setting (train or eval) draws from, and what it asked for but is not there."""

    present: list[str]
    missing: list[str]
    origin: str  # for messages: "split default/train (<file>)" or "<root>/tasks"


@dataclass
class _TaskPlan:
    name: str
    skill: str
    n_instances: int
    train: np.ndarray  # positions of training instances
    dev: np.ndarray  # positions of validation instances


def _quote(names: list[str]) -> str:
    shown = ", ".join(names[:EXAMPLES_SHOWN])
    return shown + (", ..." if len(names) > EXAMPLES_SHOWN else "")


class NatInstSource:
    """A :class:`~skillit.sources.base.SkillSource` over Natural Instructions task files.

    `tokenizer` overrides `cfg.tokenizer` (e.g. to share one tokenizer between sources).
    """

    def __init__(self, cfg: NatInstSourceConfig, tokenizer: Tokenizer | None = None) -> None:
        self.cfg = cfg
        self.root: Path = cfg.resolved_root()
        self._store = TaskStore(self.root)
        train_c = self._candidates(cfg.train_split, "train_split")
        eval_c = train_c
        if cfg.eval_split is not None and cfg.eval_split != cfg.train_split:
            eval_c = self._candidates(cfg.eval_split, "eval_split")
        self._missing = {
            "train": train_c.missing,
            "eval": eval_c.missing if eval_c is not train_c else [],
        }
        train_groups, train_small = self._group(train_c, cfg.min_instances)
        eval_groups, eval_small = self._group(eval_c, cfg.eval_only_min_instances)

        self._train_names = cfg.train_skills or sorted(train_groups)
        if not self._train_names:
            raise SkillitError(
                f"no training task left among {train_c.origin}: {len(train_c.present)} present, "
                f"all below {KEY}.min_instances={cfg.min_instances}"
            )
        self._check_skills(
            self._train_names,
            "train_skills",
            train_c,
            train_groups,
            train_small,
            "min_instances",
            cfg.min_instances,
        )
        if cfg.eval_skills is not None:
            self._eval_names = list(cfg.eval_skills)
        elif cfg.eval_split is not None:
            self._eval_names = sorted(eval_groups)
        else:
            self._eval_names = list(self._train_names)
        eval_only = [s for s in self._eval_names if s not in self._train_names]
        self._check_skills(
            eval_only,
            "eval_skills",
            eval_c,
            eval_groups,
            eval_small,
            "eval_min_instances",
            cfg.eval_only_min_instances,
        )
        self._names = self._train_names + eval_only
        self._below_min = {  # tasks left out of the skills used, by instance count
            t: c
            for s in self._names
            for t, c in (train_small if s in self._train_names else eval_small).get(s, {}).items()
        }
        self._index = {s: i for i, s in enumerate(self._names)}

        self._plans: dict[str, _TaskPlan] = {}
        self._skill_tasks: list[list[str]] = []
        clipped: list[str] = []
        for skill in self._names:
            trains = skill in self._train_names
            tasks = train_groups[skill] if trains else eval_groups[skill]
            self._skill_tasks.append(list(tasks))
            for name in tasks:
                self._plans[name] = self._plan(name, skill, trains, clipped)
        if clipped:
            warnings.warn(
                f"{len(clipped)} task(s) are too small for the validation hold-out "
                f"({KEY}.dev_size={cfg.dev_size}, {KEY}.eval_dev_size={cfg.eval_only_dev_size}; "
                "a training task keeps half for training, an evaluation-only one gives all); "
                f"held out: {_quote(clipped)}",
                NatInstWarning,
                stacklevel=2,
            )
        self._store.forget_all_but(set(self._plans))

        if tokenizer is not None:
            self._tokenizer, self._tokenizer_origin = tokenizer, "given"
        else:
            self._tokenizer, self._tokenizer_origin = build_tokenizer(
                cfg, self.root, sorted(self._plans), self._bpe_text
            )
        self._pad_id = resolve_pad_id(cfg, self._tokenizer, self._tokenizer_origin)
        self._template = TemplateIds.for_tokenizer(self._tokenizer)
        self._tokens: dict[str, TaskTokens] = {}
        self._validation: dict[int, SkillExamples] = {}

    # ---- selection -------------------------------------------------------------------------

    def _candidates(self, split: str | None, key: str) -> _Candidates:
        if split is None:
            return _Candidates(
                self._store.all_names(), [], f"the task files under {self.root / 'tasks'}"
            )
        names = read_split(self.root, split, key)
        present = [n for n in names if self._store.present(n)]
        missing = [n for n in names if not self._store.present(n)]
        origin = f"split {split} ({split_file(self.root, split)})"
        if missing:
            message = (
                f"{len(missing)} of {len(names)} tasks listed in {split_file(self.root, split)} have "
                f"no file under {self.root / 'tasks'} (e.g. {_quote(missing)})"
            )
            if self.cfg.on_missing == "error":
                raise SkillitError(
                    f"{message}; {KEY}.on_missing=error: point {KEY}.root at a folder holding them "
                    f"or set {KEY}.on_missing=warn to go on with the {len(present)} present"
                )
            warnings.warn(
                f"{message}; going on with the {len(present)} present ({KEY}.on_missing=warn)",
                NatInstWarning,
                stacklevel=3,
            )
        return _Candidates(present, missing, origin)

    def _group(
        self, cands: _Candidates, minimum: int
    ) -> tuple[dict[str, list[str]], dict[str, dict[str, int]]]:
        """(skill -> its tasks with >= minimum instances, skill -> {smaller task: count})."""
        groups: dict[str, list[str]] = {}
        small: dict[str, dict[str, int]] = {}
        for name in cands.present:
            task = self._store.get(name)
            skill = skill_of(task, self.cfg.slicer)
            if len(task) >= minimum:
                groups.setdefault(skill, []).append(name)
            else:
                small.setdefault(skill, {})[name] = len(task)
        return {s: sorted(ts) for s, ts in groups.items()}, small

    def _check_skills(
        self,
        requested: list[str],
        key: str,
        cands: _Candidates,
        groups: dict[str, list[str]],
        small: dict[str, dict[str, int]],
        min_key: str,
        minimum: int,
    ) -> None:
        found = sorted(set(groups) | set(small))
        unknown = [s for s in requested if s not in found]
        if unknown:
            hint = ""
            if cands.missing:
                hint = (
                    f"; {len(cands.missing)} tasks of that split have no file here, so the skills "
                    "of those tasks cannot be known"
                )
            raise SkillitError(
                f"{KEY}.{key} names {len(unknown)} skill(s) that no task has ({_quote(unknown)}; "
                f"slicer={self.cfg.slicer}); skills found among {cands.origin}: {found}{hint}; "
                f"null instead of a list takes every skill found"
            )
        for skill in requested:
            if skill not in groups:
                listed = _quote([f"{n} ({c})" for n, c in sorted(small[skill].items())])
                raise SkillitError(
                    f"{KEY}.{key}: skill {skill!r} has no task with at least {minimum} instances "
                    f"({KEY}.{min_key}={minimum}); its tasks: {listed}; lower {KEY}.{min_key}"
                )

    def _plan(self, name: str, skill: str, trains: bool, clipped: list[str]) -> _TaskPlan:
        n = len(self._store.get(name))
        asked = self.cfg.dev_size if trains else self.cfg.eval_only_dev_size
        size = asked
        if asked >= n:
            # a training task keeps half for training; an evaluation-only task may give all
            size = n // 2 if trains else n
        if size < asked:
            clipped.append(f"{name} ({size} of its {n} instances)")
        dev = dev_positions(name, n, size, self.cfg.split_seed)
        keep = np.ones(n, dtype=bool)
        keep[dev] = False
        return _TaskPlan(name, skill, n, np.flatnonzero(keep), dev)

    def _bpe_text(self) -> Iterator[str]:
        """Rendered training text of every chosen task, at most bpe_max_chars in all."""
        budget = max(self.cfg.bpe_max_chars // max(len(self._plans), 1), 1)
        for name in sorted(self._plans):
            task, plan = self._store.get(name), self._plans[name]
            text = f"{DEFINITION_LABEL} {task.definition}{SEPARATOR}"[:budget]
            used = len(text)
            yield text
            for i in plan.train:
                if used >= budget:
                    break
                text = f"{INPUT_LABEL} {task.inputs[i]}{OUTPUT_LABEL} {task.outputs[i]}{SEPARATOR}"
                text = text[: budget - used]
                used += len(text)
                yield text

    # ---- the SkillSource protocol ------------------------------------------------------------

    @property
    def skill_names(self) -> list[str]:
        """Training skills, then evaluation skills that are not training skills."""
        return list(self._names)

    @property
    def train_skill_names(self) -> list[str]:
        return list(self._train_names)

    @property
    def eval_skill_names(self) -> list[str]:
        return list(self._eval_names)

    @property
    def tokenizer(self) -> Tokenizer:
        return self._tokenizer

    @property
    def pad_id(self) -> int:
        return self._pad_id

    @property
    def max_len(self) -> int:
        return self.cfg.max_len

    def tasks_of(self, skill: int | str) -> list[str]:
        """The tasks that make up a skill (by index or name), sorted by name."""
        return list(self._skill_tasks[self._skill_index(skill)])

    def natural_proportions(self) -> np.ndarray:
        """Skill shares of the training instances; evaluation-only skills get 0."""
        counts = np.array(
            [
                sum(len(self._plans[t].train) for t in tasks) if s in self._train_names else 0
                for s, tasks in zip(self._names, self._skill_tasks)
            ],
            dtype=np.float64,
        )
        return counts / counts.sum()

    def task_proportions(self, weights: np.ndarray) -> dict[str, float]:
        """Sampling probability of each task under skill weights (indexed like skill_names):
        a skill's weight is split evenly over its tasks that have training instances."""
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (len(self._names),) or weights.min() < 0 or weights.sum() <= 0:
            raise ValueError(f"weights must be {len(self._names)} non-negative numbers, not all 0")
        weights = weights / weights.sum()
        out: dict[str, float] = {}
        for i, w in enumerate(weights):
            pool = self._train_pool(i, strict=w > 0)
            for task in pool:
                out[task] = float(w) / len(pool)
        return out

    def train_examples(self, skill: int, n: int, rng: np.random.Generator) -> SkillExamples:
        """n packed sequences of one skill: a task picked uniformly, then first-fit packing."""
        index = self._skill_index(skill)
        pool = self._train_pool(index, strict=True)
        rows = []
        for pick in rng.integers(0, len(pool), size=int(n)):
            tokens = self._task_tokens(pool[pick])
            order = rng.permutation(len(tokens.offsets) - 1)
            rows.append(tokens.pack(order, self.cfg.max_len))
        return self._stack(rows, index)

    def validation_examples(self, skill: int) -> SkillExamples:
        """Every held-out instance of the skill's tasks (tasks by name, instances by position)."""
        index = self._skill_index(skill)
        if index not in self._validation:
            rows = [r for t in self._skill_tasks[index] for r in self._task_tokens(t).dev_rows]
            if not rows:
                raise SkillitError(
                    f"skill {self._names[index]!r} has no validation instance: its tasks are too "
                    f"small for a hold-out ({KEY}.dev_size)"
                )
            self._validation[index] = self._stack(rows, index)
        v = self._validation[index]
        return SkillExamples(v.input_ids.copy(), v.loss_mask.copy(), v.skill.copy())

    # ---- reporting -------------------------------------------------------------------------

    def summary(self) -> dict:
        """Skills -> tasks -> instance counts, plus the tasks left out and why (JSON-ready)."""
        skills = {}
        for skill, tasks in zip(self._names, self._skill_tasks):
            role = "+".join(
                r
                for r, on in (
                    ("train", skill in self._train_names),
                    ("eval", skill in self._eval_names),
                )
                if on
            )
            skills[skill] = {
                "role": role,
                "tasks": {
                    t: {
                        "instances": self._plans[t].n_instances,
                        "train": len(self._plans[t].train),
                        "dev": len(self._plans[t].dev),
                    }
                    for t in tasks
                },
            }
        return {
            "root": str(self.root),
            "slicer": self.cfg.slicer,
            "train_split": self.cfg.train_split,
            "eval_split": self.cfg.eval_split,
            "tokenizer": self._tokenizer_origin,
            "skills": skills,
            "missing_tasks": {k: list(v) for k, v in self._missing.items()},
            "below_min_instances": dict(sorted(self._below_min.items())),
        }

    # ---- helpers -----------------------------------------------------------------------------

    def _skill_index(self, skill: int | str) -> int:
        if isinstance(skill, str):
            if skill not in self._index:
                raise KeyError(f"unknown skill {skill!r}; this source has {self._names}")
            return self._index[skill]
        if not 0 <= int(skill) < len(self._names):
            raise IndexError(f"skill {skill} is out of range (this source has {len(self._names)})")
        return int(skill)

    def _train_pool(self, index: int, strict: bool) -> list[str]:
        pool = [t for t in self._skill_tasks[index] if len(self._plans[t].train)]
        if strict and not pool:
            raise SkillitError(
                f"skill {self._names[index]!r} has no training instances: every instance of its "
                f"tasks is held out for validation ({KEY}.eval_dev_size); it can only be evaluated"
            )
        return pool

    def _task_tokens(self, name: str) -> TaskTokens:
        if name not in self._tokens:
            task, plan = self._store.get(name), self._plans[name]
            self._tokens[name] = tokenize_task(
                self._tokenizer,
                self._template,
                name,
                task.definition,
                task.inputs,
                task.outputs,
                plan.train,
                plan.dev,
                self.cfg.max_len,
            )
        return self._tokens[name]

    def _stack(self, rows: list[tuple[np.ndarray, np.ndarray]], skill: int) -> SkillExamples:
        """Right-pad rows to the longest one (never longer than max_len)."""
        width = max((len(ids) for ids, _ in rows), default=0)
        ids = np.full((len(rows), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=bool)
        for r, (row_ids, row_mask) in enumerate(rows):
            ids[r, : len(row_ids)] = row_ids
            mask[r, : len(row_mask)] = row_mask
        return SkillExamples(ids, mask, np.full(len(rows), skill, dtype=np.int64))
