"""Settings of the Natural Instructions source (config section `data.natinst`)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from skillit.errors import SkillitError

KEY = "data.natinst"  # errors name fields as data.natinst.<field>
ROOT_ENV = "SKILLIT_NATINST"
SLICERS = ("category", "category_language")
ON_MISSING = ("warn", "error")
MIN_CONTEXT = 64  # below this the template's labels leave too little room for text
SPLIT_PATTERN = re.compile(r"^[\w.\-]+/(train|test)$")


@dataclass
class NatInstSourceConfig:
    """Which Natural Instructions tasks make which skills, and how samples are built.

    Skills are task categories in snake case (``slicer: category``, e.g. ``question_generation``)
    or category x input language x output language (``slicer: category_language``, e.g.
    ``question_generation_spanish_spanish``).
    """

    root: str | None = None  # dataset folder holding tasks/ and splits/; else $SKILLIT_NATINST
    slicer: str = "category"  # category | category_language
    train_skills: list[str] | None = None  # None: every skill found among the training tasks
    eval_skills: list[str] | None = None  # None: every skill of eval_split, else the training ones
    train_split: str | None = None  # e.g. default/train; None: every file under <root>/tasks
    eval_split: str | None = None  # e.g. default/test, for evaluation-only skills; None: as train
    on_missing: str = "warn"  # a split names absent task files: warn (go on) | error
    min_instances: int = 0  # tasks with fewer instances are left out (paper: 100, 200)
    eval_min_instances: int | None = None  # the same for evaluation-only skills; None: as above
    dev_size: int = 100  # instances per task held out for validation (paper: 50 or 100)
    eval_dev_size: int | None = None  # per task of evaluation-only skills; None: dev_size
    split_seed: int = 0  # seed of the per-task validation hold-out
    max_len: int = 512  # context length of a training sequence, in tokens
    tokenizer: str | None = None  # a tokenizer.json to use; None: train a byte-level BPE
    vocab_size: int = 8192  # size of the trained BPE
    bpe_max_chars: int = 20_000_000  # cap on the text the BPE is trained on (spread over tasks)
    cache_dir: str = "~/.cache/skillit/natinst"  # where trained tokenizers are kept
    pad_id: int | None = None  # padding id when the tokenizer has no <pad> token
    # The natural mix (the `random` baseline): `instances`, each skill's share of the training
    # instances (the data as it is), or `tasks`, every training task equally likely (the
    # authors' random baseline samples uniformly over tasks).
    natural: str = "instances"

    def __post_init__(self) -> None:
        if self.natural not in ("instances", "tasks"):
            raise SkillitError(
                f"data.natinst.natural must be 'instances' or 'tasks', got {self.natural!r}"
            )
        if self.slicer not in SLICERS:
            raise SkillitError(f"{KEY}.slicer must be one of {list(SLICERS)}, got {self.slicer!r}")
        if self.on_missing not in ON_MISSING:
            raise SkillitError(
                f"{KEY}.on_missing must be one of {list(ON_MISSING)}, got {self.on_missing!r}"
            )
        for name in ("train_split", "eval_split"):
            value = getattr(self, name)
            if value is not None and not SPLIT_PATTERN.match(str(value)):
                raise SkillitError(
                    f"{KEY}.{name} must look like '<split>/train' or '<split>/test' "
                    f"(e.g. default/train, read from <root>/splits/default/train_tasks.txt), "
                    f"got {value!r}"
                )
        for name in ("train_skills", "eval_skills"):
            setattr(self, name, _name_list(getattr(self, name), name))
        minimums = {"min_instances": 0, "dev_size": 1, "vocab_size": 260, "bpe_max_chars": 1}
        minimums.update({"max_len": MIN_CONTEXT, "eval_min_instances": 0, "eval_dev_size": 1})
        minimums.update({"pad_id": 0, "split_seed": 0})
        for name, low in minimums.items():
            value = getattr(self, name)
            if value is None and name in ("eval_min_instances", "eval_dev_size", "pad_id"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise SkillitError(f"{KEY}.{name} must be an integer >= {low}, got {value!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> NatInstSourceConfig:
        """Build from a plain mapping; unknown keys are errors that list the valid ones."""
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise SkillitError(f"unknown key(s) {[f'{KEY}.{k}' for k in unknown]}; valid: {valid}")
        return cls(**dict(values))

    @property
    def eval_only_min_instances(self) -> int:
        return self.min_instances if self.eval_min_instances is None else self.eval_min_instances

    @property
    def eval_only_dev_size(self) -> int:
        return self.dev_size if self.eval_dev_size is None else self.eval_dev_size

    def resolved_root(self) -> Path:
        """The dataset folder: `root`, else $SKILLIT_NATINST; it must hold a tasks/ folder."""
        if self.root:
            where, raw = f"{KEY}.root", self.root
        elif os.environ.get(ROOT_ENV):
            where, raw = f"${ROOT_ENV}", os.environ[ROOT_ENV]
        else:
            raise SkillitError(
                f"the Natural Instructions folder is not set: set {KEY}.root or the {ROOT_ENV} "
                "environment variable to the folder that holds tasks/ and splits/"
            )
        root = Path(raw).expanduser()
        if not (root / "tasks").is_dir():
            raise SkillitError(
                f"{where}={raw!r} is not a Natural Instructions folder: {root / 'tasks'} does not "
                f"exist (set {KEY}.root or {ROOT_ENV} to the folder that holds tasks/ and splits/)"
            )
        return root


def _name_list(value: Any, name: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise SkillitError(f"{KEY}.{name} must be a list of skill names, got {value!r}")
    names = [str(v) for v in value]
    if not names:
        raise SkillitError(f"{KEY}.{name} is empty; give skill names or null for the default")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SkillitError(f"{KEY}.{name} lists {twice} more than once")
    return names
