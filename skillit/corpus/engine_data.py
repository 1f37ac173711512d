"""A prepared corpus in the layout an engine that trains at scale reads, in a folder of its own.

`skillit corpus export CORPUS OUT --format nanotron` writes `OUT/<domain>/<split>/NNNNN.ds`, the
shard's tokens as they are (nanotron's tokenized-bytes files: headerless, 2 or 4 bytes a token;
checked against nanotron's source at commit 2411b02, `nanotron/data/tokenized_bytes.py`: no
nanotron package installs here without its CUDA stack).

`skillit corpus export CORPUS OUT --format megatron` writes, per domain and per shard,
`OUT/<domain>/<split>_NNNNN.bin` and `.idx`: Megatron-LM's indexed dataset (the `MMIDIDX`
index, version 1), one sequence per document with its end-of-document token, as Megatron's
`tools/preprocess_data.py --append-eod` writes it. Checked against megatron-core 0.16.1, whose
`IndexedDataset` reads it (tests/test_engine_data.py). The `.bin` holds the same token ids as
skillit's shard (uint16; a uint32 corpus is written as int32, Megatron having no uint32); the
shards themselves are never touched. `OUT/engine_data.json` records the format, the corpus it
came from (its manifest's hash) and each domain's files and token counts: `skillit mixture
export RUN --format megatron --data OUT` reads it to point the blend at these prefixes.

`--format mds` and `--format litdata` write one dataset folder per domain and split,
`OUT/<domain>/<split>/index.json` and its sample files, for MosaicML streaming's `Stream` and
litdata's `StreamingDataset` (the layouts: `sample_files.py`). The corpus's `tokenizer.json` is
copied to `OUT/`.

Documents are recovered from the end-of-document token that ends each of them in a shard (an
imported `--bin` shard without one is a single document). Memory stays bounded: a shard is read
through its memmap and copied in blocks.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skillit.corpus.sample_files import write_litdata, write_mds
from skillit.corpus.shards import MANIFEST, check_shard, open_shard, read_manifest, shard_path
from skillit.errors import SkillitError
from skillit.utils import jsonio

ENGINE_DATA = "engine_data.json"
INDEX_MAGIC = b"MMIDIDX\x00\x00"
INDEX_VERSION = 1
# Megatron's dtype codes (megatron.core.datasets.indexed_dataset.DType)
MEGATRON_DTYPES = {"uint16": (np.uint16, 8), "int32": (np.int32, 4)}
COPY_BLOCK = 1 << 22  # tokens copied at a time


@dataclass(frozen=True)
class ExportSettings:
    sample_tokens: int = 2048  # MDS: tokens a sample (LLM Foundry's --concat_tokens)


def document_ends(tokens: np.ndarray, eos_id: int) -> np.ndarray:
    """The end offset (exclusive) of every document: after each end-of-document token, and the
    shard's end when its last document has none. Scanned in blocks (a memmap stays on disk)."""
    found = [
        np.flatnonzero(np.asarray(tokens[start : start + COPY_BLOCK]) == eos_id) + start + 1
        for start in range(0, len(tokens), COPY_BLOCK)
    ]
    ends = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    if len(tokens) and (len(ends) == 0 or ends[-1] != len(tokens)):
        ends = np.append(ends, len(tokens))
    return ends.astype(np.int64)


def write_index(path: Path, lengths: np.ndarray, dtype: str) -> None:
    """An indexed dataset's `.idx`: header, sequence lengths, byte pointers, document indices
    (one sequence per document)."""
    numpy_dtype, code = MEGATRON_DTYPES[dtype]
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(lengths) and lengths.max() >= 2**31:
        raise SkillitError(f"{path}: a document of {lengths.max()} tokens is too long for Megatron")
    pointers = np.concatenate([[0], np.cumsum(lengths)[:-1]]) * np.dtype(numpy_dtype).itemsize
    with path.open("wb") as fh:
        fh.write(INDEX_MAGIC)
        fh.write(struct.pack("<Q", INDEX_VERSION))
        fh.write(struct.pack("<B", code))
        fh.write(struct.pack("<Q", len(lengths)))  # sequences
        fh.write(struct.pack("<Q", len(lengths) + 1))  # document indices: 0 and each end
        fh.write(lengths.astype(np.int32).tobytes())
        fh.write(pointers.astype(np.int64).tobytes())
        fh.write(np.arange(len(lengths) + 1, dtype=np.int64).tobytes())


