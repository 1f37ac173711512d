"""Composition of fixed permutations: a skill family whose skills are real prerequisites.

A *world* is ``n_functions`` random permutations f_0 .. f_{m-1} of ``n_symbols`` symbols, drawn
once from the world seed. Skill d (one per entry of ``depths``) asks for the image of a symbol
under a composition of d of them::

    x3 f5 f0 f2    ->    x6        (x6 = f2(f0(f5(x3))), functions applied left to right)

The symbol and the d function indices are uniform, independent, with replacement. Only the
answer token is scored. Depth d needs the d-1 composition it starts with (a depth-1 prompt is a
prefix of the deeper prompts that start the same way), so a model trained on the deepest skill
alone stays near chance on it, while the shallow skills make it learnable: the order of the data
matters (see ``../shared/reference/ordered-skills.md`` for the measurements that led here).

The world is finite: with 8 symbols and 8 functions there are only 64 / 512 / 4096 distinct
prompts of depth 1 / 2 / 3. Validation sets are therefore drawn from the training distribution
(every validation prompt is also a training prompt), and accuracy measures how fast the tables
and their composition are *learned*, not generalisation to unseen prompts. For the latter,
``novel_fraction`` holds out that fraction of the deepest skill's function sequences (with every
start symbol): they are never sampled for training, and the extra skill ``depth{D}_novel``
draws only from them (validation only).

An optional ``separator`` word (e.g. ``=``) is written between the prompt and the answer; without
it, depth-1 prompts are literal prefixes of deeper ones (the default, and faster to learn).
Token ids follow :mod:`synthetic.common`: ``vocab[j]`` has id ``j + 3``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from synthetic.common import PAD_ID, Samples, as_rng, draw, word_ids

MAX_SYMBOLS = 64
MAX_FUNCTIONS = 64
MAX_DEPTH = 8


def world_permutations(world: int, n_symbols: int, n_functions: int) -> np.ndarray:
    """(n_functions, n_symbols): row a is the permutation f_a (f_a(s) = table[a, s])."""
    rng = np.random.default_rng([world, n_symbols, n_functions, 0xC0D])
    return np.stack([rng.permutation(n_symbols) for _ in range(n_functions)]).astype(np.int64)


def compose(table: np.ndarray, start: np.ndarray, functions: np.ndarray) -> np.ndarray:
    """Images of ``start`` (n,) under the functions of each row of ``functions`` (n, d), left
    to right."""
    value = np.asarray(start, dtype=np.int64).copy()
    for step in range(functions.shape[1]):
        value = table[functions[:, step], value]
    return value


@dataclass(frozen=True)
class ComposeTask:
    """One world and skill family; :meth:`sample` draws token ids for given skill indices."""

    n_symbols: int = 8
    n_functions: int = 8
    depths: tuple[int, ...] = (1, 2, 3)
    world: int = 0
    separator: str | None = None
    novel_fraction: float = 0.0
    table: np.ndarray = field(init=False, repr=False, compare=False)
    novel: np.ndarray = field(init=False, repr=False, compare=False)  # held-out sequence codes

    def __post_init__(self) -> None:
        if not 2 <= self.n_symbols <= MAX_SYMBOLS:
            raise ValueError(f"n_symbols must be between 2 and {MAX_SYMBOLS}; got {self.n_symbols}")
        if not 1 <= self.n_functions <= MAX_FUNCTIONS:
            raise ValueError(
                f"n_functions must be between 1 and {MAX_FUNCTIONS}; got {self.n_functions}"
            )
        depths = tuple(int(d) for d in self.depths)
        if not depths or any(not 1 <= d <= MAX_DEPTH for d in depths):
            raise ValueError(f"depths must be integers between 1 and {MAX_DEPTH}; got {depths}")
        if list(depths) != sorted(set(depths)):
            raise ValueError(f"depths must be increasing and distinct; got {depths}")
        if self.separator is not None and (
            not self.separator or any(c.isspace() for c in self.separator)
        ):
            raise ValueError(
                f"separator must be one word without spaces, or None; got {self.separator!r}"
            )
        if self.separator is not None and self.separator in self._names():
            raise ValueError(f"separator {self.separator!r} is also a symbol or function name")
        if not 0.0 <= self.novel_fraction < 1.0:
            raise ValueError(f"novel_fraction must be in [0, 1); got {self.novel_fraction}")
        object.__setattr__(self, "depths", depths)
        object.__setattr__(
            self, "table", world_permutations(self.world, self.n_symbols, self.n_functions)
        )
        sequences = self.n_functions ** depths[-1]
        held = round(self.novel_fraction * sequences)
        if self.novel_fraction > 0 and not 1 <= held < sequences:
            raise ValueError(
                f"novel_fraction={self.novel_fraction} holds out {held} of the {sequences} "
                "function sequences of the deepest skill; it must leave at least one on each side"
            )
        order = np.random.default_rng([self.world, sequences, 0x40E1]).permutation(sequences)
        object.__setattr__(self, "novel", np.sort(order[:held]).astype(np.int64))

    def _names(self) -> tuple[str, ...]:
        return (
            *(f"x{i}" for i in range(self.n_symbols)),
            *(f"f{i}" for i in range(self.n_functions)),
        )

    @property
    def vocab(self) -> tuple[str, ...]:
        return (*self._names(), *((self.separator,) if self.separator else ()))

    @property
    def n_train_skills(self) -> int:
        return len(self.depths)

    @property
    def n_skills(self) -> int:
        """Training skills, then the held-out split of the deepest skill if there is one."""
        return len(self.depths) + (1 if self.novel.size else 0)

    def skill_names(self) -> list[str]:
        names = [f"depth{d}" for d in self.depths]
        return names + ([f"depth{self.depths[-1]}_novel"] if self.novel.size else [])

    def _functions(self, depth: int, n: int, novel: bool, rng: np.random.Generator) -> np.ndarray:
        """(n, depth) function indices; the deepest skill avoids (or, if novel, only uses) the
        held-out sequences."""
        m = self.n_functions
        if depth != self.depths[-1] or not self.novel.size:
            return rng.integers(0, m, size=(n, depth), dtype=np.int64)
        if novel:
            codes = rng.choice(self.novel, size=n)
        else:  # uniform over the sequences that are not held out, by rank among them
            rank = rng.integers(0, m**depth - self.novel.size, size=n, dtype=np.int64)
            codes = rank.copy()
            for held in self.novel:  # sorted: shift past every held-out code at or below
                codes += codes >= held
        powers = m ** np.arange(depth - 1, -1, -1, dtype=np.int64)
        return (codes[:, None] // powers) % m

    def sample(self, skills: np.ndarray, rng: np.random.Generator) -> Samples:
        """One fresh sample per entry of ``skills`` (skill indices), vectorised per skill."""
        skills = np.asarray(skills, dtype=np.int64)
        n = len(skills)
        sep = 1 if self.separator else 0
        width = self.depths[-1] + 2 + sep
        ids = np.full((n, width), PAD_ID, dtype=np.int64)
        lengths = np.zeros(n, dtype=np.int64)
        ident = word_ids(self.vocab)
        x0, f0 = ident["x0"], ident["f0"]
        for skill in np.unique(skills):
            rows = np.flatnonzero(skills == skill)
            novel = skill == len(self.depths)
            depth = self.depths[-1] if novel else self.depths[skill]
            start = rng.integers(0, self.n_symbols, size=rows.size, dtype=np.int64)
            functions = self._functions(depth, rows.size, bool(novel), rng)
            ids[rows, 0] = x0 + start
            ids[rows, 1 : 1 + depth] = f0 + functions
            if sep:
                ids[rows, 1 + depth] = ident[self.separator]
            ids[rows, 1 + depth + sep] = x0 + compose(self.table, start, functions)
            lengths[rows] = depth + 2 + sep
        mask = np.zeros(ids.shape, dtype=bool)
        mask[np.arange(n), lengths - 1] = True
        return Samples(ids, lengths, lengths - 1, mask, skills, self.vocab)


def generate(
    n: int,
    seed: int | np.random.Generator = 0,
    proportions: Sequence[float] | None = None,
    skill: int | np.ndarray | None = None,
    **task: object,
) -> Samples:
    """n samples of the family :class:`ComposeTask` (``task`` = its fields), deterministic from
    ``seed``; skills as in :func:`synthetic.lego.generate` (proportions cover every skill)."""
    return draw(ComposeTask(**task), n, as_rng(seed), proportions=proportions, skill=skill)
