"""Pieces shared by the synthetic generators: token ids, batches of samples, skill mixes, dedup.

Token ids. Each generator has a closed vocabulary (a tuple of words without whitespace). Ids 0, 1, 2
are reserved for ``<pad>``, ``<unk>``, ``<eos>`` and word ``vocab[j]`` has id ``j + 3``, so a
WordLevel tokenizer built from the same word list (``skillit.utils.tokenization.wordlevel_tokenizer``)
maps the rendered text to exactly the generator's ids, with no remapping anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

SPECIAL_TOKENS = ("<pad>", "<unk>", "<eos>")
PAD_ID = 0
ID_OFFSET = len(SPECIAL_TOKENS)
FORMATS = ("paper", "chain")
ANSWER_LOSSES = ("last", "all")

# Odd 64-bit multipliers for row hashing (fixed so hashes agree across processes).
_HASH_MULTIPLIERS = np.random.default_rng(0x5EED).integers(1, 2**63, size=4096, dtype=np.uint64) | 1


def word_ids(vocab: Sequence[str]) -> dict[str, int]:
    """Word -> token id, with the reserved offset applied."""
    return {w: i + ID_OFFSET for i, w in enumerate(vocab)}


@dataclass(frozen=True)
class Samples:
    """A batch of generated samples as token ids, renderable as prompt/answer text.

    Row ``r`` holds ``lengths[r]`` real tokens followed by ``PAD_ID``. Its text splits into the
    prompt (the first ``prompt_lengths[r]`` tokens) and the answer (the rest). ``answer_mask`` marks
    the scored tokens: the answer token(s) whose values the model must predict.
    """

    ids: np.ndarray  # (n, L) int64
    lengths: np.ndarray  # (n,) int64
    prompt_lengths: np.ndarray  # (n,) int64
    answer_mask: np.ndarray  # (n, L) bool
    skill: np.ndarray  # (n,) int64
    vocab: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def select(self, index: np.ndarray | slice) -> Samples:
        return Samples(
            self.ids[index],
            self.lengths[index],
            self.prompt_lengths[index],
            self.answer_mask[index],
            self.skill[index],
            self.vocab,
        )

    def _words(self) -> np.ndarray:
        table = np.array((*SPECIAL_TOKENS, *self.vocab), dtype=object)
        return table[self.ids]

    def prompts(self) -> list[str]:
        words = self._words()
        return [" ".join(w[:p]) for w, p in zip(words, self.prompt_lengths.tolist())]

    def answers(self) -> list[str]:
        words = self._words()
        spans = zip(words, self.prompt_lengths.tolist(), self.lengths.tolist())
        return [" ".join(w[p:n]) for w, p, n in spans]

    def texts(self) -> list[str]:
        """Prompt and answer joined by one space: the text the tokenizer maps to ``ids``."""
        words = self._words()
        return [" ".join(w[:n]) for w, n in zip(words, self.lengths.tolist())]

    def hashes(self) -> np.ndarray:
        return row_hashes(self.ids)


def row_hashes(ids: np.ndarray) -> np.ndarray:
    """A 64-bit hash per row of token ids; trailing padding (id 0) does not change it.

    Equal rows always hash equal, so a hash miss proves two samples differ; a (very rare) false
    match only costs an unneeded resample.
    """
    if ids.shape[1] > _HASH_MULTIPLIERS.size:
        raise ValueError(f"rows of {ids.shape[1]} tokens are longer than hashing supports")
    mult = _HASH_MULTIPLIERS[: ids.shape[1]]
    with np.errstate(over="ignore"):
        mixed = ids.astype(np.uint64) * mult
        mixed ^= mixed >> np.uint64(29)
        return mixed.sum(axis=1, dtype=np.uint64)


def normalise_proportions(proportions: Sequence[float] | None, n_skills: int) -> np.ndarray:
    """Proportions as a probability vector over the skills; None means uniform."""
    if proportions is None:
        return np.full(n_skills, 1.0 / n_skills)
    p = np.asarray(proportions, dtype=np.float64)
    if p.shape != (n_skills,):
        raise ValueError(f"proportions need {n_skills} entries (one per skill), got {p.size}")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
        raise ValueError("proportions must be finite, non-negative and not all zero")
    return p / p.sum()


def skill_counts(n: int, proportions: Sequence[float] | None, n_skills: int) -> np.ndarray:
    """Exact integer counts summing to n by the largest-remainder rule.

    Each skill gets floor(n * p); the leftover samples go one each to the skills with the largest
    fractional parts, ties to the lower skill index. So every count is within 1 of n * p.
    """
    p = normalise_proportions(proportions, n_skills)
    exact = n * p
    counts = np.floor(exact).astype(np.int64)
    leftover = n - int(counts.sum())
    order = np.lexsort((np.arange(n_skills), -(exact - counts)))
    counts[order[:leftover]] += 1
    return counts


def skill_assignment(
    n: int, proportions: Sequence[float] | None, n_skills: int, rng: np.random.Generator
) -> np.ndarray:
    """Per-sample skills with the exact counts of :func:`skill_counts`, in shuffled order."""
    skills = np.repeat(np.arange(n_skills, dtype=np.int64), skill_counts(n, proportions, n_skills))
    rng.shuffle(skills)
    return skills


def resolve_skills(
    n: int,
    n_skills: int,
    skill: int | np.ndarray | None,
    proportions: Sequence[float] | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """The skill of every sample from the ``skill`` / ``proportions`` arguments of a generator."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if skill is None:
        return skill_assignment(n, proportions, n_skills, rng)
    if proportions is not None:
        raise ValueError("give either skill or proportions, not both")
    skills = np.asarray(skill, dtype=np.int64)
    if skills.ndim == 0:
        skills = np.full(n, int(skills), dtype=np.int64)
    if skills.shape != (n,):
        raise ValueError(f"skill must be an int or an array of n={n} skills")
    if skills.size and (skills.min() < 0 or skills.max() >= n_skills):
        raise ValueError(f"skill indices must be in 0..{n_skills - 1}")
    return skills


