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
    MANIFEST,
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
from skillit.utils.tokenization import load_tokenizer, pad_id_of


@dataclass
class TokensSourceConfig:
    path: str | None = None  # a folder written by `skillit prepare`
    domains: list[str] | None = None  # a subset of the manifest's domains, in this order
    val_windows: int = 32  # validation windows per domain
    # the most epochs of its train tokens a domain may be seen (skillit.mixing.repetition); null: no cap
    max_epochs: float | None = None

    def __post_init__(self) -> None:
        if self.val_windows < 1:
            raise SkillitError(f"data.tokens.val_windows must be >= 1, got {self.val_windows}")
        if self.max_epochs is not None and not self.max_epochs > 0:
            raise SkillitError(
                f"data.tokens.max_epochs must be > 0 (epochs of a domain's train tokens) or null "
                f"for no cap, got {self.max_epochs}"
            )


class TokensSource:
    def __init__(self, cfg: TokensSourceConfig, seq_len: int) -> None:
        self.folder = self.corpus_folder(cfg)
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
        self._tokenizer = self._checked_tokenizer()
        self._vocab = self._tokenizer.get_vocab_size()  # the model's: every id must be below it
        self._train: list[list[tuple[Path, int]]] = []
        self._val: list[list[tuple[Path, int]]] = []
        for name in self.names:
            entry = self.manifest.domains[name]
            self._train.append(self._checked(entry.train, name))
            self._val.append(self._checked(entry.val, name))
            for split, shards in (("train", self._train[-1]), ("validation", self._val[-1])):
                self._check_a_window_fits(name, split, shards)
        self._pad_id = pad_id_of(self._tokenizer, self.manifest.vocab_size)
        self._maps: dict[Path, np.ndarray] = {}  # opened in the process that reads
        # per skill: the train shards that hold a window, and how many window starts each has
        self._usable = [[(p, t) for p, t in shards if t >= self.seq_len] for shards in self._train]
        self._starts = [
            np.array([t - self.seq_len + 1 for _, t in usable], dtype=np.int64)
            for usable in self._usable
        ]
        # skill -> a (starts, seq_len) view of every window of each usable shard: indexing it
        # by window starts copies whole rows, several times faster than a gather of positions
        # or a slice per row (benchmarks/tokens_source.py)
        self._windows: dict[int, list[np.ndarray]] = {}
        # a shard is drawn in proportion to its window starts (the cdf rng.choice would build)
        self._shard_cdf = [np.cumsum(s / s.sum()) for s in self._starts]
        for cdf in self._shard_cdf:
            cdf /= cdf[-1]
        self._row_mask = np.ones(self.seq_len, dtype=bool)
        self._row_mask[0] = False  # the first token has no context to be predicted from

    def _checked_tokenizer(self) -> Tokenizer:
        """The corpus's tokenizer, refused where it or the manifest's vocabulary was edited."""
        tok_path = self.folder / self.manifest.tokenizer
        tokenizer = load_tokenizer(tok_path)
        if (
            self.manifest.tokenizer_sha256
            and file_sha256(tok_path) != self.manifest.tokenizer_sha256
        ):
            raise SkillitError(f"{tok_path} is not the tokenizer the corpus was prepared with")
        if self.manifest.vocab_size != tokenizer.get_vocab_size():
            raise SkillitError(
                f"{self.folder / MANIFEST}: 'vocab_size' is {self.manifest.vocab_size} but "
                f"{tok_path} has {tokenizer.get_vocab_size()} tokens; the manifest was edited: "
                "rerun the same `skillit prepare` to rewrite it"
            )
        return tokenizer

    def _check_a_window_fits(self, name: str, split: str, shards: list[tuple[Path, int]]) -> None:
        if any(n >= self.seq_len for _, n in shards):
            return
        total = sum(n for _, n in shards)
        largest = max((n for _, n in shards), default=0)
        raise SkillitError(
            f"domain {name!r} is too small for a window of {self.seq_len} tokens "
            f"(model.max_seq_len): its {split} split has {total} tokens in "
            f"{len(shards)} shard(s) of at most {largest}, and a window lies inside "
            "one shard; add text, prepare with a larger --docs-per-shard, or lower "
            "model.max_seq_len"
        )

    @staticmethod
    def corpus_folder(cfg: TokensSourceConfig) -> Path:
        """The prepared corpus `cfg` names (data.tokens.path)."""
        if not cfg.path:
            raise SkillitError(
                "data.source=tokens needs data.tokens.path: a folder from `skillit prepare`"
            )
        return Path(cfg.path).expanduser()

    def _checked(self, shards: list[ShardEntry], domain: str) -> list[tuple[Path, int]]:
        out = []
        for s in shards:
            path = shard_path(self.folder, s)
            check_shard(path, s.tokens, self.manifest.dtype, domain)
            out.append((path, s.tokens))
        return out

    def _in_vocabulary(self, ids: np.ndarray, skill: int, path: Path) -> np.ndarray:
        """`ids`, read from `path`, refused where one is beyond the vocabulary (the model's
        embedding would be indexed out of range): checked as windows are read, one pass over
        the batch, not over the whole corpus when training starts."""
        if ids.size and ids.max() >= self._vocab:
            raise SkillitError(
                f"domain {self.names[skill]!r}: its shard {path} holds token id {int(ids.max())}, "
                f"beyond the vocabulary of {self._vocab} ids of {self.manifest.tokenizer} (the "
                "model's); it was written with another tokenizer (an imported --bin?): prepare "
                "it with the tokenizer its ids come from"
            )
        return ids

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_maps"] = {}  # memmaps are reopened by each worker, not pickled as copies
        state["_windows"] = {}
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

    def train_token_counts(self) -> np.ndarray:
        """Each domain's train tokens (what an epoch of it is)."""
        return np.array([sum(n for _, n in shards) for shards in self._train], dtype=np.float64)

    def natural_proportions(self) -> np.ndarray:
        tokens = self.train_token_counts()
        return tokens / tokens.sum()

    def _examples(self, ids: np.ndarray, skill: int) -> SkillExamples:
        mask = np.empty(ids.shape, dtype=bool)
        mask[:] = self._row_mask
        return SkillExamples(ids, mask, np.full(len(ids), skill, dtype=np.int64))

    @property
    def train_width(self) -> int:
        """Every training sample is one full window: the data module can allocate the batch."""
        return self.seq_len

    def train_examples(self, skill: int, n: int, rng: np.random.Generator) -> SkillExamples:
        ids = np.empty((n, self.seq_len), dtype=np.int64)
        mask = np.empty((n, self.seq_len), dtype=bool)
        self.write_train_rows(skill, np.arange(n), rng, ids, mask)
        return SkillExamples(ids, mask, np.full(n, skill, dtype=np.int64))

    def write_train_rows(
        self,
        skill: int,
        rows: np.ndarray,
        rng: np.random.Generator,
        ids: np.ndarray,
        mask: np.ndarray,
    ) -> None:
        """Draw len(rows) windows of `skill` with `rng` straight into ids[rows] and mask[rows]
        (no per-skill arrays: each window is copied once, from its shard into the batch)."""
        windows = self._windows.get(skill)
        if windows is None:
            windows = self._windows[skill] = [
                np.lib.stride_tricks.sliding_window_view(self._map(p), self.seq_len)
                for p, _ in self._usable[skill]
            ]
        starts, n = self._starts[skill], len(rows)
        # = rng.choice(len(windows), size=n, p=starts / starts.sum()) then
        # rng.integers(0, starts[which]): the same draws, without choice's checks of p and, for a
        # single shard, through integers' scalar bound (half the time of an array of bounds)
        uniform = rng.random(n)
        mask[rows] = self._row_mask
        usable = self._usable[skill]
        if len(windows) == 1:
            drawn = windows[0][rng.integers(0, starts[0], size=n)]
            ids[rows] = self._in_vocabulary(drawn, skill, usable[0][0])
            return
        which = self._shard_cdf[skill].searchsorted(uniform, side="right")
        offsets = rng.integers(0, starts[which])
        for w in np.unique(which):
            mine = which == w
            drawn = windows[w][offsets[mine]]
            ids[rows[mine]] = self._in_vocabulary(drawn, skill, usable[w][0])

    def validation_examples(self, skill: int) -> SkillExamples:
        windows = []
        for path, tokens in self._val[skill]:
            data = self._map(path)
            for start in range(0, tokens - self.seq_len + 1, self.seq_len):
                window = np.asarray(data[start : start + self.seq_len], dtype=np.int64)
                windows.append(self._in_vocabulary(window, skill, path))
                if len(windows) == self.val_windows:
                    return self._examples(np.stack(windows), skill)
        return self._examples(np.stack(windows), skill)
