"""Bad inputs to `skillit prepare`, and to what reads its corpus: each a one-line error that
names the file or the domain and what to do, never a traceback, and nothing left behind that
breaks the next run."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS_WORDS, prepare_corpus, write_word_docs
from tokenizers import Regex, pre_tokenizers

from skillit.cli import main
from skillit.corpus import prepare as prep
from skillit.corpus.shards import read_manifest
from skillit.errors import SkillitError
from skillit.export.engines.base import DomainShards, EngineMixture
from skillit.export.engines.megatron import write_megatron
from skillit.sources.jsonl import JsonlSource, JsonlSourceConfig
from skillit.sources.tokens import TokensSource, TokensSourceConfig
from skillit.utils.tokenization import save_tokenizer, train_byte_bpe


def write_docs(root: Path, docs: int = 30) -> Path:
    write_word_docs(root / "docs", docs, (10, 30), np.random.default_rng(0))
    return root / "docs"


def prepare(out: Path, docs: Path, *extra: str) -> int:
    return prepare_corpus(out, {"prose": docs}, "--docs-per-shard", "10", *extra)


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.bin"))}


def error_of(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def prepare_fails(capsys, out: Path, docs: Path, *extra: str) -> str:
    assert prepare(out, docs, *extra) == 2
    return error_of(capsys)


# -- a rerun over what an earlier prepare (or someone else) left in OUT ---------------------------
def test_a_stray_file_named_like_a_chunk_record_is_refused_naming_it(tmp_path, capsys):
    docs = write_docs(tmp_path)
    assert prepare(tmp_path / "out", docs) == 0
    stray = tmp_path / "out" / "prose" / "chunk_notes.json"
    stray.write_text("my notes\n")
    err = prepare_fails(capsys, tmp_path / "out", docs)
    assert f"{stray} is not a chunk record" in err and "move it out" in err
    assert stray.read_text() == "my notes\n"  # never deleted
    stray.unlink()
    assert prepare(tmp_path / "out", docs) == 0


@pytest.mark.parametrize("content", ["", "[1]\n", '{"fingerprint": "x"}\n', "\xff"])
def test_an_empty_or_edited_chunk_record_is_refused_and_deleting_it_redoes_the_chunk(
    tmp_path, capsys, content
):
    docs = write_docs(tmp_path)
    assert prepare(tmp_path / "clean", docs) == 0
    assert prepare(tmp_path / "out", docs) == 0
    record = tmp_path / "out" / "prose" / "chunk_00001.json"
    record.write_text(content)
    err = prepare_fails(capsys, tmp_path / "out", docs)
    assert f"{record} is not a chunk record" in err and f"delete {record}" in err
    record.unlink()
    assert prepare(tmp_path / "out", docs) == 0
    assert shard_bytes(tmp_path / "out") == shard_bytes(tmp_path / "clean")


@pytest.mark.parametrize("damage", ["empty", "missing", "longer"])
def test_a_shard_changed_after_prepare_is_refused_on_a_rerun_naming_it(tmp_path, capsys, damage):
    docs = write_docs(tmp_path)
    assert prepare(tmp_path / "clean", docs) == 0
    assert prepare(tmp_path / "out", docs) == 0
    shard = tmp_path / "out" / "prose" / "train_00001.bin"
    if damage == "missing":
        shard.unlink()
    else:
        shard.write_bytes(b"" if damage == "empty" else shard.read_bytes() + b"\0\0")
    err = prepare_fails(capsys, tmp_path / "out", docs)
    record = tmp_path / "out" / "prose" / "chunk_00001.json"
    assert f"{shard} " in err and "uint16 tokens" in err and f"delete {record}" in err
    record.unlink()
    assert prepare(tmp_path / "out", docs) == 0
    assert shard_bytes(tmp_path / "out") == shard_bytes(tmp_path / "clean")


# -- a domain's files ----------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".txt", ".jsonl"])
def test_a_dangling_link_among_a_domains_files_is_refused_naming_it(tmp_path, capsys, suffix):
    docs = write_docs(tmp_path)
    if suffix == ".jsonl":
        for doc in docs.glob("*.txt"):
            doc.with_suffix(".jsonl").write_text(json.dumps({"text": doc.read_text()}) + "\n")
            doc.unlink()
    link = docs / f"gone{suffix}"
    link.symlink_to(tmp_path / f"moved{suffix}")
    err = prepare_fails(capsys, tmp_path / "out", docs)
    assert f"{link} is a symbolic link to {tmp_path / f'moved{suffix}'}" in err
    assert "does not exist" in err


def test_a_folder_named_like_a_document_is_refused_naming_it(tmp_path, capsys):
    docs = write_docs(tmp_path)
    (docs / "chapter.txt").mkdir()
    (docs / "chapter.txt" / "part.txt").write_text("alpha beta")
    err = prepare_fails(capsys, tmp_path / "out", docs)
    assert f"{docs / 'chapter.txt'} is a folder named like a .txt document; rename it" in err


# -- a full disk ---------------------------------------------------------------------------------
def full_disk_after(calls: int, real):
    """`real`, failing with ENOSPC from its `calls`-th call on."""
    seen = []

    def writer(*args, **kwargs):
        seen.append(1)
        if len(seen) >= calls:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    return writer


@pytest.mark.parametrize("writer", ["_append_ids", "write_inside"])
def test_a_full_disk_is_an_error_and_the_next_run_completes_the_corpus(
    tmp_path, capsys, monkeypatch, writer
):
    docs = write_docs(tmp_path)
    assert prepare(tmp_path / "clean", docs) == 0
    monkeypatch.setattr(prep, writer, full_disk_after(3, getattr(prep, writer)))
    err = prepare_fails(capsys, tmp_path / "out", docs)
    assert "no space left on the device" in err and "rerun the same command" in err
    assert not list((tmp_path / "out").rglob("*.tmp*"))  # nothing half-written stays
    monkeypatch.undo()
    assert prepare(tmp_path / "out", docs) == 0
    assert shard_bytes(tmp_path / "out") == shard_bytes(tmp_path / "clean")


def test_a_link_planted_at_a_shards_temporary_name_is_unlinked_not_written_through(
    tmp_path, capsys
):
    docs = write_docs(tmp_path)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"precious")
    partial = tmp_path / "out" / "prose" / "train_00000.bin.tmp"
    partial.parent.mkdir(parents=True)
    partial.symlink_to(outside)
    assert prepare(tmp_path / "out", docs) == 0
    assert outside.read_bytes() == b"precious"
    assert f"{partial} was a symbolic link" in capsys.readouterr().err
    assert prepare(tmp_path / "clean", docs) == 0
    assert shard_bytes(tmp_path / "out") == shard_bytes(tmp_path / "clean")


# -- tokenizers ----------------------------------------------------------------------------------
def tokenizer_with_split(path: Path, pattern: str) -> Path:
    """A byte BPE whose pre-tokenizer first splits on `pattern` (written as it is)."""
    tok = train_byte_bpe([" ".join(CORPUS_WORDS)] * 20, vocab_size=300)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"\s+"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    save_tokenizer(tok, path)
    data = json.loads(path.read_text())
    data["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {"Regex": pattern}
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("pattern", ["(", r"\p{NoSuchProperty}", "(a+)+b"])
def test_a_tokenizer_whose_regex_fails_is_named_before_anything_is_written(
    tmp_path, capsys, pattern
):
    docs = write_docs(tmp_path)
    tok = tokenizer_with_split(tmp_path / "tokenizer.json", pattern)
    out = tmp_path / "out"
    args = ["prepare", str(out), "--domain", f"prose={docs}", "--tokenizer", str(tok)]
    assert main([*args, "--no-progress"]) == 2
    assert f"tokenizer file {tok} " in error_of(capsys)
    assert not (out / "prepare.json").exists()  # a rerun with a fixed tokenizer is not refused


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_tokenizer_whose_regex_gives_up_on_a_document_is_named(tmp_path, capsys, workers):
    docs = write_docs(tmp_path)
    (docs / "long.txt").write_text("x" * 3000)  # what the pattern backtracks on without bound
    tok = tokenizer_with_split(tmp_path / "tokenizer.json", "(x+)+y")
    out = tmp_path / "out"
    args = ["prepare", str(out), "--domain", f"prose={docs}", "--tokenizer", str(tok)]
    assert main([*args, "--no-progress", "--workers", workers]) == 2
    assert f"tokenizer file {out / 'tokenizer.json'} failed on text" in error_of(capsys)
    assert not list(out.rglob("*.tmp*"))


def test_a_jsonl_source_tokenizer_whose_regex_gives_up_is_named(tmp_path):
    tok = tokenizer_with_split(tmp_path / "tokenizer.json", "(x+)+y")
    data = tmp_path / "data.jsonl"
    lines = [{"skill": s, "prompt": "x" * 3000, "answer": "alpha"} for s in "ab" * 10]
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(SkillitError, match=rf"tokenizer file {tok} \(data.jsonl.tokenizer\)"):
        JsonlSource(JsonlSourceConfig(path=str(data), tokenizer=str(tok), val_size=2))


def test_a_tokenizer_with_bpe_vocab_is_refused_not_silently_preferred(tmp_path, capsys):
    docs = write_docs(tmp_path)
    assert prepare(tmp_path / "ref", docs) == 0
    tok = str(tmp_path / "ref" / "tokenizer.json")
    args = ["prepare", str(tmp_path / "out"), "--domain", f"prose={docs}", "--tokenizer", tok]
    assert main([*args, "--bpe-vocab", "300", "--no-progress"]) == 2
    err = error_of(capsys)
    assert "give --tokenizer" in err and "--bpe-vocab" in err and "not both" in err
    assert not (tmp_path / "out" / "prepare.json").exists()


def test_an_end_of_document_token_that_is_the_padding_token_is_refused(tmp_path, capsys):
    docs = write_docs(tmp_path)
    err = prepare_fails(capsys, tmp_path / "bpe", docs, "--eos-token", "<pad>")
    assert "end-of-document token '<pad>'" in err and "padding token '<pad>'" in err
    assert prepare(tmp_path / "ref", docs) == 0
    tok = str(tmp_path / "ref" / "tokenizer.json")
    args = ["prepare", str(tmp_path / "out"), "--domain", f"prose={docs}", "--tokenizer", tok]
    assert main([*args, "--eos-token", "<pad>", "--no-progress"]) == 2
    assert "padding token '<pad>' (id 0)" in error_of(capsys)


# -- token ids beyond the vocabulary -------------------------------------------------------------
def nanogpt_bins(folder: Path, top: int) -> Path:
    """train.bin / val.bin of uint16 ids below 300, but for one id `top` in val.bin."""
    folder.mkdir()
    ids = (np.arange(3000) % 300).astype(np.uint16)
    ids.tofile(folder / "train.bin")
    ids[7] = top
    ids[:700].tofile(folder / "val.bin")
    return folder


def prepare_bins(out: Path, nano: Path, tok: Path) -> int:
    args = ["prepare", str(out), "--bin", f"arxiv={nano}", "--tokenizer", str(tok)]
    return main([*args, "--no-progress"])


@pytest.fixture
def vocab_300(tmp_path) -> Path:
    assert prepare(tmp_path / "ref", write_docs(tmp_path)) == 0
    return tmp_path / "ref" / "tokenizer.json"


def test_bin_ids_beyond_the_tokenizers_vocabulary_are_refused(tmp_path, capsys, vocab_300):
    nano = nanogpt_bins(tmp_path / "nano", top=50256)  # GPT-2's <|endoftext|>
    assert prepare_bins(tmp_path / "out", nano, vocab_300) == 2
    err = error_of(capsys)
    assert f"{(nano / 'val.bin').resolve()} holds token id 50256 (token 7)" in err
    assert "vocabulary of 300 ids" in err and "--bin arxiv" in err


def test_bin_ids_of_uint32_read_as_uint16_are_refused(tmp_path, capsys, vocab_300):
    nano = tmp_path / "nano"
    nano.mkdir()
    for split in ("train", "val"):
        (np.arange(3000) % 300).astype(np.uint32).tofile(nano / f"{split}.bin")
    assert prepare_bins(tmp_path / "out", nano, vocab_300) == 2
    assert "every second of which is 0: the halves of uint32 ids" in error_of(capsys)


def test_a_corpus_with_ids_beyond_the_vocabulary_is_refused_as_windows_are_read(
    tmp_path, vocab_300
):
    nano = nanogpt_bins(tmp_path / "nano", top=299)
    assert prepare_bins(tmp_path / "out", nano, vocab_300) == 0
    for split in ("train", "val"):  # the files change after prepare listed them
        ids = np.fromfile(nano / f"{split}.bin", dtype=np.uint16)
        ids[ids == 299] = 300
        ids.tofile(nano / f"{split}.bin")
    source = TokensSource(TokensSourceConfig(path=str(tmp_path / "out")), seq_len=16)
    named = r"domain 'arxiv': its shard .*{}.bin holds token id 300, beyond the vocabulary of 300"
    with pytest.raises(SkillitError, match=named.format("train")):
        source.train_examples(0, 64, np.random.default_rng(0))
    with pytest.raises(SkillitError, match=named.format("val")):
        source.validation_examples(0)


# -- an edited manifest --------------------------------------------------------------------------
def edit_manifest(out: Path, edit) -> None:
    path = out / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_an_edited_manifest_is_named_by_the_tokens_source_and_rewritten_by_a_rerun(tmp_path):
    docs = write_docs(tmp_path)
    out = tmp_path / "out"
    assert prepare(out, docs) == 0
    tokens = read_manifest(out).domains["prose"].train[1].tokens

    def fewer_tokens(data):
        data["domains"]["prose"]["train"][1]["tokens"] -= 5

    edit_manifest(out, fewer_tokens)
    shard = out / "prose" / "train_00001.bin"
    with pytest.raises(
        SkillitError, match=rf"domain 'prose': token shard {shard} is truncated or corrupt"
    ):
        TokensSource(TokensSourceConfig(path=str(out)), seq_len=8)
    assert prepare(out, docs) == 0
    assert read_manifest(out).domains["prose"].train[1].tokens == tokens
    TokensSource(TokensSourceConfig(path=str(out)), seq_len=8)


def test_an_edited_vocabulary_size_is_refused_naming_the_manifest(tmp_path):
    out = tmp_path / "out"
    assert prepare(out, write_docs(tmp_path)) == 0
    edit_manifest(out, lambda data: data.update(vocab_size=200))
    with pytest.raises(SkillitError, match=r"manifest.json: 'vocab_size' is 200 but .* 300"):
        TokensSource(TokensSourceConfig(path=str(out)), seq_len=8)


# -- the Megatron export -------------------------------------------------------------------------
def megatron_mix(data: Path) -> EngineMixture:
    shards = {
        name: DomainShards(name, data / name, ((data / name / "train_00000.bin", 100),))
        for name in ("prose", "web")
    }
    return EngineMixture(
        ["prose", "web"], [0.25, 0.75], [(1, [0.25, 0.75])], shards, 0, 0, "uint16", valid=shards
    )


def test_megatron_data_paths_are_weight_and_prefix_pairs_split_on_whitespace(tmp_path):
    data = tmp_path / "megatron-data"
    write_megatron(megatron_mix(data), tmp_path)
    fields = (tmp_path / "megatron_data_path.txt").read_text().split()
    assert fields == [
        "0.25",
        str(data / "prose" / "train_00000"),
        "0.75",
        str(data / "web" / "train_00000"),
    ]
    assert json.loads((tmp_path / "megatron_data_args.json").read_text())["train"] == fields


def test_a_megatron_data_folder_whose_path_holds_whitespace_is_refused(tmp_path):
    data = tmp_path / "megatron data"  # Megatron splits --data-path and its args file on it
    with pytest.raises(SkillitError, match=r"'.*megatron data/prose/train_00000' holds whitespace"):
        write_megatron(megatron_mix(data), tmp_path)
    assert not (tmp_path / "megatron_data_path.txt").exists()