def as_rng(seed: int | np.random.Generator) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def validation_rng(seed: int, skill: int) -> np.random.Generator:
    """The generator of one skill's validation set: independent of training seeds and of k."""
    return np.random.default_rng([seed, skill, 0x7A1])


def concat_samples(parts: Sequence[Samples]) -> Samples:
    """Stack batches, right-padding to the widest."""
    width = max(p.ids.shape[1] for p in parts)
    ids = np.full((sum(len(p) for p in parts), width), PAD_ID, dtype=np.int64)
    mask = np.zeros(ids.shape, dtype=bool)
    row = 0
    for p in parts:
        ids[row : row + len(p), : p.ids.shape[1]] = p.ids
        mask[row : row + len(p), : p.ids.shape[1]] = p.answer_mask
        row += len(p)
    cat = np.concatenate
    return Samples(
        ids,
        cat([p.lengths for p in parts]),
        cat([p.prompt_lengths for p in parts]),
        mask,
        cat([p.skill for p in parts]),
        parts[0].vocab,
    )


def generate_avoiding(
    make: Callable[[np.ndarray, np.random.Generator], Samples],
    skills: np.ndarray,
    rng: np.random.Generator,
    avoid: np.ndarray | None,
    max_rounds: int = 50,
) -> Samples:
    """Generate one sample per entry of ``skills``, redrawing any whose row hash is in ``avoid``.

    Only the colliding rows are redrawn (in one vectorised call per round), so the cost is one
    hash and one ``np.isin`` per batch when collisions are rare.
    """
    batch = make(skills, rng)
    if avoid is None or avoid.size == 0:
        return batch
    for _ in range(max_rounds):
        bad = np.flatnonzero(np.isin(batch.hashes(), avoid))
        if bad.size == 0:
            return batch
        fresh = make(batch.skill[bad], rng)
        batch = _replace_rows(batch, bad, fresh)
    raise ValueError(
        f"could not draw samples outside the validation set in {max_rounds} rounds: the task's "
        "sample space is too small for its validation size"
    )


def _replace_rows(batch: Samples, rows: np.ndarray, fresh: Samples) -> Samples:
    width = max(batch.ids.shape[1], fresh.ids.shape[1])
    ids = np.full((len(batch), width), PAD_ID, dtype=np.int64)
    mask = np.zeros(ids.shape, dtype=bool)
    ids[:, : batch.ids.shape[1]] = batch.ids
    mask[:, : batch.ids.shape[1]] = batch.answer_mask
    ids[rows] = PAD_ID
    mask[rows] = False
    ids[rows, : fresh.ids.shape[1]] = fresh.ids
    mask[rows, : fresh.ids.shape[1]] = fresh.answer_mask
    lengths = batch.lengths.copy()
    prompt_lengths = batch.prompt_lengths.copy()
    lengths[rows] = fresh.lengths
    prompt_lengths[rows] = fresh.prompt_lengths
    return Samples(ids, lengths, prompt_lengths, mask, batch.skill, batch.vocab)


class Task(Protocol):
    """What every generator configuration offers (LegoTask, AdditionTask)."""

    @property
    def n_skills(self) -> int: ...

    @property
    def vocab(self) -> tuple[str, ...]: ...

    def skill_names(self) -> list[str]: ...

    def sample(self, skills: np.ndarray, rng: np.random.Generator) -> Samples: ...


def draw(
    task: Task,
    n: int,
    rng: np.random.Generator,
    proportions: Sequence[float] | None = None,
    skill: int | np.ndarray | None = None,
    avoid: np.ndarray | None = None,
) -> Samples:
    """n samples of a task: skills chosen as in :func:`resolve_skills`, avoiding ``avoid`` hashes."""
    skills = resolve_skills(n, task.n_skills, skill, proportions, rng)
    return generate_avoiding(task.sample, skills, rng, avoid)


def validation_samples(task: Task, skill: int, size: int = 100, seed: int = 1234) -> Samples:
    """The fixed validation set of one skill: ``size`` samples from its own seeded generator."""
    if size < 1:
        raise ValueError(f"validation size must be >= 1, got {size}")
    if not 0 <= skill < task.n_skills:
        raise ValueError(f"skill must be in 0..{task.n_skills - 1}, got {skill}")
    return task.sample(np.full(size, skill, dtype=np.int64), validation_rng(seed, skill))


def validation_set(task: Task, size: int = 100, seed: int = 1234) -> Samples:
    """Every skill's validation set, skill 0 first."""
    return concat_samples([validation_samples(task, s, size, seed) for s in range(task.n_skills)])
