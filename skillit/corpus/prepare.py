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

Memory stays bounded whatever a document's size: a document longer than `PIECE_CHARS` is read (a
`.txt` file from disk, as it goes) and tokenized in pieces cut before a word (`pieces`), which a
pre-tokenizer of the GPT-2 family (the byte BPE trained here) never merges across, so the tokens
are those of the whole document; text goes to the tokenizer in batches of about `BATCH_CHARS`
and its ids are appended to the chunk's shard files. A domain of one document keeps its first
1/`val_every` of tokens for validation (every other domain holds out whole documents).
"""

from __future__ import annotations

import codecs
import hashlib
import itertools
import json
import multiprocessing as mp
import os
import re
import shutil
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skillit.corpus.shards import (
    MANIFEST,
    DomainEntry,
    Manifest,
    ShardEntry,
    bin_tokens,
    check_token_ids,
    dtype_for,
    file_sha256,
)
from skillit.errors import SkillitError
from skillit.utils.kill_points import kill_point
from skillit.utils.progress import progress
from skillit.utils.safe_paths import remove_inside, write_inside
from skillit.utils.tokenization import encode_texts, load_tokenizer, train_byte_bpe

EOS_CANDIDATES = ("<eos>", "<|endoftext|>", "</s>", "<|end_of_text|>")
KINDS = ("txt", "jsonl", "parquet", "hf", "bin")
# tokenizers needs about 130 bytes per character it encodes in one call, so a document is cut
# into pieces of at most PIECE_CHARS and text is encoded BATCH_CHARS at a time (~150 MB)
PIECE_CHARS = 1 << 16
BATCH_CHARS = 1 << 20
BPE_SAMPLE_BYTES = 32 << 20  # text per domain the BPE is trained on (about)
# where a piece may end: before a space that starts a word (a letter or digit follows), else
# before other whitespace that does, else anywhere. GPT-2's pattern starts a pre-token there
# (the last whitespace of a run is the word's); before a special token such as <eos> it would
# not: a run of whitespace that ends a text segment is one pre-token
WORD_STARTS = (re.compile(r" (?=[^\W_])"), re.compile(r"\s(?=[^\W_])"))
CHUNK_RECORD = re.compile(r"chunk_(\d{5,})\.json")  # a chunk's sidecar (ChunkWriter.finish)


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
    return [path] if path.is_file() else [_readable(f) for f in sorted(path.rglob(pattern))]


def _readable(f: Path) -> Path:
    """`f`, a file of a domain's folder matched by name, refused when it cannot be read as one."""
    if f.is_symlink() and not f.exists():
        raise SkillitError(
            f"{f} is a symbolic link to {os.readlink(f)}, which does not exist; remove the link "
            "or restore what it points to"
        )
    if f.is_dir():
        raise SkillitError(
            f"{f} is a folder named like a {f.suffix} document; rename it (prepare reads every "
            f"{f.suffix} file under a domain's folder, those inside this one included)"
        )
    return f


def _not_utf8(path: Path, byte: int) -> SkillitError:
    return SkillitError(
        f"{path}: not UTF-8 text (byte {byte}); convert it to UTF-8 (e.g. iconv -f latin1 -t utf-8)"
    )


def _first_bad_byte(path: Path) -> int:
    """The offset of the first byte of `path` that is not UTF-8 (read in blocks)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as fh:
        while True:
            block = fh.read(1 << 20)
            carried = len(decoder.getstate()[0])  # a character begun in the previous block
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                return offset - carried + exc.start
            if not block:
                return offset
            offset += len(block)


@dataclass(frozen=True)
class TextFile:
    """A `.txt` document longer than a piece: read from disk each time its text is needed, in
    blocks, never held whole."""

    path: Path

    def blocks(self) -> Iterator[str]:
        """The text `Path.read_text` would give (newlines translated), in blocks."""
        try:
            with self.path.open(encoding="utf-8") as fh:
                while block := fh.read(PIECE_CHARS):
                    yield block
        except UnicodeDecodeError:
            raise _not_utf8(self.path, _first_bad_byte(self.path)) from None


Document = str | TextFile


def text_blocks(doc: Document) -> Iterator[str]:
    """A document's text in blocks of at most PIECE_CHARS (no block for an empty one)."""
    if isinstance(doc, TextFile):
        return doc.blocks()
    return (doc[i : i + PIECE_CHARS] for i in range(0, len(doc), PIECE_CHARS))


