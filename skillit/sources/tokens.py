"""TokensSource: skills are the domains of a prepared corpus (`skillit prepare`), samples are
fixed-length windows of its token shards with the loss on every token.

A training sample of domain d is `seq_len` consecutive tokens starting at a uniformly drawn
position of one of d's train shards (a shard drawn in proportion to its windows), read from a
read-only memmap: a worker holds the shards' file mappings and one batch, never the corpus.
Validation is fixed: the first `val_windows` non-overlapping windows of d's held-out documents.
Natural proportions are the domains' train token counts. Windows may cross document boundaries
(each document ends with the end-of-document token), as in most pre-training pipelines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from skillit.corpus.shards import (
    Manifest,
    ShardEntry,
    check_shard,
    file_sha256,
    open_shard,
    read_manifest,
    shard_path,
)
from skillit.errors import SkillitError
from skillit.sources.base import SkillExamples
from skillit.tokenization import load_tokenizer

# Measured (benchmarks/tokens_source.py machine, 64 rows): a gather reads 128-token windows in
# half the time of per-row slices, 1024-token windows in four times the time.
GATHER_BELOW = 256
PAD_TOKENS = ("<pad>", "<|padding|>", "[PAD]", "<|pad|>")


def pad_id_of(tokenizer: Tokenizer, vocab_size: int) -> int:
    """The tokenizer's padding token, else an id outside the vocabulary: windows are full, so
    nothing is padded, and a pad id must never equal a token of the text (the end-of-document
    token in particular), or the text's tokens would count as padding."""
    for name in PAD_TOKENS:
        token = tokenizer.token_to_id(name)
        if token is not None:
            return int(token)
    return vocab_size


@dataclass
class TokensSourceConfig:
    path: str | None = None  # a folder written by `skillit prepare`
    domains: list[str] | None = None  # a subset of the manifest's domains, in this order
    val_windows: int = 32  # validation windows per domain

    def __post_init__(self) -> None:
        if self.val_windows < 1:
            raise SkillitError(f"data.tokens.val_windows must be >= 1, got {self.val_windows}")


