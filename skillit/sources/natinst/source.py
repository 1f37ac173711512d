"""Natural Instructions as a skill source: skills are task categories (optionally x languages).

Which tasks make which skills and which instances are held out: selection.py. A training sample of
a skill picks one of the skill's tasks uniformly and packs that task's definition and training
instances into `max_len` tokens; a validation row is one held-out instance with its definition,
scored on its first output (packing.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from skillit.errors import SkillitError
from skillit.sources.base import SkillExamples
from skillit.sources.natinst.config import KEY, NatInstSourceConfig
from skillit.sources.natinst.loader import TaskStore
from skillit.sources.natinst.packing import (
    DEFINITION_LABEL,
    INPUT_LABEL,
    OUTPUT_LABEL,
    SEPARATOR,
    TaskTokens,
    TemplateIds,
    tokenize_task,
)
from skillit.sources.natinst.selection import NatInstWarning, select
from skillit.sources.natinst.vocab import build_tokenizer, resolve_pad_id

__all__ = ["NatInstSource", "NatInstWarning"]


class NatInstSource:
    """A :class:`~skillit.sources.base.SkillSource` over Natural Instructions task files.

    `tokenizer` overrides `cfg.tokenizer` (e.g. to share one tokenizer between sources).
    """

    def __init__(self, cfg: NatInstSourceConfig, tokenizer: Tokenizer | None = None) -> None:
        self.cfg = cfg
        self.root: Path = cfg.resolved_root()
        self._store = TaskStore(self.root)
        self._sel = select(cfg, self._store)
        self._plans = self._sel.plans
        self._index = {s: i for i, s in enumerate(self._sel.skill_names)}
        self._store.forget_all_but(set(self._plans))
        if tokenizer is not None:
            self._tokenizer, self._tokenizer_origin = tokenizer, "given"
        else:
            self._tokenizer, self._tokenizer_origin = build_tokenizer(
                cfg, self.root, sorted(self._plans), self._bpe_text
            )
        self._pad_id = resolve_pad_id(cfg, self._tokenizer, self._tokenizer_origin)
        self._template = TemplateIds.for_tokenizer(self._tokenizer)
        self._tokens: dict[str, TaskTokens] = {}  # tokenized on first use
        self._validation: dict[int, SkillExamples] = {}

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
        return list(self._sel.skill_names)

    @property
    def train_skill_names(self) -> list[str]:
        return list(self._sel.train_skills)

    @property
    def eval_skill_names(self) -> list[str]:
        return list(self._sel.eval_skills)

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
        return list(self._sel.skill_tasks[self._skill_index(skill)])

    def natural_proportions(self) -> np.ndarray:
        """Skill shares of the training instances, or of the training tasks with
        data.natinst.natural=tasks; evaluation-only skills get 0."""
        by_tasks = self.cfg.natural == "tasks"
        counts = np.array(
            [
                sum(1 if by_tasks else len(self._plans[t].train) for t in tasks)
                if s in self._sel.train_skills
                else 0
                for s, tasks in zip(self._sel.skill_names, self._sel.skill_tasks)
            ],
            dtype=np.float64,
        )
        return counts / counts.sum()

    def task_proportions(self, weights: np.ndarray) -> dict[str, float]:
        """Sampling probability of each task under skill weights (indexed like skill_names):
        a skill's weight is split evenly over its tasks that have training instances."""
        weights = np.asarray(weights, dtype=np.float64)
        if (
            weights.shape != (len(self._sel.skill_names),)
            or weights.min() < 0
            or weights.sum() <= 0
        ):
            raise ValueError(
                f"weights must be {len(self._sel.skill_names)} non-negative numbers, not all 0"
            )
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
            rows = [r for t in self._sel.skill_tasks[index] for r in self._task_tokens(t).dev_rows]
            if not rows:
                raise SkillitError(
                    f"skill {self._sel.skill_names[index]!r} has no validation instance: its tasks are too "
                    f"small for a hold-out ({KEY}.dev_size)"
                )
            self._validation[index] = self._stack(rows, index)
        v = self._validation[index]
        return SkillExamples(v.input_ids.copy(), v.loss_mask.copy(), v.skill.copy())

    # ---- reporting -------------------------------------------------------------------------

    def summary(self) -> dict:
        """Skills -> tasks -> instance counts, plus the tasks left out and why (JSON-ready)."""
        skills = {}
        for skill, tasks in zip(self._sel.skill_names, self._sel.skill_tasks):
            role = "+".join(
                r
                for r, on in (
                    ("train", skill in self._sel.train_skills),
                    ("eval", skill in self._sel.eval_skills),
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
            "missing_tasks": {k: list(v) for k, v in self._sel.missing.items()},
            "below_min_instances": dict(self._sel.below_min),
        }

    # ---- helpers -----------------------------------------------------------------------------

    def _skill_index(self, skill: int | str) -> int:
        if isinstance(skill, str):
            if skill not in self._index:
                raise KeyError(f"unknown skill {skill!r}; this source has {self._sel.skill_names}")
            return self._index[skill]
        if not 0 <= int(skill) < len(self._sel.skill_names):
            raise IndexError(
                f"skill {skill} is out of range (this source has {len(self._sel.skill_names)})"
            )
        return int(skill)

    def _train_pool(self, index: int, strict: bool) -> list[str]:
        pool = [t for t in self._sel.skill_tasks[index] if len(self._plans[t].train)]
        if strict and not pool:
            raise SkillitError(
                f"skill {self._sel.skill_names[index]!r} has no training instances: every instance of its "
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