def _last_word_start(text: str, lo: int, hi: int) -> int | None:
    """The last position in [lo, hi) where a piece may start (WORD_STARTS, in order), looked for
    from the end in growing windows; None when there is none."""
    for pattern in WORD_STARTS:
        for back in (256, 16384, hi - lo):
            # endpos hi + 1: the lookahead sees the character after a space at hi - 1
            last = deque(pattern.finditer(text, max(lo, hi - back), hi + 1), maxlen=1)
            if last:
                return last[0].start()
            if back >= hi - lo:
                break
    return None


def _cuts(text: str, start: int, size: int, reserve: int) -> Iterator[int]:
    """Where the pieces of text[start:] end while more than size + reserve characters are left."""
    while len(text) - start > size + reserve:
        cut = _last_word_start(text, start + 1, start + size + 1)
        start = start + size if cut is None else cut
        yield start


def pieces(blocks: Iterable[str], size: int) -> Iterator[str]:
    """A document's text, given in blocks, as pieces of at most `size` characters that end where
    a word starts (a piece without one ends after `size`): the same pieces however the text is
    blocked. Text of at most `size` is one piece, an empty text one empty piece."""
    text, start, given = "", 0, False
    for block in blocks:
        text, start = text[start:] + block, 0
        # a character beyond the window stays in hand: the lookahead of a word start sees it
        for cut in _cuts(text, start, size, reserve=1):
            yield text[start:cut]
            start, given = cut, True
    for cut in _cuts(text, start, size, reserve=0):
        yield text[start:cut]
        start, given = cut, True
    if len(text) > start or not given:
        yield text[start:]


def document_pieces(doc: Document) -> Iterator[str]:
    return pieces(text_blocks(doc), PIECE_CHARS)


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


def iter_documents(inp: DomainInput, text_field: str = "text") -> Iterator[Document]:
    """The domain's documents, in a fixed order (sorted files, then their order inside): the
    text, or a TextFile for a `.txt` file longer than a piece."""
    if inp.kind == "txt":
        for f in _files(inp.path, "*.txt"):
            if f.stat().st_size > PIECE_CHARS:
                yield TextFile(f)
                continue
            try:
                text = f.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                raise _not_utf8(f, exc.start) from None
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
    tokenizer_path: str,
    texts: Sequence[str],
    first_index: int,
    val_every: int,
    eos_id: int,
    ends: Sequence[bool] | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """(train ids, val ids, held-out documents) of consecutive text of a chunk, each document
    followed by eos. `texts` are whole documents, or with `ends` pieces of them (ends[i]: texts[i]
    ends its document); texts[0] belongs to document `first_index`, held out when val_every
    divides its number."""
    encodings = encode_texts(_tokenizer(tokenizer_path), texts, tokenizer_path)
    train, val, held = [], [], 0
    index = first_index
    for enc, ends_document in zip(encodings, itertools.repeat(True) if ends is None else ends):
        ids = np.asarray([*enc.ids, eos_id] if ends_document else enc.ids, dtype=np.int64)
        if val_every and index % val_every == 0:
            val.append(ids)
            held += ends_document
        else:
            train.append(ids)
        index += ends_document

    def joined(parts):
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    return joined(train), joined(val), held


def fingerprint(texts: Sequence[Document]) -> str:
    h = hashlib.sha1()
    for t in texts:
        for block in text_blocks(t):  # the digest of the whole text, never held whole
            h.update(block.encode("utf-8", errors="replace"))
        h.update(b"\0")
    return h.hexdigest()


@dataclass(frozen=True)
class PrepareOptions:
    docs_per_shard: int = 2000
    val_every: int = 20
    text_field: str = "text"
    workers: int = 1
    progress: bool = True


def _chunks(docs: Iterable[Document], size: int) -> Iterator[list[Document]]:
    chunk: list[Document] = []
    for doc in docs:
        chunk.append(doc)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _one_document(documents: Iterable[Document]) -> tuple[Iterator[Document], bool]:
    """The documents again, and whether there is exactly one (read ahead by one)."""
    it = iter(documents)
    first = list(itertools.islice(it, 2))
    return itertools.chain(first, it), len(first) == 1


def _marking_last(items: Iterator[str]) -> Iterator[tuple[str, bool]]:
    """(item, whether it is the last) of a non-empty iterator."""
    held = next(items)
    for item in items:
        yield held, False
        held = item
    yield held, True


@dataclass(frozen=True)
class Batch:
    """Consecutive text of a chunk for one encode_chunk call (its arguments)."""

    texts: list[str]
    first_index: int  # the document texts[0] belongs to
    ends: list[bool] | None  # whether each text ends its document; None: each is a whole one