def write_tokens(path: Path, tokens: np.ndarray, dtype: str) -> None:
    """`tokens` as `dtype` (uint16, int32 or uint32), copied in blocks."""
    numpy_dtype = np.dtype(dtype)
    with path.open("wb") as fh:
        for start in range(0, len(tokens), COPY_BLOCK):
            fh.write(np.asarray(tokens[start : start + COPY_BLOCK]).astype(numpy_dtype).tobytes())


def megatron_shard(source: Path, prefix: Path, corpus_dtype: str, eos_id: int) -> int:
    """One skillit shard as `<prefix>.bin` + `<prefix>.idx`; returns its documents."""
    dtype = "uint16" if corpus_dtype == "uint16" else "int32"
    tokens = open_shard(source, corpus_dtype)
    if dtype == "int32" and len(tokens) and int(tokens.max()) >= 2**31:
        raise SkillitError(f"{source}: token ids beyond int32 cannot be written for Megatron")
    ends = document_ends(tokens, eos_id)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    for suffix, write in (
        (".bin", lambda p: write_tokens(p, tokens, dtype)),
        (".idx", lambda p: write_index(p, np.diff(np.concatenate([[0], ends])), dtype)),
    ):
        final = prefix.with_suffix(suffix)
        tmp = final.with_name(f".{final.name}.tmp")
        write(tmp)
        tmp.replace(final)  # a kill leaves the old file or the new one
    return len(ends)


def checked_shards(corpus: Path, manifest, split_entries) -> Iterator[tuple[Path, int]]:
    """Each shard of a domain's split, checked against its manifest entry, with its tokens."""
    for shard in split_entries:
        source = shard_path(corpus, shard)
        check_shard(source, shard.tokens, manifest.dtype)
        yield source, shard.tokens


def documents_of(shards: Iterable[tuple[Path, int]], dtype: str, eos_id: int):
    """Every document of `shards` in order, each a view ending with its end-of-document token."""
    for source, _ in shards:
        tokens = open_shard(source, dtype)
        ends = document_ends(tokens, eos_id)
        for start, end in zip(np.concatenate([[0], ends[:-1]]), ends):
            yield tokens[start:end]


def export_shards(corpus: Path, write_shard: Callable) -> dict:
    """Every checked shard of `corpus` through `write_shard(manifest, source, domain, split, i)
    -> its record`; the records by domain and split."""
    manifest = read_manifest(corpus)
    domains = {}
    for name, entry in manifest.domains.items():
        record: dict[str, list] = {"train": [], "val": []}
        for split in ("train", "val"):
            shards = checked_shards(corpus, manifest, getattr(entry, split))
            # an empty shard holds nothing, and the engines cannot map an empty file
            for i, (source, tokens) in enumerate((s, t) for s, t in shards if t):
                written = write_shard(manifest, source, name, split, i)
                record[split].append({**written, "token_count": tokens})
        domains[name] = record
    return domains


def export_splits(corpus: Path, out: Path, write_split: Callable) -> dict:
    """Each domain's split, all its shards' documents in order, as one dataset folder
    `out/<domain>/<split>` through `write_split(documents, folder, dtype) -> samples`; its record
    names the folder's index.json."""
    manifest = read_manifest(corpus)
    domains = {}
    for name, entry in manifest.domains.items():
        record: dict[str, list] = {"train": [], "val": []}
        for split in ("train", "val"):
            shards = list(checked_shards(corpus, manifest, getattr(entry, split)))
            if not shards:
                continue
            folder = out / name / split
            folder.mkdir(parents=True, exist_ok=True)
            samples = write_split(
                documents_of(shards, manifest.dtype, manifest.eos_id), folder, manifest.dtype
            )
            record[split].append(
                {
                    "file": str((folder / "index.json").resolve()),
                    "samples": samples,
                    "token_count": sum(t for _, t in shards),
                }
            )
        domains[name] = record
    return domains


def export_megatron(corpus: Path, out: Path, settings: ExportSettings) -> dict:
    """Every shard of `corpus` as a Megatron indexed dataset under `out`; the domains' record."""

    def write_shard(manifest, source: Path, name: str, split: str, i: int) -> dict:
        prefix = out / name / f"{split}_{i:05d}"
        documents = megatron_shard(source, prefix, manifest.dtype, manifest.eos_id)
        return {"file": str(prefix.with_suffix(".bin").resolve()), "documents": documents}

    return export_shards(corpus, write_shard)