class TokensSource:
    def __init__(self, cfg: TokensSourceConfig, seq_len: int) -> None:
        if not cfg.path:
            raise SkillitError(
                "data.source=tokens needs data.tokens.path: a folder from `skillit prepare`"
            )
        self.folder = Path(cfg.path).expanduser()
        self.manifest: Manifest = read_manifest(self.folder)
        names = list(self.manifest.domains)
        if cfg.domains is not None and not cfg.domains:
            raise SkillitError(
                f"data.tokens.domains is empty; name some of {names}, or null for all of them"
            )
        chosen = list(cfg.domains) if cfg.domains is not None else names
        unknown = [d for d in chosen if d not in self.manifest.domains]
        if unknown:
            raise SkillitError(f"data.tokens.domains names {unknown}; the corpus has {names}")
        self.names = chosen
        self.seq_len = int(seq_len)
        self.val_windows = cfg.val_windows
        tok_path = self.folder / self.manifest.tokenizer
        self._tokenizer = load_tokenizer(tok_path)
        if (
            self.manifest.tokenizer_sha256
            and file_sha256(tok_path) != self.manifest.tokenizer_sha256
        ):
            raise SkillitError(f"{tok_path} is not the tokenizer the corpus was prepared with")
        self._train: list[list[tuple[Path, int]]] = []
        self._val: list[list[tuple[Path, int]]] = []
        for name in self.names:
            entry = self.manifest.domains[name]
            self._train.append(self._checked(entry.train))
            self._val.append(self._checked(entry.val))
            for split, shards in (("train", self._train[-1]), ("validation", self._val[-1])):
                if not any(n >= self.seq_len for _, n in shards):
                    total = sum(n for _, n in shards)
                    largest = max((n for _, n in shards), default=0)
                    raise SkillitError(
                        f"domain {name!r} is too small for a window of {self.seq_len} tokens "
                        f"(model.max_seq_len): its {split} split has {total} tokens in "
                        f"{len(shards)} shard(s) of at most {largest}, and a window lies inside "
                        "one shard; add text, prepare with a larger --docs-per-shard, or lower "
                        "model.max_seq_len"
                    )
        self._pad_id = pad_id_of(self._tokenizer, self.manifest.vocab_size)
        self._maps: dict[Path, np.ndarray] = {}  # opened in the process that reads
        # per skill: the train shards that hold a window, and how many window starts each has
        self._usable = [[(p, t) for p, t in shards if t >= self.seq_len] for shards in self._train]
        self._starts = [
            np.array([t - self.seq_len + 1 for _, t in usable], dtype=np.int64)
            for usable in self._usable
        ]
        self._arrays: dict[int, list[np.ndarray]] = {}  # skill -> its usable shards, opened

    def _checked(self, shards: list[ShardEntry]) -> list[tuple[Path, int]]:
        out = []
        for s in shards:
            path = shard_path(self.folder, s)
            check_shard(path, s.tokens, self.manifest.dtype)
            out.append((path, s.tokens))
        return out

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_maps"] = {}  # memmaps are reopened by each worker, not pickled as copies
        state["_arrays"] = {}
        return state

    def _map(self, path: Path) -> np.ndarray:
        """The shard's tokens: a plain ndarray over its file mapping (slicing a plain view is
        several times cheaper than slicing the np.memmap subclass)."""
        if path not in self._maps:
            self._maps[path] = open_shard(path, self.manifest.dtype).view(np.ndarray)
        return self._maps[path]

    # -- SkillSource ------------------------------------------------------------------------------
    @property
    def skill_names(self) -> list[str]:
        return list(self.names)

    @property
    def tokenizer(self) -> Tokenizer:
        return self._tokenizer

    @property
    def pad_id(self) -> int:
        return self._pad_id

    def natural_proportions(self) -> np.ndarray:
        tokens = np.array([sum(n for _, n in shards) for shards in self._train], dtype=np.float64)
        return tokens / tokens.sum()

    def _examples(self, ids: np.ndarray, skill: int) -> SkillExamples:
        mask = np.ones(ids.shape, dtype=bool)
        mask[:, 0] = False  # the first token has no context to be predicted from
        return SkillExamples(ids, mask, np.full(len(ids), skill, dtype=np.int64))

    def train_examples(self, skill: int, n: int, rng: np.random.Generator) -> SkillExamples:
        arrays = self._arrays.get(skill)
        if arrays is None:
            arrays = self._arrays[skill] = [self._map(p) for p, _ in self._usable[skill]]
        starts = self._starts[skill]
        which = rng.choice(len(arrays), size=n, p=starts / starts.sum())
        offsets = rng.integers(0, starts[which])
        ids = np.empty((n, self.seq_len), dtype=np.int64)  # each window copied once, from disk
        if self.seq_len >= GATHER_BELOW:  # a slice copy per row: one memcpy-like pass each
            for row, (w, o) in enumerate(zip(which.tolist(), offsets.tolist())):
                ids[row] = arrays[w][o : o + self.seq_len]
        else:  # short windows: one gather per shard costs less than a Python step per row
            span = np.arange(self.seq_len)
            for w in np.unique(which):
                rows = np.flatnonzero(which == w)
                ids[rows] = arrays[w][offsets[rows, None] + span]
        return self._examples(ids, skill)

    def validation_examples(self, skill: int) -> SkillExamples:
        windows = []
        for path, tokens in self._val[skill]:
            data = self._map(path)
            for start in range(0, tokens - self.seq_len + 1, self.seq_len):
                windows.append(np.asarray(data[start : start + self.seq_len], dtype=np.int64))
                if len(windows) == self.val_windows:
                    return self._examples(np.stack(windows), skill)
        return self._examples(np.stack(windows), skill)
