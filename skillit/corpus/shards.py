"""Token shards on disk and the manifest that lists them (what `skillit prepare` writes).

A prepared corpus is a folder:

    manifest.json        {"format": "skillit-tokens", "version": 1, "dtype": "uint16",
                          "vocab_size": V, "eos_id": E, "tokenizer": "tokenizer.json",
                          "tokenizer_sha256": ..., "domains": {NAME: DomainEntry}}
    tokenizer.json
    NAME/train_00000.bin  flat token ids of the domain's documents, each followed by eos
    NAME/val_00000.bin    the held-out documents, the same way

A shard is a raw array of `dtype` (uint16 when the vocabulary fits, else uint32): the layout
nanoGPT-style prepare scripts write, so their `train.bin` / `val.bin` can be listed in a manifest
as they are (`skillit prepare --bin`). Shards are opened as read-only memmaps, one per process
when first read, never loaded whole.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from skillit.errors import SkillitError

MANIFEST = "manifest.json"
FORMAT = "skillit-tokens"
DTYPES = ("uint16", "uint32")


def dtype_for(vocab_size: int) -> str:
    return "uint16" if vocab_size <= 2**16 else "uint32"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class ShardEntry:
    file: str  # relative to the corpus folder, or absolute (an imported .bin)
    tokens: int


@dataclass
class DomainEntry:
    train: list[ShardEntry] = field(default_factory=list)
    val: list[ShardEntry] = field(default_factory=list)
    documents: int = 0
    val_documents: int = 0
    inputs: list[str] = field(default_factory=list)  # where the text came from

    @property
    def train_tokens(self) -> int:
        return sum(s.tokens for s in self.train)

    @property
    def val_tokens(self) -> int:
        return sum(s.tokens for s in self.val)

    @classmethod
    def from_json(cls, data: dict) -> DomainEntry:
        return cls(
            train=[ShardEntry(**s) for s in data.get("train", [])],
            val=[ShardEntry(**s) for s in data.get("val", [])],
            documents=int(data.get("documents", 0)),
            val_documents=int(data.get("val_documents", 0)),
            inputs=list(data.get("inputs", [])),
        )


@dataclass
class Manifest:
    dtype: str
    vocab_size: int
    eos_id: int
    tokenizer: str
    tokenizer_sha256: str
    domains: dict[str, DomainEntry]
    format: str = FORMAT
    version: int = 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def read_manifest(folder: str | Path) -> Manifest:
    """The manifest of a prepared corpus, checked (errors name the file and the key)."""
    path = Path(folder).expanduser() / MANIFEST
    if not path.is_file():
        raise SkillitError(
            f"{path.parent} is not a prepared corpus (no {MANIFEST}); make one with "
            "`skillit prepare OUT --domain NAME=PATH ...`"
        )
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SkillitError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SkillitError(f"{path}: 'format' must be {FORMAT!r}")
    if data.get("dtype") not in DTYPES:
        raise SkillitError(
            f"{path}: 'dtype' must be one of {list(DTYPES)}, got {data.get('dtype')!r}"
        )
    try:
        domains = {str(k): DomainEntry.from_json(v) for k, v in data["domains"].items()}
        return Manifest(
            dtype=data["dtype"],
            vocab_size=int(data["vocab_size"]),
            eos_id=int(data["eos_id"]),
            tokenizer=str(data["tokenizer"]),
            tokenizer_sha256=str(data.get("tokenizer_sha256", "")),
            domains=domains,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SkillitError(f"{path}: missing or malformed key ({exc})") from None


def shard_path(folder: Path, entry: ShardEntry) -> Path:
    p = Path(entry.file)
    return p if p.is_absolute() else folder / p


def check_shard(path: Path, tokens: int, dtype: str) -> None:
    """A shard must exist and hold exactly the manifest's number of tokens."""
    if not path.is_file():
        raise SkillitError(f"token shard {path} is missing (listed in the corpus manifest)")
    size = path.stat().st_size
    itemsize = np.dtype(dtype).itemsize
    if size != tokens * itemsize:
        raise SkillitError(
            f"token shard {path} is truncated or corrupt: the manifest says {tokens} {dtype} "
            f"tokens ({tokens * itemsize} bytes), the file has {size} bytes; prepare it again"
        )


def open_shard(path: Path, dtype: str) -> np.ndarray:
    """The shard's tokens through a read-only memmap (an empty shard, which cannot be mapped,
    as an empty array)."""
    if path.stat().st_size == 0:
        return np.zeros(0, dtype=np.dtype(dtype))
    return np.memmap(path, dtype=np.dtype(dtype), mode="r")


def bin_tokens(path: Path, dtype: str) -> int:
    """Tokens in an existing flat `.bin` file of `dtype` (refused when the size does not fit)."""
    if not path.is_file():
        raise SkillitError(f"{path} does not exist (expected a flat token file)")
    itemsize = np.dtype(dtype).itemsize
    size = path.stat().st_size
    if size % itemsize:
        raise SkillitError(
            f"{path} has {size} bytes, not a whole number of {dtype} tokens; check --bin-dtype"
        )
    return size // itemsize
