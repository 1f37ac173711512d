"""A skill source read from JSON Lines files: one sample per line, a skill, a prompt and an answer.

    {"skill": "addition_ones", "prompt": "Input: 1 0 6 + 0 7 1 , A 0 = ? Output:", "answer": "7"}
    {"skill": 0, "skill_name": "ones", "prompt": "...", "answer": "7"}

`path` is a file or a folder of ``*.jsonl`` files (read in name order). With
`skill_from: file`, each file is one skill, named by the file (``add.jsonl`` -> ``add``), and its
lines need only a prompt and an answer. A fixed per-skill
validation split is held out with its own seed; the rest is the training pool, sampled with
replacement. A sample's text is the prompt followed by the answer; the two are tokenized apart
and joined, so exactly the answer tokens (and the end-of-sequence token) are scored.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from skillit.errors import SkillitError, SkillitWarning
from skillit.sources.base import SkillExamples
from skillit.utils import jsonio
from skillit.utils.tokenization import (
    EOS,
    PAD,
    UNK,
    encode_texts,
    load_tokenizer,
    train_byte_bpe,
    wordlevel_tokenizer,
)

UNKNOWN_SHARE = 0.05  # more <unk> than this in a skill draws a warning
KEY = "data.jsonl"  # config section of these fields: errors name keys as data.jsonl.<field>
SKILL_FROM = ("field", "file")


@dataclass
class JsonlSourceConfig:
    """Where the samples are and how to read and tokenize them."""

    path: str
    skill_field: str = "skill"  # a skill name, or an integer index (named by skill_name_field)
    skill_from: str = "field"  # "field": each line's skill_field; "file": the file's name
    prompt_field: str = "prompt"
    answer_field: str = "answer"
    skill_name_field: str = "skill_name"  # optional, only read with integer skills
    val_size: int = 100  # validation samples held out per skill
    val_seed: int = 1234
    tokenizer: str = "wordlevel"  # "wordlevel", "bpe", or the path of a tokenizer.json
    bpe_vocab_size: int = 8192
    add_eos: bool = True  # append <eos> to the answer (scored)

    def __post_init__(self) -> None:
        if self.skill_from not in SKILL_FROM:
            raise SkillitError(
                f"{KEY}.skill_from must be one of {list(SKILL_FROM)}, got {self.skill_from!r}"
            )
        for name in ("skill_field", "prompt_field", "answer_field", "skill_name_field"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise SkillitError(f"{KEY}.{name} must be a non-empty field name")
        if isinstance(self.val_size, bool) or not isinstance(self.val_size, int):
            raise SkillitError(f"{KEY}.val_size must be an integer >= 1, got {self.val_size!r}")
        if self.val_size < 1:
            raise SkillitError(f"{KEY}.val_size must be an integer >= 1, got {self.val_size}")
        if self.val_seed < 0:  # numpy seeds a generator from integers >= 0 only
            raise SkillitError(f"{KEY}.val_seed must be an integer >= 0, got {self.val_seed}")
        if not isinstance(self.bpe_vocab_size, int) or self.bpe_vocab_size < 260:
            raise SkillitError(
                f"{KEY}.bpe_vocab_size must be an integer >= 260 (256 bytes + specials), "
                f"got {self.bpe_vocab_size!r}"
            )


@dataclass
class _Record:
    skill: str | int
    name: str | None  # skill_name given with an integer skill
    prompt: str
    answer: str
    where: str  # "file:line", for error messages


def jsonl_files(path: str | Path) -> list[Path]:
    """The files a path stands for: itself, or a folder's ``*.jsonl`` files in name order."""
    p = Path(path)
    if p.is_file():
        return [p]
    if p.is_dir():
        files = sorted(f for f in p.glob("*.jsonl") if f.is_file())
        if not files:
            raise SkillitError(f"{KEY}.path: folder {p} has no *.jsonl files")
        return files
    raise SkillitError(f"{KEY}.path: {p} does not exist (expected a .jsonl file or a folder)")


def _read_records(cfg: JsonlSourceConfig) -> list[_Record]:
    records = []
    for file in jsonl_files(cfg.path):
        with file.open("rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise SkillitError(
                        f"{file}:{lineno}: not UTF-8 text (byte {exc.start} of the line is "
                        f"{raw[exc.start]:#04x}); JSONL files must be UTF-8"
                    ) from None
                if line.strip():
                    skill = file.stem if cfg.skill_from == "file" else None
                    records.append(_parse_line(line, f"{file}:{lineno}", cfg, skill))
    if not records:
        raise SkillitError(f"{KEY}.path: {cfg.path} holds no samples (every line is blank)")
    return records


