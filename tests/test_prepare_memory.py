"""`skillit prepare` of long documents: read and tokenized in pieces with the tokens of the whole
document, in memory bounded by the piece size, and the split of a domain of one document."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from conftest import prepare_corpus

from skillit.corpus import prepare as prep
from skillit.corpus.shards import read_manifest
from skillit.utils.tokenization import load_tokenizer, save_tokenizer, train_byte_bpe

SEPARATORS = [" ", " ", " ", "  ", "   ", "\n", "\n\n", "\t", " \n", ", ", ". ", " 42 ", "\u00a0"]
WORDS = ["stone", "river", "naïve", "über", "x1", "'s", "don't", "—", "<eos>", "fern"]


def mixed_text(n_words: int, seed: int = 0) -> str:
    """Words joined by runs of spaces, newlines, tabs, punctuation, digits and a no-break space."""
    rng = np.random.default_rng(seed)
    words, seps = rng.choice(WORDS, n_words), rng.choice(SEPARATORS, n_words)
    return "".join(w + s for w, s in zip(words, seps))


@pytest.fixture(scope="module")
def bpe(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bpe") / "tokenizer.json"
    return save_tokenizer(train_byte_bpe([mixed_text(20_000, seed=1)], vocab_size=400), path)


def test_a_long_line_in_pieces_gives_the_tokens_of_the_whole_line(bpe):
    tokenizer = load_tokenizer(bpe)
    text = mixed_text(40_000)
    whole = tokenizer.encode(text, add_special_tokens=False).ids
    cut = list(prep.pieces([text], 300))
    assert "".join(cut) == text and len(cut) > 500 and max(map(len, cut)) <= 300
    in_pieces = [i for e in tokenizer.encode_batch(cut, add_special_tokens=False) for i in e.ids]
    assert in_pieces == whole
    # the same pieces however the text arrives (a file is read in blocks)
    rng = np.random.default_rng(2)
    bounds = np.sort(rng.integers(0, len(text), size=200))
    blocks = [text[a:b] for a, b in zip([0, *bounds], [*bounds, len(text)])]
    assert list(prep.pieces(blocks, 300)) == cut
    # as prepare encodes them: one document, one end-of-document token
    ends = [False] * (len(cut) - 1) + [True]
    train, val, held = prep.encode_chunk(str(bpe), cut, 1, 20, 7, ends)
    assert train.tolist() == [*whole, 7] and val.size == 0 and held == 0
    # a BPE trained on the pieces counts the same words: the same tokenizer
    assert train_byte_bpe(cut, 400).to_str() == train_byte_bpe([text], 400).to_str()


def test_a_piece_without_a_word_start_is_cut_at_the_piece_size():
    assert [len(p) for p in prep.pieces(["a" * 2500], 1000)] == [1000, 1000, 500]
    assert list(prep.pieces([], 1000)) == [""]  # an empty document is still one (its eos)


def test_preparing_a_long_line_holds_a_few_pieces_not_the_document(tmp_path, monkeypatch, bpe):
    monkeypatch.setattr(prep, "PIECE_CHARS", 1 << 14)
    monkeypatch.setattr(prep, "BATCH_CHARS", 1 << 16)
    folder = tmp_path / "text"
    folder.mkdir()
    rng = np.random.default_rng(0)
    (folder / "line.txt").write_text(" ".join(rng.choice(WORDS[:5], 1_200_000)))  # about 7 MB
    size = (folder / "line.txt").stat().st_size
    inp = prep.DomainInput("line", folder, "txt")
    opts = prep.PrepareOptions(progress=False)
    prep._tokenizer(str(bpe))  # loaded before measuring
    tracemalloc.start()
    try:
        entry = prep.prepare_domain(
            tmp_path / "out", inp, prep.iter_documents(inp), bpe, "uint16", 2, opts
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert entry.documents == 1 and entry.train_tokens > 1_000_000
    # encoded BATCH_CHARS = 4 pieces at a time: a few dozen bytes a character in Python objects
    assert size > 400 * prep.PIECE_CHARS and peak < 64 * prep.PIECE_CHARS, peak


def test_a_domain_of_one_document_keeps_a_share_of_its_tokens_for_validation(tmp_path, capsys, bpe):
    text = mixed_text(30_000)
    (tmp_path / "one.jsonl").write_text(json.dumps({"text": text}) + "\n")
    out = tmp_path / "out"
    assert prepare_corpus(out, {"one": tmp_path / "one.jsonl"}, "--tokenizer", str(bpe)) == 0
    entry = read_manifest(out).domains["one"]
    train = np.fromfile(out / entry.train[0].file, dtype=np.uint16)
    val = np.fromfile(out / entry.val[0].file, dtype=np.uint16)
    whole = load_tokenizer(bpe).encode(text, add_special_tokens=False).ids
    eos = read_manifest(out).eos_id
    assert len(val) == len(whole) // 5 > 0  # prepare_corpus: --val-every 5
    assert [*val, *train] == [*whole, eos]  # split by tokens, the document's eos kept in train
    err = capsys.readouterr().err
    total = len(whole) + 1
    assert f"domain 'one': one document: its first {len(val):,} of {total:,} tokens" in err
    assert "(1/5, --val-every)" in err


def test_a_domain_left_without_training_tokens_is_refused_with_the_numbers(
    tmp_path, capsys, monkeypatch, bpe
):
    (tmp_path / "one.jsonl").write_text(json.dumps({"text": "a few words"}) + "\n")
    (tmp_path / "none.jsonl").write_text("\n")
    # shards of a lone document held out whole (as an earlier prepare wrote them)
    monkeypatch.setattr(prep, "_one_document", lambda docs: (iter(docs), False))
    args = ("--tokenizer", str(bpe))
    assert prepare_corpus(tmp_path / "a", {"one": tmp_path / "one.jsonl"}, *args) == 2
    err = capsys.readouterr().err
    assert "domain 'one': 1 document, 1 held out whole for validation (--val-every 5" in err
    tokens = len(load_tokenizer(bpe).encode("a few words", add_special_tokens=False).ids) + 1
    assert f": 0 training and {tokens} validation tokens; nothing to train on" in err
    assert "Prepare it again with --fresh" in err
    assert not (tmp_path / "a" / "manifest.json").exists()
    assert prepare_corpus(tmp_path / "b", {"none": tmp_path / "none.jsonl"}, *args) == 2
    assert "domain 'none': no documents in" in capsys.readouterr().err


def test_more_held_out_than_trained_on_is_reported_with_the_numbers(tmp_path, capsys, bpe):
    folder = tmp_path / "text"
    folder.mkdir()
    (folder / "a.txt").write_text("long " * 300)  # document 0: held out
    (folder / "b.txt").write_text("short")
    assert prepare_corpus(tmp_path / "out", {"lop": folder}, "--tokenizer", str(bpe)) == 0
    err = capsys.readouterr().err
    assert "domain 'lop': 2 documents, 1 held out whole for validation" in err
    assert "fewer to train on than to validate" in err


def test_the_bpe_sample_is_bounded_by_bytes_per_domain(monkeypatch):
    monkeypatch.setattr(prep, "PIECE_CHARS", 1000)
    long_domain = iter([mixed_text(50_000), "never read"])
    short_domain = ["every word of it"]
    sample = list(prep.bpe_sample([long_domain, short_domain], max_docs=10, max_bytes=20_000))
    assert sample[-1] == "every word of it"  # the next domain still has its share
    taken = sum(len(p.encode()) for p in sample[:-1])
    assert 20_000 <= taken < 20_000 + 4 * 1000 and max(map(len, sample)) <= 1000
    assert next(long_domain) == "never read"  # the long domain's next document was not read
