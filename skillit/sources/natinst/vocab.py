"""The tokenizer of a Natural Instructions source: a user's tokenizer.json, or a byte-level BPE
trained on the chosen tasks' training text and kept in a cache folder.

A trained BPE is cached under `cache_dir` as `bpe-<hash>.json`; the hash covers everything that
changes its training text (task names, hold-out settings, text cap, template version) and the
vocabulary size. Files are written to a temporary name and renamed, so a crash never leaves a
half-written tokenizer. Nothing is ever written inside the dataset folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from tokenizers import Tokenizer

from skillit.errors import SkillitError
from skillit.sources.natinst.config import KEY, NatInstSourceConfig
from skillit.sources.natinst.packing import TEMPLATE_VERSION
from skillit.utils.tokenization import PAD, load_tokenizer, train_byte_bpe


def bpe_cache_key(cfg: NatInstSourceConfig, task_names: Iterable[str]) -> str:
    facts = {
        "tasks": sorted(task_names),
        "vocab_size": cfg.vocab_size,
        "bpe_max_chars": cfg.bpe_max_chars,
        "dev_size": [cfg.dev_size, cfg.eval_only_dev_size],
        "split_seed": cfg.split_seed,
        "template": TEMPLATE_VERSION,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:20]


def cache_folder(cfg: NatInstSourceConfig, root: Path) -> Path:
    folder = Path(cfg.cache_dir).expanduser().resolve()
    if folder.is_relative_to(root.resolve()):
        raise SkillitError(
            f"{KEY}.cache_dir={cfg.cache_dir!r} is inside the dataset folder {root}; the dataset "
            "is read-only to skillit: choose a folder outside it"
        )
    return folder


def save_atomically(tok: Tokenizer, path: Path) -> None:
    """Write `path` via a temporary file in the same folder and a rename."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise SkillitError(
            f"{KEY}.cache_dir: cannot write to {path.parent} ({exc.strerror}); choose a "
            "writable folder"
        ) from None
    os.close(fd)
    try:
        tok.save(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise SkillitError(
            f"{KEY}.cache_dir: cannot write {path} ({exc.strerror}); choose a writable folder"
        ) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def build_tokenizer(
    cfg: NatInstSourceConfig,
    root: Path,
    task_names: list[str],
    training_text: Callable[[], Iterable[str]],
) -> tuple[Tokenizer, str]:
    """(tokenizer, where it came from). `training_text` is called only when a BPE is trained."""
    if cfg.tokenizer:
        path = Path(cfg.tokenizer).expanduser()
        if not path.is_file():
            raise SkillitError(
                f"{KEY}.tokenizer={cfg.tokenizer!r} does not exist (give the path of a "
                "tokenizer.json, or null to train a byte-level BPE on the tasks)"
            )
        return load_tokenizer(path), str(path)
    path = cache_folder(cfg, root) / f"bpe-{bpe_cache_key(cfg, task_names)}.json"
    if path.is_file():
        return load_tokenizer(path), str(path)
    tok = train_byte_bpe(training_text(), vocab_size=cfg.vocab_size)
    save_atomically(tok, path)
    return tok, str(path)


def resolve_pad_id(cfg: NatInstSourceConfig, tok: Tokenizer, where: str) -> int:
    """The tokenizer's <pad> id if it has one, else the configured data.natinst.pad_id."""
    pad = tok.token_to_id(PAD)
    if pad is not None:
        return int(pad)
    if cfg.pad_id is None:
        raise SkillitError(
            f"the tokenizer {where} has no {PAD} token: set {KEY}.pad_id to the id to pad with "
            "(e.g. the end-of-text id)"
        )
    size = tok.get_vocab_size(with_added_tokens=True)
    if cfg.pad_id >= size:
        raise SkillitError(f"{KEY}.pad_id={cfg.pad_id} is outside the vocabulary (size {size})")
    return cfg.pad_id
