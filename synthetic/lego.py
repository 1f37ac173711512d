"""LEGO: resolve a chain (or tree) of binary variables (Zhang et al. 2022, as used by Skill-It).

A sample has k variables named by distinct random lowercase letters. Nodes are numbered in
structure order (0 = root); node j > 0 has a parent p(j) < j:

- ``chain``: p(j) = j - 1, so node j sits at depth j;
- ``tree``: a balanced binary tree in breadth-first (heap) order, p(j) = (j - 1) // 2, so
  depth(j) = floor(log2(j + 1)): the root, then two children, then four grandchildren, ...

The root clause fixes a value (``a = val 1``); every other clause sets its variable equal to
(``val``) or the negation of (``not``) its parent. Clauses appear in a random order.

Skill i (0-based; the paper's skill i + 1) asks for a variable at depth i, which takes i hops
to resolve. Chain: the i-th variable of the chain, so there are k skills. Tree: one of the
variables at depth i, chosen uniformly at random per sample, so there are floor(log2 k) + 1 skills.

Formats:

- ``paper`` (default): ``Input: a = val 1 , b = not a , c = val b . Output: b = val`` with the
  answer ``0`` or ``1`` (the single scored token).
- ``chain`` (learns in minutes on a CPU): each clause is one merged ``<var>=<val|not>`` token and
  its operand, ``Input: b=not a a=val 1 c=val b Output: a 1 b 0``; the answer section walks the
  path from the root to the asked variable, naming each variable and giving its value. With
  ``answer_loss="last"`` only the asked variable's value is scored (the prompt is everything
  before it); with ``"all"`` every value listed is scored (the prompt ends at ``Output:`` and the
  answer text also holds the listed names, which are given, not scored).
- ``query``: the chain format's merged clauses with one query and no listed path,
  ``Input: b=not a a=val 1 c=val b Output: b`` with the answer ``0``: every hop is resolved inside
  the model, so deeper skills build on shallower ones. (Asking the leaf of a chain allows a
  shortcut: its value is the root's XOR the parity of every sign; train on skills short of the
  leaf, or use a tree, to rule it out.)

Token ids follow :mod:`synthetic.common`: ``VOCAB[j]`` has id ``j + 3``. The vocabulary is the
same for every k, structure and format.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synthetic.common import (
    ANSWER_LOSSES,
    FORMATS,
    PAD_ID,
    Samples,
    as_rng,
    check_choice,
    draw,
    word_ids,
)

LETTERS = string.ascii_lowercase
STRUCTURES = ("chain", "tree")
LEGO_FORMATS = (*FORMATS, "query")
MAX_K = len(LETTERS)

VOCAB: tuple[str, ...] = (
    "Input:",
    "Output:",
    "=",
    "val",
    "not",
    ",",
    ".",
    "0",
    "1",
    *LETTERS,
    *(f"{c}={sign}" for c in LETTERS for sign in ("val", "not")),
)

_ID = word_ids(VOCAB)
_INPUT, _OUTPUT, _EQ, _VAL, _NOT = (_ID[w] for w in ("Input:", "Output:", "=", "val", "not"))
_COMMA, _DOT, _ZERO = _ID[","], _ID["."], _ID["0"]
_LETTER0 = _ID["a"]
_MERGED0 = _ID["a=val"]  # letter c, sign s (0 val, 1 not) -> _MERGED0 + 2 * c + s


def parents(k: int, structure: str) -> np.ndarray:
    """Parent node of each node in structure order; the root's entry is -1."""
    j = np.arange(k)
    parent = j - 1 if structure == "chain" else (j - 1) // 2
    parent[0] = -1
    return parent


def depths(k: int, structure: str) -> np.ndarray:
    j = np.arange(k)
    if structure == "chain":
        return j
    return np.floor(np.log2(j + 1)).astype(np.int64)


def skill_count(k: int, structure: str = "chain") -> int:
    """Number of skills: one per depth of the structure."""
    return int(depths(k, structure).max()) + 1


