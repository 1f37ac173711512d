"""Token data as the sample files of MosaicML streaming (MDS) and litdata, written by skillit.

Both engines read a folder of an `index.json` and files that share one layout: a uint32 count
of samples N, N+1 uint32 byte offsets (where each sample starts, and the end), then the samples.
MDS puts its column config (JSON) between the offsets and the samples; litdata puts nothing.

- **MDS** (checked with mosaicml-streaming 0.13.0's `StreamingDataset`): one column `tokens`,
  encoding `ndarray:<dtype>`, each sample a window of `sample_tokens` consecutive tokens of the
  domain (the last one shorter). Fixed windows make `proportion`, which streaming counts in
  samples, a proportion of tokens; documents keep their end-of-document tokens inside the
  windows, as LLM Foundry's concatenated text datasets have them. A sample is a uint32 size, a
  byte (ndim << 2 | shape dtype code), the length, then the values.
- **litdata** (checked with litdata 0.2.76's `StreamingDataset` and `TokensLoader`): one item
  per document with its end-of-document token, values headerless (`no_header_tensor:20`,
  torch.uint16; a uint32 corpus as `no_header_numpy:6`). `TokensLoader(block_size)` reads a
  chunk as one token stream in blocks; a chunk's tokens beyond its last whole block are not
  read.

Memory holds one file's samples at a time (about `limit_bytes`; a longer document makes a
longer file, as both engines' own writers do).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from skillit.errors import SkillitError

MDS_LIMIT = 1 << 26  # streaming's default size_limit (64 MiB)
LITDATA_LIMIT = 1 << 26  # litdata's usual chunk_bytes ("64MB")
MDS_VALUE_CODES = {"uint16": 16, "uint32": 32}  # streaming's NDArray dtype codes
LITDATA_FORMATS = {"uint16": "no_header_tensor:20", "uint32": "no_header_numpy:6"}
LEAF_SPEC = '[1, {"type": null, "context": null, "children_spec": []}]'  # a pytree of one leaf


def pack(samples: list[bytes], config: bytes = b"") -> bytes:
    """One file: count, offsets, the config bytes (MDS only), the samples."""
    header = 4 + 4 * (len(samples) + 1) + len(config)
    offsets = np.cumsum([header] + [len(s) for s in samples], dtype=np.int64)
    if offsets[-1] >= 2**32:
        raise SkillitError(f"a sample file of {offsets[-1]} bytes exceeds the uint32 offsets")
    counts = np.array([len(samples)], dtype=np.uint32).tobytes()
    return counts + offsets.astype(np.uint32).tobytes() + config + b"".join(samples)


def grouped(samples: Iterable[bytes], limit_bytes: int) -> Iterator[list[bytes]]:
    """Consecutive samples in groups of about `limit_bytes` (a sample never split)."""
    group: list[bytes] = []
    size = 0
    for sample in samples:
        if group and size + len(sample) > limit_bytes:
            yield group
            group, size = [], 0
        group.append(sample)
        size += len(sample)
    if group:
        yield group


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # a kill leaves no partial file under the final name


def mds_sample(values: np.ndarray) -> bytes:
    """One `ndarray:<dtype>` sample of a single variable-size column: its size, then the array
    (a byte of ndim << 2 | shape dtype code, the length as that dtype, the values)."""
    length = len(values)
    code = next(i for i, bits in enumerate((8, 16, 32, 64)) if length < 1 << bits)
    shape_dtype = (np.uint8, np.uint16, np.uint32, np.uint64)[code]
    datum = bytes([(1 << 2) | code]) + np.array([length], shape_dtype).tobytes() + values.tobytes()
    return np.array([len(datum)], np.uint32).tobytes() + datum


def windows(documents: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """The documents' tokens, concatenated, in windows of `size` (the last one shorter)."""
    pending: list[np.ndarray] = []
    held = 0
    for doc in documents:
        pending.append(np.asarray(doc))
        held += len(doc)
        if held < size:
            continue
        stream = np.concatenate(pending)
        whole = held - held % size
        for start in range(0, whole, size):
            yield stream[start : start + size]
        pending, held = [stream[whole:]], held - whole
    if held:
        yield np.concatenate(pending)


def write_mds(
    documents: Iterable[np.ndarray],
    folder: Path,
    dtype: str,
    sample_tokens: int,
    limit_bytes: int = MDS_LIMIT,
) -> int:
    """`documents` as an MDS dataset in `folder` (index.json, shard.NNNNN.mds); returns the
    number of samples."""
    encoding = f"ndarray:{dtype}"
    config = {
        "column_encodings": [encoding],
        "column_names": ["tokens"],
        "column_sizes": [None],
        "compression": None,
        "format": "mds",
        "hashes": [],
        "size_limit": limit_bytes,
        "version": 2,
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    samples = (mds_sample(w.astype(dtype, copy=False)) for w in windows(documents, sample_tokens))
    shards = []
    for i, group in enumerate(grouped(samples, limit_bytes)):
        data = pack(group, config_bytes)
        name = f"shard.{i:05d}.mds"
        write_atomic(folder / name, data)
        raw = {"basename": name, "bytes": len(data), "hashes": {}}
        shards.append({**config, "raw_data": raw, "samples": len(group), "zip_data": None})
    write_atomic(folder / "index.json", json.dumps({"shards": shards, "version": 2}).encode())
    return sum(s["samples"] for s in shards)


def write_litdata(
    documents: Iterable[np.ndarray],
    folder: Path,
    dtype: str,
    limit_bytes: int = LITDATA_LIMIT,
) -> int:
    """`documents` as a litdata dataset in `folder` (index.json, chunk-0-N.bin), one item per
    document, for `TokensLoader`; returns the number of items."""
    itemsize = np.dtype(dtype).itemsize
    items = (np.asarray(d).astype(dtype, copy=False).tobytes() for d in documents)
    chunks = []
    for i, group in enumerate(grouped(items, limit_bytes)):
        data = pack(group)
        name = f"chunk-0-{i}.bin"
        write_atomic(folder / name, data)
        dim = sum(len(item) for item in group) // itemsize  # the chunk's tokens
        chunks.append(
            {"chunk_bytes": len(data), "chunk_size": len(group), "dim": dim, "filename": name}
        )
    config = {
        "chunk_bytes": limit_bytes,
        "chunk_size": None,
        "compression": None,
        "data_format": [LITDATA_FORMATS[dtype]],
        "data_spec": LEAF_SPEC,
        "encryption": None,
        "item_loader": "TokensLoader",
        "types": "tensor" if dtype == "uint16" else "numpy",
    }
    index = {"chunks": chunks, "config": config}
    write_atomic(folder / "index.json", json.dumps(index, sort_keys=True).encode())
    return sum(c["chunk_size"] for c in chunks)
