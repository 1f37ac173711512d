"""`skillit prepare`: text per domain in, token shards and a manifest out (skillit.corpus.shards).

Inputs per domain (detected from the path): a folder of `.txt` files (one document each), a JSONL
file or folder (one document per line, its `text_field`), parquet files (that column; needs
pyarrow), a Hugging Face `datasets` folder saved with `save_to_disk` (needs datasets), or an
existing flat `.bin` pair (train.bin / val.bin, listed as they are). Documents are read in sorted
file order and numbered; every `val_every`-th (index % val_every == 0) is held out for
validation. The numbered documents are cut into chunks of `docs_per_shard`; each chunk becomes a
train and a val shard, written under a temporary name and renamed, then a small sidecar
(`*.json`, with the chunk's text fingerprint) marks it complete. A rerun into the same folder
skips every complete chunk whose text is unchanged, so an interrupted prepare continues, and the
output is the same whatever the number of worker processes.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skillit.corpus.shards import (
    MANIFEST,
    DomainEntry,
    Manifest,
    ShardEntry,
    bin_tokens,
    dtype_for,
    file_sha256,
)
from skillit.errors import SkillitError
from skillit.utils.progress import progress
from skillit.utils.safe_paths import remove_inside
from skillit.utils.tokenization import load_tokenizer, save_tokenizer, train_byte_bpe

EOS_CANDIDATES = ("<eos>", "<|endoftext|>", "</s>", "<|end_of_text|>")
KINDS = ("txt", "jsonl", "parquet", "hf", "bin")


@dataclass(frozen=True)
class DomainInput:
    name: str
    path: Path
    kind: str


def detect_kind(path: Path, bin_input: bool = False) -> str:
    """What a domain's path holds (refused with the valid layouts when it is none of them)."""
    if not path.exists():
        raise SkillitError(f"domain input {path} does not exist")
    if bin_input:
        if not (path / "train.bin").is_file() or not (path / "val.bin").is_file():
            raise SkillitError(f"--bin {path}: expected a folder with train.bin and val.bin")
        return "bin"
    if path.is_file():
        for suffix, kind in ((".jsonl", "jsonl"), (".parquet", "parquet"), (".txt", "txt")):
            if path.name.endswith(suffix):
                return kind
    elif (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
        return "hf"
    else:
        for kind, pattern in (("jsonl", "*.jsonl"), ("parquet", "*.parquet"), ("txt", "*.txt")):
            if any(path.rglob(pattern)):
                return kind
    raise SkillitError(
        f"domain input {path}: not a .txt folder, a .jsonl or .parquet file or folder, or a "
        "Hugging Face datasets folder (save_to_disk)"
    )


def _files(path: Path, pattern: str) -> list[Path]:
    return [path] if path.is_file() else sorted(path.rglob(pattern))


def _jsonl_texts(f: Path, text_field: str) -> Iterator[str]:
    try:
        with f.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    text = json.loads(line)[text_field]
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise SkillitError(
                        f"{f}:{number}: expected a JSON object with a string field "
                        f"{text_field!r} (--text-field)"
                    ) from None
                if not isinstance(text, str):
                    raise SkillitError(f"{f}:{number}: field {text_field!r} is not a string")
                yield text
    except UnicodeDecodeError as exc:
        raise SkillitError(
            f"{f}: not UTF-8 text (byte {exc.start} of a line); convert it to UTF-8"
        ) from None


def iter_documents(inp: DomainInput, text_field: str = "text") -> Iterator[str]:
    """The domain's documents, in a fixed order (sorted files, then their order inside)."""
    if inp.kind == "txt":
        for f in _files(inp.path, "*.txt"):
            try:
                text = f.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                raise SkillitError(
                    f"{f}: not UTF-8 text (byte {exc.start}); convert it to UTF-8 "
                    "(e.g. iconv -f latin1 -t utf-8)"
                ) from None
            yield text
    elif inp.kind == "jsonl":
        for f in _files(inp.path, "*.jsonl"):
            yield from _jsonl_texts(f, text_field)
    elif inp.kind == "parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise SkillitError(
                "reading parquet needs pyarrow: pip install 'skillit[corpora]'"
            ) from None
        for f in _files(inp.path, "*.parquet"):
            table = pq.ParquetFile(f)
            if text_field not in table.schema_arrow.names:
                raise SkillitError(f"{f}: no column {text_field!r} (--text-field)")
            for batch in table.iter_batches(columns=[text_field]):
                yield from (t for t in batch.column(0).to_pylist() if t)
    elif inp.kind == "hf":
        try:
            import datasets
        except ImportError:
            raise SkillitError(
                "reading a datasets folder needs datasets: pip install 'skillit[corpora]'"
            ) from None
        data = datasets.load_from_disk(str(inp.path))
        if isinstance(data, datasets.DatasetDict):
            data = data["train"] if "train" in data else data[next(iter(data))]
        if text_field not in data.column_names:
            raise SkillitError(f"{inp.path}: no column {text_field!r} (--text-field)")
        yield from (t for t in data[text_field] if t)
    else:
        raise ValueError(f"no documents to read from a {inp.kind!r} input")


