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
from skillit.utils import jsonio
from skillit.utils.safe_paths import check_name

MANIFEST = "manifest.json"
FORMAT = "skillit-tokens"
DTYPES = ("uint16", "uint32")
# names at the top of a corpus, or of its engine export (skillit.corpus.engine_data): no domain's
RESERVED_DOMAINS = (MANIFEST, "tokenizer.json", "engine_data.json")


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
        data = jsonio.loads(path.read_text(), path)
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
        manifest = Manifest(
            dtype=data["dtype"],
            vocab_size=int(data["vocab_size"]),
            eos_id=int(data["eos_id"]),
            tokenizer=str(data["tokenizer"]),
            tokenizer_sha256=str(data.get("tokenizer_sha256", "")),
            domains=domains,
        )
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise SkillitError(f"{path}: missing or malformed key ({exc})") from None
    check_manifest(manifest, path)
    return manifest


def check_manifest(manifest: Manifest, path: Path) -> None:
    """Values a prepared corpus can hold: a domain name is one path component (exports write
    OUT/<domain>/), a shard a file name and a count of tokens, eos_id a token of the vocabulary."""
    if manifest.vocab_size < 1 or not 0 <= manifest.eos_id < manifest.vocab_size:
        raise SkillitError(
            f"{path}: 'vocab_size' must be >= 1 and 'eos_id' a token id below it, got "
            f"vocab_size {manifest.vocab_size}, eos_id {manifest.eos_id}"
        )
    if not manifest.domains:
        raise SkillitError(f"{path}: 'domains' is empty; a corpus needs at least one domain")
    check_name(manifest.tokenizer, f"{path}: 'tokenizer' (a file of the corpus folder)")
    for name, entry in manifest.domains.items():
        check_name(name, f"{path}: domain", reserved=RESERVED_DOMAINS)
        for split in ("train", "val"):
            for shard in getattr(entry, split):
                _check_shard_entry(shard, f"{path}: domains.{name}.{split}")


def _check_shard_entry(shard: ShardEntry, where: str) -> None:
    if not isinstance(shard.file, str) or not shard.file or "\0" in shard.file:
        raise SkillitError(f"{where}: a shard's 'file' must be a file name, got {shard.file!r}")
    tokens = shard.tokens
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
        raise SkillitError(
            f"{where}: shard {shard.file!r} 'tokens' must be an integer >= 0, got {tokens!r}"
        )


def shard_path(folder: Path, entry: ShardEntry) -> Path:
    p = Path(entry.file)
    return p if p.is_absolute() else folder / p


def check_shard(path: Path, tokens: int, dtype: str, domain: str | None = None) -> None:
    """A shard must exist and hold exactly the manifest's number of tokens."""
    of = f"domain {domain!r}: " if domain else ""
    try:
        size = path.stat().st_size if path.is_file() else None
    except OSError as exc:  # a name longer than the system allows, say
        raise SkillitError(f"{of}token shard {path} cannot be read: {exc.strerror}") from None
    if size is None:
        raise SkillitError(f"{of}token shard {path} is missing (listed in the corpus manifest)")
    itemsize = np.dtype(dtype).itemsize
    if size != tokens * itemsize:
        raise SkillitError(
            f"{of}token shard {path} is truncated or corrupt: the manifest says {tokens} {dtype} "
            f"tokens ({tokens * itemsize} bytes), the file has {size} bytes; the shard or "
            f"{MANIFEST} changed after prepare: rerun the same `skillit prepare` (it checks "
            "every shard and rewrites the manifest), or prepare it again with --fresh"
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


def first_token_at_or_above(tokens: np.ndarray, limit: int) -> int | None:
    """The position of the first token >= `limit`, scanned in blocks (a memmap stays on disk);
    None when there is none."""
    block = 1 << 22
    for start in range(0, len(tokens), block):
        part = np.asarray(tokens[start : start + block])
        if part.size and part.max() >= limit:
            return start + int(np.argmax(part >= limit))
    return None


def check_token_ids(path: Path, dtype: str, vocab_size: int, what: str) -> None:
    """Refuse a token file holding an id the tokenizer does not have (an embedding would be
    indexed out of its range)."""
    tokens = open_shard(path, dtype)
    at = first_token_at_or_above(tokens, vocab_size)
    if at is not None:
        raise SkillitError(
            f"{what}: {path} holds token id {int(tokens[at])} (token {at}), beyond the "
            f"tokenizer's vocabulary of {vocab_size} ids (0 to {vocab_size - 1}); it was written "
            f"with another tokenizer, or its ids are not {dtype}: give the tokenizer it was made "
            "with (--tokenizer)"
        )
    if dtype == "uint16" and _halves_of_uint32(tokens):
        raise SkillitError(
            f"{what}: {path} reads as uint16 ids every second of which is 0: the halves of uint32 "
            f"ids; the tokenizer's {vocab_size} ids take uint16 files: convert it, e.g. "
            "np.fromfile(PATH, np.uint32).astype(np.uint16).tofile(NEW_PATH)"
        )


def _halves_of_uint32(tokens: np.ndarray) -> bool:
    """Whether uint16 ids look read from a file of uint32 ones below 65536 (each one's high
    half, 0, after it), from the file's first block: no text gives so many zeros."""
    head = np.asarray(tokens[: 1 << 20])
    return len(head) >= 64 and not head[1::2].any()
