"""Reading Natural Instructions in the dataset's own layout.

    <root>/tasks/<task>.json                  one task: definition, categories, languages, instances
    <root>/splits/<split>/{train,test}_tasks.txt   task names, one a line

Only what samples need is kept of a task file: its definition, first category, languages and,
per instance, the input and the first output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillit.errors import SkillitError
from skillit.sources.natinst.config import KEY
from skillit.utils import jsonio


@dataclass(frozen=True)
class NatInstTask:
    name: str
    category: str  # the first of the file's Categories, as written there (title case)
    input_languages: tuple[str, ...]
    output_languages: tuple[str, ...]
    definition: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]  # the first output of each instance
    dropped: int = 0  # instances left out because they have no output

    def __len__(self) -> int:
        return len(self.inputs)


def task_path(root: Path, name: str) -> Path:
    return root / "tasks" / f"{name}.json"


def available_tasks(root: Path) -> list[str]:
    """Names of every task file under <root>/tasks, sorted."""
    return sorted(p.stem for p in (root / "tasks").glob("*.json") if p.is_file())


def split_file(root: Path, split: str) -> Path:
    """'default/train' -> <root>/splits/default/train_tasks.txt."""
    folder, part = split.split("/")
    return root / "splits" / folder / f"{part}_tasks.txt"


def read_split(root: Path, split: str, key: str) -> list[str]:
    """Task names a split file lists, in file order, each once; `key` names the setting."""
    path = split_file(root, split)
    if not path.is_file():
        folders = sorted(p.name for p in (root / "splits").glob("*") if p.is_dir())
        raise SkillitError(
            f"{KEY}.{key}={split!r}: {path} does not exist (split folders under "
            f"{root / 'splits'}: {folders or 'none'})"
        )
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return list(dict.fromkeys(n for n in names if n))


def read_task(path: Path) -> NatInstTask:
    """Parse and check one task file; every problem is a SkillitError naming the file."""
    try:
        obj = jsonio.loads(path.read_bytes(), path)
    except json.JSONDecodeError as exc:
        raise SkillitError(f"{path}:{exc.lineno}:{exc.colno}: malformed JSON ({exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise SkillitError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise SkillitError(f"{path}: cannot be read ({exc.strerror})") from None
    if not isinstance(obj, dict):
        raise SkillitError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    categories = _strings(obj, "Categories", path)
    if not categories:
        raise SkillitError(f"{path}: 'Categories' is empty; a task needs its category")
    instances = obj.get("Instances")
    if not isinstance(instances, list):
        raise SkillitError(f"{path}: 'Instances' must be a list of {{id, input, output}} objects")
    if not instances:
        raise SkillitError(f"{path}: the task has no instances ('Instances' is empty)")
    inputs, outputs, dropped = [], [], 0
    for i, inst in enumerate(instances):
        text, answer = _instance(inst, i, path)
        if answer is None:
            dropped += 1
            continue
        inputs.append(text)
        outputs.append(answer)
    if not inputs:
        raise SkillitError(f"{path}: none of the {len(instances)} instances has an output")
    return NatInstTask(
        name=path.stem,
        category=categories[0],
        input_languages=tuple(_strings(obj, "Input_language", path)),
        output_languages=tuple(_strings(obj, "Output_language", path)),
        definition="\n".join(d.strip() for d in _strings(obj, "Definition", path)),
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        dropped=dropped,
    )


def _strings(obj: dict, key: str, path: Path) -> list[str]:
    """A field that is a string or a list of strings, as a list."""
    if key not in obj:
        raise SkillitError(f"{path}: the field {key!r} is missing")
    value = obj[key]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise SkillitError(f"{path}: {key!r} must be a string or a list of strings, got {value!r:.80}")


def _instance(inst: Any, i: int, path: Path) -> tuple[str, str | None]:
    """(input, first output), or (input, None) when the instance lists no output."""
    if not isinstance(inst, dict) or not isinstance(inst.get("input"), str):
        raise SkillitError(f"{path}: Instances[{i}] must be an object with a string 'input'")
    output = inst.get("output")
    if isinstance(output, str):
        return inst["input"], output
    if isinstance(output, list) and all(isinstance(o, str) for o in output):
        return inst["input"], (output[0] if output else None)
    raise SkillitError(
        f"{path}: Instances[{i}] 'output' must be a list of strings, got {output!r:.80}"
    )


class TaskStore:
    """Parsed tasks of one dataset folder, each file read at most once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._present = set(available_tasks(root))
        self._tasks: dict[str, NatInstTask] = {}

    def present(self, name: str) -> bool:
        return name in self._present

    def all_names(self) -> list[str]:
        return sorted(self._present)

    def get(self, name: str) -> NatInstTask:
        if name not in self._tasks:
            self._tasks[name] = read_task(task_path(self.root, name))
        return self._tasks[name]

    def forget_all_but(self, keep: set[str]) -> None:
        """Drop parsed tasks no skill uses, so their text does not stay in memory."""
        self._tasks = {n: t for n, t in self._tasks.items() if n in keep}