def merged_clauses(names, signs, operand, order, rows) -> np.ndarray:
    """(n, k, 2): each clause as its merged ``<var>=<val|not>`` token and operand, in `order`."""
    n, k = names.shape
    clause = np.empty((n, k, 2), dtype=np.int64)
    clause[:, :, 0] = _MERGED0 + 2 * names + signs
    clause[:, :, 1] = operand
    return clause[rows, order]


def one_answer(ids: np.ndarray, skills: np.ndarray) -> Samples:
    """Samples of full-width rows whose last token is the one scored answer."""
    n, length = ids.shape
    mask = np.zeros((n, length), dtype=bool)
    mask[:, -1] = True
    lengths = np.full(n, length, dtype=np.int64)
    return Samples(ids, lengths, lengths - 1, mask, skills, VOCAB)


@dataclass(frozen=True)
class LegoTask:
    """One LEGO configuration; :meth:`sample` draws token ids for given skills."""

    k: int = 5
    structure: str = "chain"
    fmt: str = "paper"
    answer_loss: str = "last"

    def __post_init__(self) -> None:
        if not 1 <= self.k <= MAX_K:
            raise ValueError(
                f"k must be between 1 and {MAX_K} (one letter per variable); got {self.k}"
            )
        check_choice("structure", self.structure, STRUCTURES)
        check_choice("fmt", self.fmt, LEGO_FORMATS)
        check_choice("answer_loss", self.answer_loss, ANSWER_LOSSES)

    @property
    def n_skills(self) -> int:
        return skill_count(self.k, self.structure)

    @property
    def vocab(self) -> tuple[str, ...]:
        return VOCAB

    def skill_names(self) -> list[str]:
        return [f"lego{i + 1}" for i in range(self.n_skills)]

    def sample(self, skills: np.ndarray, rng: np.random.Generator) -> Samples:
        """One fresh sample per entry of ``skills`` (depths), vectorised over the batch."""
        skills = np.asarray(skills, dtype=np.int64)
        n, k = len(skills), self.k
        parent = parents(k, self.structure)
        depth = depths(k, self.structure)
        letters = np.broadcast_to(np.arange(MAX_K, dtype=np.int64), (n, MAX_K))
        names = rng.permuted(letters, axis=1)[:, :k]  # names[r, j]: letter of node j
        signs = rng.integers(0, 2, size=(n, k), dtype=np.int64)
        signs[:, 0] = 0  # the root clause reads "val"
        values = np.empty((n, k), dtype=np.int64)
        values[:, 0] = rng.integers(0, 2, size=n, dtype=np.int64)
        for j in range(1, k):
            values[:, j] = values[:, parent[j]] ^ signs[:, j]
        # Nodes of one depth are contiguous in structure order: pick one uniformly per sample.
        first = np.searchsorted(depth, skills)
        width = np.searchsorted(depth, skills, side="right") - first
        asked = first + (rng.random(n) * width).astype(np.int64)
        order = rng.permuted(np.broadcast_to(np.arange(k), (n, k)), axis=1)

        operand = np.empty((n, k), dtype=np.int64)
        operand[:, 0] = _ZERO + values[:, 0]
        operand[:, 1:] = _LETTER0 + names[:, parent[1:]]
        rows = np.arange(n)[:, None]
        if self.fmt == "paper":
            return self._paper(skills, names, signs, values, operand, order, asked, rows)
        if self.fmt == "query":
            return self._query(skills, names, signs, values, operand, order, asked, rows)
        return self._chain(skills, names, signs, values, operand, order, asked, parent, rows)

    def _paper(self, skills, names, signs, values, operand, order, asked, rows) -> Samples:
        n, k = names.shape
        clause = np.empty((n, k, 5), dtype=np.int64)
        clause[:, :, 0] = _LETTER0 + names
        clause[:, :, 1] = _EQ
        clause[:, :, 2] = np.where(signs == 1, _NOT, _VAL)
        clause[:, :, 3] = operand
        clause[:, :, 4] = _COMMA
        clause = clause[rows, order]
        clause[:, -1, 4] = _DOT
        length = 5 * k + 6
        ids = np.empty((n, length), dtype=np.int64)
        ids[:, 0] = _INPUT
        ids[:, 1 : 5 * k + 1] = clause.reshape(n, 5 * k)
        ids[:, 5 * k + 1] = _OUTPUT
        ids[:, 5 * k + 2] = _LETTER0 + names[rows[:, 0], asked]
        ids[:, 5 * k + 3] = _EQ
        ids[:, 5 * k + 4] = _VAL
        ids[:, length - 1] = _ZERO + values[rows[:, 0], asked]
        return one_answer(ids, skills)

    def _query(self, skills, names, signs, values, operand, order, asked, rows) -> Samples:
        n, k = names.shape
        clause = merged_clauses(names, signs, operand, order, rows)
        length = 2 * k + 4
        ids = np.empty((n, length), dtype=np.int64)
        ids[:, 0] = _INPUT
        ids[:, 1 : 2 * k + 1] = clause.reshape(n, 2 * k)
        ids[:, 2 * k + 1] = _OUTPUT
        ids[:, 2 * k + 2] = _LETTER0 + names[rows[:, 0], asked]
        ids[:, length - 1] = _ZERO + values[rows[:, 0], asked]
        return one_answer(ids, skills)

    def _chain(self, skills, names, signs, values, operand, order, asked, parent, rows) -> Samples:
        n, k = names.shape
        clause = merged_clauses(names, signs, operand, order, rows)
        top = int(skills.max()) + 1 if n else 1  # answer entries of the deepest sample
        # path[r, t]: the ancestor at depth t of the asked node (valid for t <= skills[r]).
        path = np.zeros((n, top), dtype=np.int64)
        step_parent = np.maximum(parent, 0)
        node = asked.copy()
        for step in range(top):
            t = skills - step
            live = t >= 0
            path[live, t[live]] = node[live]
            node = step_parent[node]
        listed = np.arange(top) <= skills[:, None]
        start = 2 * k + 2
        width = start + 2 * top
        ids = np.full((n, width), PAD_ID, dtype=np.int64)
        ids[:, 0] = _INPUT
        ids[:, 1 : 2 * k + 1] = clause.reshape(n, 2 * k)
        ids[:, 2 * k + 1] = _OUTPUT
        answer = np.stack(
            [
                _LETTER0 + np.take_along_axis(names, path, axis=1),
                _ZERO + np.take_along_axis(values, path, axis=1),
            ],
            axis=2,
        )
        answer[~listed] = PAD_ID
        ids[:, start:] = answer.reshape(n, 2 * top)
        scored = listed if self.answer_loss == "all" else np.arange(top) == skills[:, None]
        mask = np.zeros((n, width), dtype=bool)
        mask[:, start + 1 :: 2] = scored
        lengths = start + 2 * (skills + 1)
        prompt = lengths - 1 if self.answer_loss == "last" else np.full(n, start)
        return Samples(ids, lengths, prompt, mask, skills, VOCAB)


def generate(
    n: int,
    k: int = 5,
    structure: str = "chain",
    seed: int | np.random.Generator = 0,
    proportions: Sequence[float] | None = None,
    fmt: str = "paper",
    skill: int | np.ndarray | None = None,
    answer_loss: str = "last",
    avoid: np.ndarray | None = None,
) -> Samples:
    """n LEGO samples, deterministic from ``seed`` (an int or a numpy Generator).

    Skills: ``skill`` (one index for all, or one per sample), else ``proportions`` (one weight
    per skill, exact counts by the largest-remainder rule, shuffled), else uniform. ``avoid`` is
    an array of row hashes (e.g. ``validation_set(...).hashes()``) that no sample may match.
    """
    task = LegoTask(k, structure, fmt, answer_loss)
    return draw(task, n, as_rng(seed), proportions=proportions, skill=skill, avoid=avoid)