def export_nanotron(corpus: Path, out: Path, settings: ExportSettings) -> dict:
    """Every shard as nanotron's tokenized-bytes file: `<domain>/<split>/NNNNN.ds`, the tokens
    as they are (headerless, 2 or 4 bytes a token), one folder per domain and split (nanotron
    reads every `*.ds` of a dataset folder)."""

    def write_shard(manifest, source: Path, name: str, split: str, i: int) -> dict:
        target = out / name / split / f"{i:05d}.ds"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        write_tokens(tmp, open_shard(source, manifest.dtype), manifest.dtype)
        tmp.replace(target)  # a kill leaves no partial file under the final name
        return {"file": str(target.resolve())}

    return export_shards(corpus, write_shard)


def export_mds(corpus: Path, out: Path, settings: ExportSettings) -> dict:
    """Each domain's split as an MDS dataset `<domain>/<split>/` (token windows)."""

    def write_split(documents, folder: Path, dtype: str) -> int:
        return write_mds(documents, folder, dtype, settings.sample_tokens)

    return export_splits(corpus, out, write_split)


def export_litdata(corpus: Path, out: Path, settings: ExportSettings) -> dict:
    """Each domain's split as a litdata dataset `<domain>/<split>/`, one item per document."""
    return export_splits(corpus, out, write_litdata)


FORMATS: dict[str, Callable[[Path, Path, ExportSettings], dict]] = {
    "megatron": export_megatron,
    "nanotron": export_nanotron,
    "mds": export_mds,
    "litdata": export_litdata,
}


def export_corpus(
    corpus: str | Path, out: str | Path, fmt: str, settings: ExportSettings | None = None
) -> Path:
    """`corpus` in engine format `fmt` under `out` (never inside the corpus), with its
    tokenizer; returns the record file, which lists each domain's data files (`file`) per
    split."""
    settings = settings or ExportSettings()
    if settings.sample_tokens < 1:
        raise SkillitError(f"--sample-tokens must be at least 1, got {settings.sample_tokens}")
    corpus, out = Path(corpus).expanduser().resolve(), Path(out).expanduser().resolve()
    if fmt not in FORMATS:
        raise SkillitError(f"--format must be one of {list(FORMATS)}, got {fmt!r}")
    if out == corpus or out.is_relative_to(corpus) or corpus.is_relative_to(out):
        raise SkillitError(
            f"OUT {out} must be a folder of its own, not inside or around the corpus {corpus} "
            "(the engine's files would sit beside skillit's shards)"
        )
    if out.is_file():
        raise SkillitError(f"OUT {out} is a file; give a folder")
    manifest = read_manifest(corpus)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = corpus / manifest.tokenizer
    if tokenizer.is_file():  # the engines' configs name it
        shutil.copyfile(tokenizer, out / "tokenizer.json")
    record = {
        "format": fmt,
        "corpus": str(corpus),
        "corpus_manifest_sha256": hashlib.sha256((corpus / MANIFEST).read_bytes()).hexdigest()
        if (corpus / MANIFEST).is_file()
        else None,
        "dtype": manifest.dtype,
        "eos_id": manifest.eos_id,
        "tokenizer": str(out / "tokenizer.json") if tokenizer.is_file() else None,
        "domains": FORMATS[fmt](corpus, out, settings),
    }
    path = out / ENGINE_DATA
    tmp = path.with_name(f".{ENGINE_DATA}.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)
    return path


def read_engine_data(folder: str | Path, fmt: str) -> dict:
    """The record `skillit corpus export` wrote in `folder` for format `fmt`."""
    path = Path(folder).expanduser() / ENGINE_DATA
    if not path.is_file():
        raise SkillitError(
            f"--data {folder} holds no {ENGINE_DATA}; write the engine's data first with "
            f"`skillit corpus export CORPUS {folder} --format {fmt}`"
        )
    try:
        record = jsonio.loads(path.read_text(), path)
        if record["format"] != fmt or not isinstance(record["domains"], dict):
            raise KeyError("format")
    except (ValueError, KeyError, TypeError):
        raise SkillitError(f"{path} is not {fmt} data written by `skillit corpus export`") from None
    return record