def _parse_line(
    line: str, where: str, cfg: JsonlSourceConfig, file_skill: str | None = None
) -> _Record:
    """One sample; its skill is `file_skill` when given (skill_from: file), else the line's."""
    try:
        obj: Any = jsonio.loads(line, where)
    except json.JSONDecodeError as exc:
        raise SkillitError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise SkillitError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    keys = (
        ("prompt_field", "answer_field")
        if file_skill
        else ("skill_field", "prompt_field", "answer_field")
    )
    for key in keys:
        field_name = getattr(cfg, key)
        if field_name not in obj:
            raise SkillitError(
                f"{where}: the field {field_name!r} is missing (fields present: {sorted(obj)}); "
                f"set {KEY}.{key} to the field to read"
            )
    skill = file_skill or obj[cfg.skill_field]
    if isinstance(skill, bool) or not isinstance(skill, (str, int)) or skill == "":
        raise SkillitError(
            f"{where}: {cfg.skill_field!r} must be a skill name or an integer index, got {skill!r}"
        )
    if isinstance(skill, int) and skill < 0:
        raise SkillitError(f"{where}: {cfg.skill_field!r} index must be >= 0, got {skill}")
    name = obj.get(cfg.skill_name_field) if isinstance(skill, int) else None
    if name is not None and (not isinstance(name, str) or not name):
        raise SkillitError(f"{where}: {cfg.skill_name_field!r} must be a non-empty string")
    texts = []
    for field_name in (cfg.prompt_field, cfg.answer_field):
        if not isinstance(obj[field_name], str):
            raise SkillitError(f"{where}: {field_name!r} must be a string, got {obj[field_name]!r}")
        texts.append(obj[field_name])
    return _Record(skill, name, texts[0], texts[1], where)


def _skill_order(records: list[_Record]) -> tuple[list[str], list[int]]:
    """Skill names in index order, and each record's skill index.

    Integer skills are ordered by index (named by skill_name, else by the index itself); names
    are ordered by first appearance. The two kinds cannot be mixed.
    """
    first = records[0]
    integer = isinstance(first.skill, int)
    for r in records:
        if isinstance(r.skill, int) != integer:
            raise SkillitError(
                f"{r.where}: skill {r.skill!r} mixes names and integer indices "
                f"(the first sample, {first.where}, uses {first.skill!r}); use one kind"
            )
    if not integer:
        names = list(dict.fromkeys(r.skill for r in records))
        index = {n: i for i, n in enumerate(names)}
        return names, [index[r.skill] for r in records]
    named: dict[int, tuple[str, str]] = {}  # index -> (name, where it was first named)
    for r in records:
        if r.name is None:
            continue
        if r.skill in named and named[r.skill][0] != r.name:
            raise SkillitError(
                f"{r.where}: skill {r.skill} is named {r.name!r} here but "
                f"{named[r.skill][0]!r} at {named[r.skill][1]}"
            )
        named.setdefault(r.skill, (r.name, r.where))
    indices = sorted({r.skill for r in records})
    names = [named[i][0] if i in named else str(i) for i in indices]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SkillitError(f"{KEY}.path: several skill indices share the names {dupes}")
    position = {idx: i for i, idx in enumerate(indices)}
    return names, [position[r.skill] for r in records]


def _answer_text(prompt: str, answer: str) -> str:
    """The answer as it follows the prompt in the running text (a space between them)."""
    if not prompt or prompt[-1].isspace() or not answer or answer[0].isspace():
        return answer
    return " " + answer


def _build_tokenizer(cfg: JsonlSourceConfig, records: list[_Record]) -> Tokenizer:
    if cfg.tokenizer == "wordlevel":
        words = sorted({w for r in records for text in (r.prompt, r.answer) for w in text.split()})
        return wordlevel_tokenizer(words)
    if cfg.tokenizer == "bpe":
        texts = (r.prompt + _answer_text(r.prompt, r.answer) for r in records)
        return train_byte_bpe(texts, vocab_size=cfg.bpe_vocab_size)
    path = Path(cfg.tokenizer)
    if not path.is_file():
        raise SkillitError(
            f"{KEY}.tokenizer is {cfg.tokenizer!r}: use 'wordlevel', 'bpe' or the path of an "
            "existing tokenizer.json"
        )
    return load_tokenizer(path)


def _special_id(tok: Tokenizer, token: str, cfg: JsonlSourceConfig) -> int:
    idx = tok.token_to_id(token)
    if idx is None:
        raise SkillitError(
            f"{KEY}.tokenizer {cfg.tokenizer!r} has no {token} token; skillit needs {PAD} "
            f"(and {EOS} with {KEY}.add_eos)"
        )
    return idx


class _Pool:
    """Tokenized samples of one skill, padded once so that drawing rows is a cheap gather."""

    def __init__(self, sequences: list[tuple[list[int], list[int]]], pad_id: int) -> None:
        self.lengths = np.array([len(p) + len(a) for p, a in sequences], dtype=np.int64)
        width = int(self.lengths.max()) if len(sequences) else 0
        self.ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
        self.mask = np.zeros((len(sequences), width), dtype=bool)
        for row, (prompt, answer) in enumerate(sequences):
            n = len(prompt) + len(answer)
            self.ids[row, :n] = prompt + answer
            self.mask[row, len(prompt) : n] = True

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def take(self, rows: np.ndarray, skill: int) -> SkillExamples:
        width = int(self.lengths[rows].max()) if rows.size else 0  # trim padding no row needs
        return SkillExamples(
            self.ids[rows, :width],
            self.mask[rows, :width],
            np.full(rows.size, skill, dtype=np.int64),
        )


