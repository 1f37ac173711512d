"""The skills-graph file: a k x m matrix with the names of its rows and columns.

Row i is training skill i, column j is evaluation skill j, and A[i, j] >= 0 is the strength of
the edge from i to j. A graph is saved as JSON (names, matrix and how it was learned) so it can be
read, diffed and edited by hand; a bare ``.npy`` matrix is accepted too when the caller supplies
the names. Fine-tuning and out-of-domain runs use a sub-matrix picked by name with
:meth:`SkillGraph.select`.

JSON layout::

    {"format": "skillit-graph", "version": 1,
     "train_skills": ["a", "b"], "eval_skills": ["b"], "matrix": [[0.5], [1.0]],
     "method": "linear", "steps": 300, "seeds": [0, 1], "raw_deltas": null, "notes": ""}
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skillit.errors import SkillitError
from skillit.utils import jsonio
from skillit.utils.safe_paths import write_inside

FORMAT = "skillit-graph"
# What to do with negative entries (the authors' learned NI graphs have many):
#   error   refuse the graph (a negative edge pushes weight away from a prerequisite)
#   clip    set them to 0
#   authors keep them and normalise as the authors' code does: own entries 1, other 1s -> 0.5
NEGATIVE_MODES = ("error", "clip", "authors")
VERSION = 1


@dataclass
class SkillGraph:
    """A skills graph with named rows (training skills) and columns (evaluation skills)."""

    train_skills: list[str]
    eval_skills: list[str]
    matrix: np.ndarray  # (k, m) float64, finite, >= 0
    method: str = "manual"  # how it was made: manual, brute_force, linear, complete, identity
    steps: int | None = None  # training steps per probe run when learned
    seeds: list[int] = field(default_factory=list)
    raw_deltas: np.ndarray | None = (
        None  # unnormalised loss drops, e.g. (seeds, k, m); may hold NaN
    )
    notes: str = ""
    origin: str = field(default="the graph", compare=False, repr=False)  # named in errors
    negative: str = field(default="error", compare=False, repr=False)  # see NEGATIVE_MODES

    def __post_init__(self) -> None:
        self.train_skills = _check_names(self.train_skills, "train_skills", self.origin)
        self.eval_skills = _check_names(self.eval_skills, "eval_skills", self.origin)
        if self.negative not in NEGATIVE_MODES:
            raise SkillitError(
                f"mixing.graph.negative must be one of {list(NEGATIVE_MODES)}, got {self.negative!r}"
            )
        self.matrix = _check_matrix(
            self.matrix, len(self.train_skills), len(self.eval_skills), self.origin, self.negative
        )
        if self.raw_deltas is not None:
            try:
                self.raw_deltas = np.asarray(self.raw_deltas, dtype=np.float64)
            except (TypeError, ValueError, OverflowError) as exc:
                raise SkillitError(
                    f"{self.origin}: raw_deltas is not a numeric array ({exc})"
                ) from None
        if self.steps is not None:
            if isinstance(self.steps, bool) or not isinstance(self.steps, (int, np.integer)):
                raise SkillitError(f"{self.origin}: steps must be an integer >= 0 or null")
            if self.steps < 0:
                raise SkillitError(f"{self.origin}: steps must be an integer >= 0 or null")
            self.steps = int(self.steps)
        if not isinstance(self.seeds, (list, tuple)) or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in self.seeds
        ):  # a float seed (1.5, 1e400) is no seed a learner wrote
            raise SkillitError(
                f"{self.origin}: seeds must be a list of integers, got {self.seeds!r}"
            )
        self.seeds = [int(s) for s in self.seeds]

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.train_skills), len(self.eval_skills))

    def select(self, train_names: Sequence[str], eval_names: Sequence[str]) -> np.ndarray:
        """The sub-matrix with rows `train_names` and columns `eval_names`, in that order."""
        rows = _positions(train_names, self.train_skills, "training", self.origin)
        cols = _positions(eval_names, self.eval_skills, "evaluation", self.origin)
        return self.matrix[np.ix_(rows, cols)].copy()


def _check_names(names: Any, key: str, origin: str) -> list[str]:
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise SkillitError(f"{origin}: {key} must be a list of skill names, got {names!r}")
    out = list(names)
    if not out:
        raise SkillitError(f"{origin}: {key} is empty; a graph needs at least one skill")
    for name in out:
        if not isinstance(name, str) or not name:
            raise SkillitError(f"{origin}: {key} must hold non-empty strings, got {name!r}")
    dupes = sorted({n for n in out if out.count(n) > 1})
    if dupes:
        raise SkillitError(f"{origin}: {key} lists {dupes} more than once; names must be unique")
    return out


def _check_matrix(
    matrix: Any, k: int, m: int, origin: str, negative_mode: str = "error"
) -> np.ndarray:
    try:
        a = np.array(matrix, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:  # Overflow: an integer past any float
        raise SkillitError(
            f"{origin}: matrix must be a {k} x {m} table of numbers (one row per training skill, "
            f"one column per evaluation skill): {exc}"
        ) from None
    if a.shape != (k, m):
        raise SkillitError(
            f"{origin}: matrix has shape {a.shape} but the names need ({k}, {m}) "
            f"({k} training skills x {m} evaluation skills)"
        )
    bad = np.argwhere(~np.isfinite(a))
    if bad.size:
        i, j = (int(v) for v in bad[0])
        raise SkillitError(
            f"{origin}: matrix[{i}][{j}] = {a[i, j]} ({len(bad)} such entries); every entry must be "
            "a finite number"
        )
    negative = np.argwhere(a < 0)
    if negative.size and negative_mode == "error":
        i, j = (int(v) for v in negative[0])
        raise SkillitError(
            f"{origin}: matrix[{i}][{j}] = {a[i, j]} ({len(negative)} negative entries); edges must "
            "be >= 0, or set mixing.graph.negative=clip (negative entries become 0) or "
            "mixing.graph.negative=authors (kept, as the authors' code uses them)"
        )
    return a


def treat_negative(graph: SkillGraph, mode: str) -> np.ndarray:
    """The matrix as `mode` (mixing.graph.negative) has it used; see NEGATIVE_MODES."""
    a = graph.matrix.copy()
    if mode == "clip":
        return np.maximum(a, 0.0)
    if mode == "authors":
        own = np.array([[t == e for e in graph.eval_skills] for t in graph.train_skills])
        a[(a == 1.0) & ~own] = 0.5
        a[own] = 1.0
    return a


def _positions(wanted: Sequence[str], names: list[str], kind: str, origin: str) -> list[int]:
    if isinstance(wanted, str):
        raise SkillitError(f"{origin}: select needs a list of {kind} skill names, got {wanted!r}")
    index = {name: i for i, name in enumerate(names)}
    missing = [w for w in wanted if w not in index]
    if missing:
        raise SkillitError(
            f"{origin}: {kind} skills {missing} are not in the graph; its {kind} skills are {names}"
        )
    return [index[w] for w in wanted]


def _json_array(a: np.ndarray) -> list:
    """Nested lists with non-finite values as null (JSON has no NaN)."""
    obj = a.astype(object)
    obj[~np.isfinite(a)] = None
    return obj.tolist()


def graph_to_dict(graph: SkillGraph) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "train_skills": list(graph.train_skills),
        "eval_skills": list(graph.eval_skills),
        "matrix": graph.matrix.tolist(),
        "method": graph.method,
        "steps": None if graph.steps is None else int(graph.steps),
        "seeds": list(graph.seeds),
        "raw_deltas": None if graph.raw_deltas is None else _json_array(graph.raw_deltas),
        "notes": graph.notes,
    }


def graph_from_dict(data: Any, origin: str, negative: str = "error") -> SkillGraph:
    if not isinstance(data, dict):
        raise SkillitError(f"{origin}: expected a JSON object, got {type(data).__name__}")
    if data.get("format", FORMAT) != FORMAT:
        raise SkillitError(f"{origin}: format is {data['format']!r}, expected {FORMAT!r}")
    if data.get("version", VERSION) != VERSION:
        raise SkillitError(f"{origin}: version {data['version']!r} is not supported (only 1)")
    for key in ("train_skills", "matrix"):
        if key not in data:
            raise SkillitError(f"{origin}: the key {key!r} is missing")
    train = data["train_skills"]
    evals = data.get("eval_skills", train)  # absent: a square continual pre-training graph
    raw = data.get("raw_deltas")
    if raw is not None:
        try:
            raw = np.array(raw, dtype=np.float64)  # null -> NaN
        except (TypeError, ValueError, OverflowError) as exc:
            raise SkillitError(f"{origin}: raw_deltas is not a numeric array ({exc})") from None
    return SkillGraph(
        train_skills=train,
        eval_skills=evals,
        matrix=data["matrix"],
        method=str(data.get("method", "manual")),
        steps=data.get("steps"),
        seeds=data.get("seeds") or [],
        raw_deltas=raw,
        notes=str(data.get("notes", "")),
        origin=origin,
        negative=negative,
    )


def save_graph(graph: SkillGraph, path: str | Path) -> Path:
    """Write the graph as JSON (one matrix row per line, so diffs stay readable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = graph_to_dict(graph)
    fields = []
    for key, value in data.items():
        if key == "matrix":  # one row per line, so a diff shows which skill's edges changed
            rows = ",\n    ".join(json.dumps(row, allow_nan=False) for row in value)
            text = f"[\n    {rows}\n  ]"
        else:
            text = json.dumps(value, allow_nan=False)
        fields.append(f"  {json.dumps(key)}: {text}")
    text = "{\n" + ",\n".join(fields) + "\n}"
    write_inside(path.parent, path.name, (text + "\n").encode("utf-8"))  # whole or not at all
    return path


def export_npy(graph: SkillGraph, path: str | Path) -> Path:
    """Write the bare k x m matrix (names are not kept; pass them back to load_graph)."""
    path = Path(path)
    path = path if path.suffix == ".npy" else path.with_name(path.name + ".npy")  # as np.save
    buffer = io.BytesIO()
    np.save(buffer, graph.matrix)
    return write_inside(path.parent, path.name, buffer.getvalue())  # whole or not at all


def load_graph(
    path: str | Path,
    train_skills: Sequence[str] | None = None,
    eval_skills: Sequence[str] | None = None,
    negative: str = "error",
) -> SkillGraph:
    """Read a graph from JSON or from a bare ``.npy`` matrix.

    A ``.npy`` file carries no names: pass `train_skills` (and `eval_skills`, which defaults to
    `train_skills` for a square matrix). For a JSON file, names passed here select and reorder
    the rows and columns they name.
    """
    path = Path(path)
    origin = f"graph file {path}"
    if not path.is_file():
        raise SkillitError(f"{origin} does not exist (expected a .json graph or a .npy matrix)")
    if path.suffix == ".npy":
        return _load_npy(path, origin, train_skills, eval_skills, negative)
    try:
        data = jsonio.loads(path.read_text(encoding="utf-8"), path)
    except json.JSONDecodeError as exc:
        raise SkillitError(
            f"{origin} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except UnicodeDecodeError as exc:
        raise SkillitError(f"{origin} is not UTF-8 text (byte {exc.start})") from None
    graph = graph_from_dict(data, origin, negative)
    if train_skills is None and eval_skills is None:
        return graph
    rows = list(train_skills) if train_skills is not None else graph.train_skills
    cols = list(eval_skills) if eval_skills is not None else graph.eval_skills
    return SkillGraph(
        train_skills=rows,
        eval_skills=cols,
        matrix=graph.select(rows, cols),
        method=graph.method,
        steps=graph.steps,
        seeds=graph.seeds,
        notes=graph.notes,
        origin=origin,
        negative=negative,
    )


def _load_npy(
    path: Path,
    origin: str,
    train_skills: Sequence[str] | None,
    eval_skills: Sequence[str] | None,
    negative: str = "error",
) -> SkillGraph:
    if train_skills is None:
        raise SkillitError(
            f"{origin} is a bare matrix with no skill names; give the training (and evaluation) "
            "skill names, or save the graph as JSON"
        )
    try:
        matrix = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SkillitError(f"{origin} is not a readable .npy array: {exc}") from None
    if matrix.ndim != 2:
        raise SkillitError(f"{origin}: expected a 2-D k x m matrix, got shape {matrix.shape}")
    evals = list(eval_skills) if eval_skills is not None else list(train_skills)
    return SkillGraph(
        train_skills=list(train_skills),
        eval_skills=evals,
        matrix=matrix,
        method="npy",
        origin=origin,
        negative=negative,
    )


def graph_from_config(
    matrix: Any,
    train_skills: Sequence[str],
    eval_skills: Sequence[str] | None = None,
    key: str = "graph.matrix",
    negative: str = "error",
) -> SkillGraph:
    """A graph written inline in a config; errors name the config `key`."""
    evals = list(eval_skills) if eval_skills is not None else list(train_skills)
    return SkillGraph(
        list(train_skills),
        evals,
        matrix,
        method="manual",
        origin=f"config key {key}",
        negative=negative,
    )


def complete_graph(names: Sequence[str]) -> SkillGraph:
    """Every skill feeds every skill equally: Skill-It then samples uniformly (stratified)."""
    k = len(names)
    return SkillGraph(list(names), list(names), np.ones((k, k)), method="complete")


def identity_graph(
    train_skills: Sequence[str], eval_skills: Sequence[str] | None = None
) -> SkillGraph:
    """Each skill feeds only itself, matched by name (the 'no graph' ablation).

    With `eval_skills` in a different order, the matrix is the matching permutation; both lists
    must name the same skills.
    """
    evals = list(eval_skills) if eval_skills is not None else list(train_skills)
    if sorted(evals) != sorted(train_skills):
        raise SkillitError(
            "the identity graph needs the same training and evaluation skills (key skills.eval): "
            f"training {list(train_skills)}, evaluation {evals}"
        )
    matrix = np.array([[float(t == e) for e in evals] for t in train_skills])
    return SkillGraph(list(train_skills), evals, matrix, method="identity")