def _batches(docs: Sequence[Document], first_index: int) -> Iterator[Batch]:
    """The chunk's text in batches of about BATCH_CHARS: whole documents, the long ones in
    pieces (a batch may end inside a document)."""
    texts: list[str] = []
    ends: list[bool] = []
    chars = first = 0

    def batch() -> Batch:
        return Batch(texts, first, None if all(ends) else ends)

    for index, doc in enumerate(docs, start=first_index):
        for piece, last in _marking_last(document_pieces(doc)):
            if not texts:
                first = index
            texts.append(piece)
            ends.append(last)
            chars += len(piece)
            if chars >= BATCH_CHARS:
                yield batch()
                texts, ends, chars = [], [], 0
    if texts:
        yield batch()


def _append_ids(path: Path, ids: np.ndarray, dtype: str) -> None:
    if not ids.size:
        return
    # a file object's write, not ndarray.tofile: tofile loses a short write to a full disk unseen
    try:
        with path.open("ab") as fh:
            fh.write(memoryview(ids.astype(dtype)))
    except OSError as exc:  # the error of a write or a close names no file
        raise OSError(exc.errno, exc.strerror, str(path)) from None


def _fresh_file(folder: Path, path: Path) -> None:
    """An empty file at `path`, created here: whatever held the name before (a killed run's
    partial file, or a symbolic link planted there) is unlinked, never written through."""
    if path.is_symlink():
        print(
            f"skillit prepare: note: {path} was a symbolic link (to {os.readlink(path)}); "
            "removed, not written through",
            file=sys.stderr,
        )
    if os.path.lexists(path):
        remove_inside(folder, path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    os.close(os.open(path, flags, 0o644))


def _copy_bytes(src, dst, count: int) -> None:
    while count > 0:
        block = src.read(min(count, PIECE_CHARS))
        if not block:
            break
        dst.write(block)
        count -= len(block)


class ChunkWriter:
    """Chunk c's train and val shards, appended to under temporary names as its batches are
    encoded; `finish` renames them, then writes the sidecar that marks the chunk complete.

    With `head_every`, the chunk is a domain's only document, all of it encoded for training:
    `finish` moves its first 1/head_every of tokens to the val shard (its eos stays in train)."""

    def __init__(
        self, folder: Path, c: int, dtype: str, texts_hash: str, n_docs: int, head_every: int
    ):
        self.folder, self.c, self.dtype, self.head_every = folder, c, dtype, head_every
        self.side = {
            "fingerprint": texts_hash,
            "documents": n_docs,
            "val_documents": 0,
            "train_tokens": 0,
            "val_tokens": 0,
        }
        for split in ("train", "val"):
            _fresh_file(folder, self._tmp(split))  # a killed run's partial file starts again

    def _final(self, split: str) -> Path:
        return self.folder / f"{split}_{self.c:05d}.bin"

    def _tmp(self, split: str) -> Path:
        return self.folder / f"{split}_{self.c:05d}.bin.tmp"

    def add(self, result: tuple[np.ndarray, np.ndarray, int]) -> None:
        train, val, held = result
        _append_ids(self._tmp("train"), train, self.dtype)
        _append_ids(self._tmp("val"), val, self.dtype)
        self.side["train_tokens"] += int(train.size)
        self.side["val_tokens"] += int(val.size)
        self.side["val_documents"] += held

    def _hold_out_head(self) -> None:
        total = self.side["train_tokens"]
        head = (total - 1) // self.head_every  # of the document's tokens, not its eos
        train = self._tmp("train")
        rest = train.with_name(train.name + ".rest")
        itemsize = np.dtype(self.dtype).itemsize
        # copied through files in blocks: the shard is never held in memory
        _fresh_file(self.folder, rest)
        with train.open("rb") as src, self._tmp("val").open("ab") as val, rest.open("ab") as out:
            _copy_bytes(src, val, head * itemsize)
            shutil.copyfileobj(src, out, PIECE_CHARS)
        os.replace(rest, train)
        self.side["train_tokens"] -= head
        self.side["val_tokens"] += head

    def finish(self) -> None:
        if self.head_every:
            self._hold_out_head()
        sidecar = f"chunk_{self.c:05d}.json"
        # an earlier prepare's sidecar (of other text) must not vouch for the shards renamed next
        remove_inside(self.folder, self.folder / sidecar)
        for split in ("train", "val"):
            os.replace(self._tmp(split), self._final(split))
        kill_point("prepare.shards")
        write_inside(self.folder, sidecar, json.dumps(self.side) + "\n")
        kill_point("prepare.sidecar")


def _chunk_is_complete(folder: Path, c: int, texts_hash: str, dtype: str) -> bool:
    """Whether an earlier run already wrote chunk c from the same text (its shards checked
    against its sidecar)."""
    side_path = folder / f"chunk_{c:05d}.json"
    if not side_path.is_file():
        return False
    side = _read_sidecar(side_path)
    if side["fingerprint"] != texts_hash:
        return False
    for split in ("train", "val"):
        shard = folder / f"{split}_{c:05d}.bin"
        _check_chunk_shard(shard, side[f"{split}_tokens"], dtype, side_path)
    return True


def _redo_hint(side_path: Path) -> str:
    return f"delete {side_path} to prepare that chunk again, or rerun with --fresh"


def _read_sidecar(side_path: Path) -> dict:
    """A chunk's sidecar, refused (naming it) when it is not the record ChunkWriter writes."""
    try:
        side = json.loads(side_path.read_text(encoding="utf-8"))
    except ValueError:  # empty, not JSON, not UTF-8
        side = None
    counts = ("documents", "val_documents", "train_tokens", "val_tokens")
    if not (
        isinstance(side, dict)
        and isinstance(side.get("fingerprint"), str)
        and all(isinstance(side.get(k), int) and side[k] >= 0 for k in counts)
    ):
        raise SkillitError(
            f"{side_path} is not a chunk record prepare writes (empty, or edited): "
            f"{_redo_hint(side_path)}"
        )
    return side


def _check_chunk_shard(path: Path, tokens: int, dtype: str, side_path: Path) -> None:
    """A complete chunk's shard must hold the tokens its sidecar counts."""
    want = tokens * np.dtype(dtype).itemsize
    size = path.stat().st_size if path.is_file() else None
    if size != want:
        held = "is missing" if size is None else f"holds {size} bytes"
        raise SkillitError(
            f"{path} {held}, but its chunk's record lists {tokens} {dtype} tokens ({want} "
            f"bytes): the shard changed after prepare wrote it; {_redo_hint(side_path)}"
        )


def _write_finished(pending: deque, keep: int) -> None:
    """Write the oldest encoded batches, in order (waiting for them), until at most `keep` are
    pending; an entry without a batch finishes its chunk."""
    while len(pending) > keep:
        writer, work = pending.popleft()
        if work is None:
            writer.finish()
        else:
            writer.add(work.result() if isinstance(work, Future) else work)


def _tokenize_chunks(
    folder: Path,
    name: str,
    documents: Iterable[Document],
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
    documents, single = _one_document(documents)
    # a lone document would be held out whole: it is split by tokens instead (ChunkWriter)
    val_every, head_every = (0, opts.val_every) if single else (opts.val_every, 0)
    pending: deque = deque()  # (writer, encoded batch or future; None: finish the chunk)
    keep = 2 * opts.workers if pool is not None else 0  # bounded memory: collect in order
    try:
        index = 0
        for c, texts in enumerate(_chunks(documents, opts.docs_per_shard)):
            texts_hash = fingerprint(texts)
            if not _chunk_is_complete(folder, c, texts_hash, dtype):
                writer = ChunkWriter(folder, c, dtype, texts_hash, len(texts), head_every)
                for batch in _batches(texts, index):
                    args = (str(tokenizer_path), batch.texts, batch.first_index, val_every, eos_id)
                    args += () if batch.ends is None else (batch.ends,)
                    work = encode_chunk(*args) if pool is None else pool.submit(encode_chunk, *args)
                    pending.append((writer, work))
                    _write_finished(pending, keep)
                pending.append((writer, None))
                _write_finished(pending, keep)
            index += len(texts)
            bar.update(len(texts))
        _write_finished(pending, 0)
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


def _chunk_records(folder: Path) -> dict[int, Path]:
    """The chunk sidecars in a domain's folder by number; a stray file named like one is refused
    (a chunk numbered from it would be deleted or trusted)."""
    records = {}
    for path in folder.glob("chunk_*.json"):
        match = CHUNK_RECORD.fullmatch(path.name)
        if match is None or not path.is_file():
            raise SkillitError(
                f"{path} is not a chunk record prepare writes (chunk_NNNNN.json); move it out "
                f"of {folder}, which holds the domain's shards"
            )
        records[int(match[1])] = path
    return records


def _remove_stale_chunks(folder: Path, chunks: int) -> None:
    """Remove the chunks numbered `chunks` and up: left there by a longer earlier input."""
    for c, stale in _chunk_records(folder).items():
        if c >= chunks:
            for name in (stale.name, f"train_{c:05d}.bin", f"val_{c:05d}.bin"):
                remove_inside(folder, folder / name)


def _remove_partial_shards(folder: Path) -> None:
    """The chunk files still under their temporary names (a write that failed): their space
    back, and the next run starts those chunks again."""
    for partial in folder.glob("*.bin.tmp*"):
        remove_inside(folder, partial)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def check_split(inp: DomainInput, entry: DomainEntry, val_every: int) -> None:
    """Refuse a domain left without training tokens; say, with the numbers, how a lone document
    was split, or when a domain holds out more tokens than it trains on."""
    numbers = (
        f"{_count(entry.documents, 'document')}, {entry.val_documents} held out whole for "
        "validation "
        f"(--val-every {val_every}: documents 0, {val_every}, {2 * val_every}, ...): "
        f"{entry.train_tokens:,} training and {entry.val_tokens:,} validation tokens"
    )
    if entry.documents == 0:
        raise SkillitError(
            f"domain {inp.name!r}: no documents in {inp.path} (check the path and --text-field)"
        )
    if entry.train_tokens == 0:  # only an earlier prepare's shards of a lone document
        raise SkillitError(
            f"domain {inp.name!r}: {numbers}; nothing to train on. Prepare it again with --fresh: "
            f"a domain of one document keeps its first 1/{val_every} of tokens for validation"
        )
    say = f"skillit prepare: domain {inp.name!r}:"
    if entry.documents == 1 and entry.val_documents == 0:
        total = entry.train_tokens + entry.val_tokens
        print(
            f"{say} one document: its first {entry.val_tokens:,} of {total:,} tokens "
            f"(1/{val_every}, --val-every) are held out for validation, the rest trained on; "
            "give it several documents to hold out whole ones",
            file=sys.stderr,
        )
    elif entry.train_tokens < entry.val_tokens:
        print(
            f"{say} {numbers}: fewer to train on than to validate; give it more (or more even) "
            "documents",
            file=sys.stderr,
        )


def prepare_domain(
    out: Path,
    inp: DomainInput,
    documents: Iterable[Document],
    tokenizer_path: Path,
    dtype: str,
    eos_id: int,
    opts: PrepareOptions,
) -> DomainEntry:
    """Tokenize one domain's documents into shards under out/<name>/ (skipping complete ones)."""
    folder = out / inp.name
    folder.mkdir(parents=True, exist_ok=True)
    _chunk_records(folder)  # a stray file is refused before the work, not after it
    try:
        n_docs = _tokenize_chunks(folder, inp.name, documents, tokenizer_path, dtype, eos_id, opts)
    except BaseException:  # a full disk, say: nothing half-written stays to take its space
        _remove_partial_shards(folder)
        raise
    chunks = n_docs and -(-n_docs // opts.docs_per_shard)
    entry = _read_domain_entry(folder, inp, chunks)
    _remove_stale_chunks(folder, chunks)
    check_split(inp, entry, opts.val_every)
    return entry


def import_bin(inp: DomainInput, dtype: str, vocab_size: int) -> DomainEntry:
    """List an existing train.bin / val.bin pair in the manifest as they are (no copy), once
    every id is found inside the tokenizer's vocabulary."""
    entry = DomainEntry(inputs=[str(inp.path)])
    for split in ("train", "val"):
        path = (inp.path / f"{split}.bin").resolve()
        getattr(entry, split).append(ShardEntry(str(path), bin_tokens(path, dtype)))
        check_token_ids(path, dtype, vocab_size, f"--bin {inp.name}")
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


def _domain_sample(documents: Iterable[Document], max_docs: int, max_bytes: int) -> Iterator[str]:
    taken = 0
    for doc in itertools.islice(documents, max_docs):
        for piece in document_pieces(doc):
            yield piece
            taken += len(piece.encode("utf-8", errors="replace"))
            if taken >= max_bytes:
                return


def bpe_sample(
    domains: Iterable[Iterable[Document]], max_docs: int, max_bytes: int = BPE_SAMPLE_BYTES
) -> Iterator[str]:
    """The text a BPE is trained on: each domain's first `max_docs` documents, up to the piece
    that reaches `max_bytes` of UTF-8, in pieces (which the BPE counts the same words in)."""
    for documents in domains:
        yield from _domain_sample(documents, max_docs, max_bytes)


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
            write_inside(out, target.name, source.read_bytes())
            kill_point("prepare.tokenizer")
        return target
    if target.is_file():
        return target  # a rerun: the BPE trained the first time
    if bpe_vocab is None:
        raise SkillitError("give --tokenizer PATH/tokenizer.json or --bpe-vocab N")
    trained = train_byte_bpe(sample, vocab_size=bpe_vocab)
    write_inside(out, target.name, trained.to_str(pretty=True))
    kill_point("prepare.tokenizer")
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
    write_inside(out, MANIFEST, manifest.to_json())
    return manifest