class JsonlSource:
    """A :class:`~skillit.sources.base.SkillSource` over JSON Lines files."""

    def __init__(self, cfg: JsonlSourceConfig) -> None:
        self.cfg = cfg
        records = _read_records(cfg)
        names, skill_of = _skill_order(records)
        self._names = names
        self._tokenizer = _build_tokenizer(cfg, records)
        self._pad_id = _special_id(self._tokenizer, PAD, cfg)
        eos = [_special_id(self._tokenizer, EOS, cfg)] if cfg.add_eos else []
        sequences = self._tokenize(records, eos)
        members: list[list[int]] = [[] for _ in names]
        for i, s in enumerate(skill_of):
            members[s].append(i)
        self._warn_unknown_tokens(sequences, members)
        self._train: list[_Pool] = []
        self._val: list[_Pool] = []
        for s, rows in enumerate(members):
            val_rows, train_rows = self._split(s, rows)
            self._val.append(_Pool([sequences[i] for i in val_rows], self._pad_id))
            self._train.append(_Pool([sequences[i] for i in train_rows], self._pad_id))

    def _tokenize(
        self, records: list[_Record], eos: list[int]
    ) -> list[tuple[list[int], list[int]]]:
        tok, named = self._tokenizer, f"{self.cfg.tokenizer} ({KEY}.tokenizer)"
        prompts = encode_texts(tok, [r.prompt for r in records], named)
        answers = encode_texts(tok, [_answer_text(r.prompt, r.answer) for r in records], named)
        sequences = []
        for r, p, a in zip(records, prompts, answers, strict=True):
            answer_ids = list(a.ids) + eos
            if not answer_ids:
                raise SkillitError(
                    f"{r.where}: the answer is empty, so nothing would be scored; give an answer "
                    f"or set {KEY}.add_eos=true"
                )
            sequences.append((list(p.ids), answer_ids))
        return sequences

    def _warn_unknown_tokens(self, sequences, members: list[list[int]]) -> None:
        """A tokenizer that maps much of a skill's text to <unk> makes skills look alike."""
        unk = self._tokenizer.token_to_id(UNK)
        if unk is None:
            return
        for name, rows in zip(self._names, members):
            ids = [t for i in rows for part in sequences[i] for t in part]
            share = sum(t == unk for t in ids) / max(1, len(ids))
            if share > UNKNOWN_SHARE:
                warnings.warn(
                    f"{KEY}.tokenizer maps {share:.0%} of skill {name!r}'s tokens to {UNK}: its "
                    "words are not in the vocabulary, so samples lose what tells them apart; use "
                    f"{KEY}.tokenizer=wordlevel or bpe, or a tokenizer made for this text",
                    SkillitWarning,
                    stacklevel=3,
                )

    def _split(self, skill: int, rows: list[int]) -> tuple[list[int], list[int]]:
        """(validation rows, training rows): a fixed draw per skill from (val_seed, skill)."""
        need = self.cfg.val_size + 1
        if len(rows) < need:
            raise SkillitError(
                f"{KEY}.val_size={self.cfg.val_size}: skill {self._names[skill]!r} has only "
                f"{len(rows)} samples in {self.cfg.path}; it needs at least {need} "
                f"(lower {KEY}.val_size or add samples)"
            )
        order = np.random.default_rng([self.cfg.val_seed, skill]).permutation(len(rows))
        val = sorted(rows[i] for i in order[: self.cfg.val_size])
        train = sorted(rows[i] for i in order[self.cfg.val_size :])
        return val, train

    @property
    def skill_names(self) -> list[str]:
        return list(self._names)

    @property
    def tokenizer(self) -> Tokenizer:
        return self._tokenizer

    @property
    def pad_id(self) -> int:
        return self._pad_id

    def natural_proportions(self) -> np.ndarray:
        counts = np.array([len(p) for p in self._train], dtype=np.float64)
        return counts / counts.sum()

    def train_examples(self, skill: int, n: int, rng: np.random.Generator) -> SkillExamples:
        pool = self._train[self._check_skill(skill)]
        return pool.take(rng.integers(0, len(pool), size=int(n)), skill)

    def validation_examples(self, skill: int) -> SkillExamples:
        pool = self._val[self._check_skill(skill)]
        return pool.take(np.arange(len(pool)), skill)

    def _check_skill(self, skill: int) -> int:
        if not 0 <= skill < len(self._names):
            raise IndexError(f"skill {skill} is out of range (this source has {len(self._names)})")
        return int(skill)