# -- tokenization (in worker processes or in this one) ------------------------------------------

_TOKENIZERS: dict[str, object] = {}


def _tokenizer(path: str):
    if path not in _TOKENIZERS:
        _TOKENIZERS[path] = load_tokenizer(path)
    return _TOKENIZERS[path]


def encode_chunk(
    tokenizer_path: str, texts: Sequence[str], first_index: int, val_every: int, eos_id: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """(train ids, val ids, held-out documents) of a chunk, each document followed by eos."""
    encodings = _tokenizer(tokenizer_path).encode_batch(list(texts), add_special_tokens=False)
    train, val, held = [], [], 0
    for i, enc in enumerate(encodings):
        ids = np.asarray([*enc.ids, eos_id], dtype=np.int64)
        if val_every and (first_index + i) % val_every == 0:
            val.append(ids)
            held += 1
        else:
            train.append(ids)

    def joined(parts):
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    return joined(train), joined(val), held


def fingerprint(texts: Sequence[str]) -> str:
    h = hashlib.sha1()
    for t in texts:
        h.update(t.encode("utf-8", errors="replace"))
        h.update(b"\0")
    return h.hexdigest()


def _write_atomic(path: Path, ids: np.ndarray, dtype: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    ids.astype(dtype).tofile(tmp)
    os.replace(tmp, path)


@dataclass(frozen=True)
class PrepareOptions:
    docs_per_shard: int = 2000
    val_every: int = 20
    text_field: str = "text"
    workers: int = 1
    progress: bool = True


def _chunks(docs: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for doc in docs:
        chunk.append(doc)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _write_chunk(
    folder: Path,
    c: int,
    result: tuple[np.ndarray, np.ndarray, int],
    texts_hash: str,
    n_docs: int,
    dtype: str,
) -> None:
    """Write chunk c's train and val shards, then its sidecar (which marks the chunk complete)."""
    train, val, held = result
    _write_atomic(folder / f"train_{c:05d}.bin", train, dtype)
    _write_atomic(folder / f"val_{c:05d}.bin", val, dtype)
    side = {
        "fingerprint": texts_hash,
        "documents": n_docs,
        "val_documents": held,
        "train_tokens": int(train.size),
        "val_tokens": int(val.size),
    }
    (folder / f"chunk_{c:05d}.json").write_text(json.dumps(side) + "\n")


def _chunk_is_complete(folder: Path, c: int, texts_hash: str) -> bool:
    """Whether an earlier run already wrote chunk c from the same text."""
    side_path = folder / f"chunk_{c:05d}.json"
    return (
        side_path.is_file() and json.loads(side_path.read_text()).get("fingerprint") == texts_hash
    )


def _write_finished(pending: list, keep: int, folder: Path, dtype: str) -> None:
    """Wait for the oldest submitted chunks and write them until at most `keep` are pending."""
    while len(pending) > keep:
        c, future, texts_hash, n_docs = pending.pop(0)
        _write_chunk(folder, c, future.result(), texts_hash, n_docs, dtype)


def _tokenize_chunks(
    folder: Path,
    name: str,
    documents: Iterable[str],
    tokenizer_path: Path,
    dtype: str,
    eos_id: int,
    opts: PrepareOptions,
) -> int:
    """Tokenize and write every chunk of `documents` not already complete in `folder`; returns
    the number of documents read."""
    # spawn: a clean interpreter per worker (the tokenizer's threads do not survive a fork)
    context = mp.get_context("spawn")
    pool = ProcessPoolExecutor(opts.workers, mp_context=context) if opts.workers > 1 else None
    bar = progress(desc=f"prepare {name}", unit="doc", enabled=opts.progress)
    pending: list = []
    try:
        index = 0
        for c, texts in enumerate(_chunks(documents, opts.docs_per_shard)):
            texts_hash = fingerprint(texts)
            if not _chunk_is_complete(folder, c, texts_hash):
                args = (str(tokenizer_path), texts, index, opts.val_every, eos_id)
                if pool is None:
                    _write_chunk(folder, c, encode_chunk(*args), texts_hash, len(texts), dtype)
                else:
                    pending.append((c, pool.submit(encode_chunk, *args), texts_hash, len(texts)))
                    # bounded memory: collect in order
                    _write_finished(pending, 2 * opts.workers, folder, dtype)
            index += len(texts)
            bar.update(len(texts))
        _write_finished(pending, 0, folder, dtype)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return index


def _read_domain_entry(folder: Path, inp: DomainInput, chunks: int) -> DomainEntry:
    """The manifest entry of the domain's first `chunks` chunks, read from their sidecars."""
    entry = DomainEntry(inputs=[str(inp.path)])
    for c in range(chunks):
        side = json.loads((folder / f"chunk_{c:05d}.json").read_text())
        entry.train.append(ShardEntry(f"{inp.name}/train_{c:05d}.bin", side["train_tokens"]))
        entry.val.append(ShardEntry(f"{inp.name}/val_{c:05d}.bin", side["val_tokens"]))
        entry.documents += side["documents"]
        entry.val_documents += side["val_documents"]
    return entry


def _remove_stale_chunks(folder: Path, chunks: int) -> None:
    """Remove the chunks numbered `chunks` and up: left there by a longer earlier input."""
    for stale in folder.glob("chunk_*.json"):
        c = int(stale.stem.split("_")[1])
        if c >= chunks:
            for name in (stale.name, f"train_{c:05d}.bin", f"val_{c:05d}.bin"):
                remove_inside(folder, folder / name)


def prepare_domain(
    out: Path,
    inp: DomainInput,
    documents: Iterable[str],
    tokenizer_path: Path,
    dtype: str,
    eos_id: int,
    opts: PrepareOptions,
) -> DomainEntry:
    """Tokenize one domain's documents into shards under out/<name>/ (skipping complete ones)."""
    folder = out / inp.name
    folder.mkdir(parents=True, exist_ok=True)
    n_docs = _tokenize_chunks(folder, inp.name, documents, tokenizer_path, dtype, eos_id, opts)
    chunks = n_docs and -(-n_docs // opts.docs_per_shard)
    entry = _read_domain_entry(folder, inp, chunks)
    _remove_stale_chunks(folder, chunks)
    return entry


def import_bin(inp: DomainInput, dtype: str) -> DomainEntry:
    """List an existing train.bin / val.bin pair in the manifest as they are (no copy)."""
    entry = DomainEntry(inputs=[str(inp.path)])
    for split in ("train", "val"):
        path = (inp.path / f"{split}.bin").resolve()
        getattr(entry, split).append(ShardEntry(str(path), bin_tokens(path, dtype)))
    return entry


def eos_id_of(tokenizer, eos_token: str | None) -> int:
    names = (eos_token,) if eos_token else EOS_CANDIDATES
    for name in names:
        token = tokenizer.token_to_id(name)
        if token is not None:
            return int(token)
    raise SkillitError(
        f"the tokenizer has no end-of-document token among {list(names)}; name one with --eos-token"
    )


def setup_tokenizer(
    out: Path,
    tokenizer: str | None,
    bpe_vocab: int | None,
    sample: Iterable[str],
) -> Path:
    """out/tokenizer.json: a copy of the user's, or a byte BPE trained on `sample`; reused on a
    rerun (and refused when a different one is given)."""
    target = out / "tokenizer.json"
    if tokenizer is not None:
        source = Path(tokenizer).expanduser()
        load_tokenizer(source)  # a clear error for a missing or broken file
        if target.is_file() and file_sha256(target) != file_sha256(source):
            raise SkillitError(
                f"{out} was prepared with another tokenizer; prepare into a new folder"
            )
        if not target.is_file():
            shutil.copyfile(source, target)
        return target
    if target.is_file():
        return target  # a rerun: the BPE trained the first time
    if bpe_vocab is None:
        raise SkillitError("give --tokenizer PATH/tokenizer.json or --bpe-vocab N")
    save_tokenizer(train_byte_bpe(sample, vocab_size=bpe_vocab), target)
    return target


def write_manifest(
    out: Path, tokenizer_path: Path, eos_id: int, domains: dict[str, DomainEntry]
) -> Manifest:
    tok = load_tokenizer(tokenizer_path)
    vocab = tok.get_vocab_size()
    manifest = Manifest(
        dtype=dtype_for(vocab),
        vocab_size=vocab,
        eos_id=eos_id,
        tokenizer=tokenizer_path.name,
        tokenizer_sha256=file_sha256(tokenizer_path),
        domains=domains,
    )
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(manifest.to_json())
    os.replace(tmp, out / MANIFEST)
    return manifest
