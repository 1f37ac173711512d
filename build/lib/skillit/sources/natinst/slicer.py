"""Skill names of tasks, and the fixed per-task validation hold-out.

Skill names are snake case: the file's category "Question Generation" is `question_generation`.
With the `category_language` slicer the input and output languages follow, each in snake case:
`question_generation_spanish_spanish` (category, then input language, then output language). A task
written in several languages joins them, sorted, with "+": `translation_english+german_english`.
"""

from __future__ import annotations

import re
import zlib

import numpy as np

from skillit.sources.natinst.loader import NatInstTask


def snake_case(name: str) -> str:
    """'Question Generation' -> 'question_generation'; 'Misc.' -> 'misc.'."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def language_part(languages: tuple[str, ...]) -> str:
    return "+".join(sorted({snake_case(x) for x in languages})) or "unknown"


def skill_of(task: NatInstTask, slicer: str) -> str:
    category = snake_case(task.category)
    if slicer == "category":
        return category
    if slicer == "category_language":
        inp, out = language_part(task.input_languages), language_part(task.output_languages)
        return f"{category}_{inp}_{out}"
    raise ValueError(f"unknown slicer {slicer!r}")


def dev_positions(task_name: str, n_instances: int, dev_size: int, seed: int) -> np.ndarray:
    """Sorted positions of a task's validation instances.

    The draw depends only on (seed, task name), never on which other tasks are loaded, and a
    larger dev_size only adds instances (it takes a longer prefix of the same permutation).
    """
    rng = np.random.default_rng([seed, zlib.crc32(task_name.encode("utf-8"))])
    order = rng.permutation(n_instances)
    return np.sort(order[: min(dev_size, n_instances)])
