"""`skillit prepare` and the tokens source: shards and manifest, determinism, resume, imported
.bin files, windows read from memmaps, and the errors that name the file or the domain."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS_WORDS, prepare_corpus, run_history, write_word_docs

from skillit.cli import main
from skillit.corpus import prepare as prep
from skillit.corpus.shards import read_manifest
from skillit.errors import SkillitError
from skillit.sources.tokens import TokensSource, TokensSourceConfig


def write_inputs(root: Path, docs: int = 40) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    txt = root / "txt"
    write_word_docs(txt, docs, (20, 60), rng)
    jsonl = root / "web.jsonl"
    with jsonl.open("w") as fh:
        for i in range(docs):
            text = " ".join(rng.choice(CORPUS_WORDS[:6], size=int(rng.integers(30, 80))))
            fh.write(json.dumps({"text": text, "id": i}) + "\n")
    return {"prose": txt, "web": jsonl}


def prepare(out: Path, inputs: dict[str, Path], *extra: str) -> int:
    return prepare_corpus(out, inputs, "--docs-per-shard", "16", *extra)


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.bin"))}


def test_prepare_writes_shards_and_a_manifest_that_count_every_token(tmp_path, capsys):
    inputs = write_inputs(tmp_path)
    assert prepare(tmp_path / "out", inputs) == 0
    manifest = read_manifest(tmp_path / "out")
    assert list(manifest.domains) == ["prose", "web"] and manifest.dtype == "uint16"
    for name, entry in manifest.domains.items():
        assert entry.documents == 40 and entry.val_documents == 8  # indices 0, 5, ..., 35
        assert [s.file for s in entry.train] == [f"{name}/train_{c:05d}.bin" for c in range(3)]
        for shard in [*entry.train, *entry.val]:
            assert (tmp_path / "out" / shard.file).stat().st_size == 2 * shard.tokens
        ids = np.concatenate(
            [np.fromfile(tmp_path / "out" / s.file, dtype=np.uint16) for s in entry.train]
        )
        assert (ids == manifest.eos_id).sum() == 32  # one end-of-document per training document
    assert "train on it" in capsys.readouterr().out


def test_prepare_is_deterministic_whatever_the_number_of_workers(tmp_path):
    inputs = write_inputs(tmp_path)
    prepare(tmp_path / "one", inputs)
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "tokenizer.json").write_bytes(
        (tmp_path / "one" / "tokenizer.json").read_bytes()
    )
    prepare(tmp_path / "two", inputs, "--workers", "2")
    assert shard_bytes(tmp_path / "one") == shard_bytes(tmp_path / "two")


def test_an_interrupted_prepare_continues_and_only_tokenizes_what_is_left(tmp_path, monkeypatch):
    inputs = write_inputs(tmp_path)
    prepare(tmp_path / "whole", inputs)
    calls = []
    real = prep.encode_chunk

    def failing(path, texts, first, val_every, eos):
        calls.append(first)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed while tokenizing the second chunk
        return real(path, texts, first, val_every, eos)

    out = tmp_path / "cut"
    out.mkdir()
    (out / "tokenizer.json").write_bytes((tmp_path / "whole" / "tokenizer.json").read_bytes())
    monkeypatch.setattr(prep, "encode_chunk", failing)
    assert prepare(out, inputs) == 130
    assert not (out / "manifest.json").exists()
    calls.clear()
    monkeypatch.setattr(prep, "encode_chunk", lambda *a: (calls.append(a[2]), real(*a))[1])
    assert prepare(out, inputs) == 0
    assert calls == [16, 32, 0, 16, 32]  # prose chunk 0 was complete; web from the start
    assert shard_bytes(out) == shard_bytes(tmp_path / "whole")


def test_existing_bin_files_are_listed_as_they_are(tmp_path):
    inputs = write_inputs(tmp_path)
    prepare(tmp_path / "ref", inputs)
    nano = tmp_path / "nano"
    nano.mkdir()
    train = np.arange(5000, dtype=np.uint16) % 300
    train.tofile(nano / "train.bin")
    train[:700].tofile(nano / "val.bin")
    out = tmp_path / "bins"
    code = main(
        [
            "prepare",
            str(out),
            "--bin",
            f"arxiv={nano}",
            "--no-progress",
            "--tokenizer",
            str(tmp_path / "ref" / "tokenizer.json"),
        ]
    )
    assert code == 0
    entry = read_manifest(out).domains["arxiv"]
    assert entry.train[0].file == str((nano / "train.bin").resolve()) and entry.train_tokens == 5000
    source = TokensSource(TokensSourceConfig(path=str(out)), seq_len=64)
    window = source.validation_examples(0).input_ids[1]
    np.testing.assert_array_equal(window, train[64:128])


@pytest.fixture
def corpus(tmp_path):
    inputs = write_inputs(tmp_path)
    prepare(tmp_path / "out", inputs)
    return tmp_path / "out"


def test_windows_are_slices_of_the_domains_train_shards(corpus):
    source = TokensSource(TokensSourceConfig(path=str(corpus)), seq_len=32)
    manifest = read_manifest(corpus)
    ex = source.train_examples(1, 20, np.random.default_rng(3))
    assert ex.input_ids.shape == (20, 32) and (ex.skill == 1).all()
    assert ex.loss_mask[:, 1:].all() and not ex.loss_mask[:, 0].any()  # the loss on every token
    shards = [np.fromfile(corpus / s.file, dtype=np.uint16) for s in manifest.domains["web"].train]
    for row in ex.input_ids:
        assert any(
            any(np.array_equal(row, shard[o : o + 32]) for o in range(len(shard) - 31))
            for shard in shards
        )
    again = source.train_examples(1, 20, np.random.default_rng(3))
    np.testing.assert_array_equal(ex.input_ids, again.input_ids)
    tokens = [manifest.domains[d].train_tokens for d in ("prose", "web")]
    np.testing.assert_allclose(source.natural_proportions(), np.array(tokens) / sum(tokens))
    val = source.validation_examples(0)
    np.testing.assert_array_equal(val.input_ids, source.validation_examples(0).input_ids)


def reference_windows(source, skill: int, n: int, rng) -> np.ndarray:
    """The tokens source's stream as documented: a shard by rng.choice in proportion to its
    window starts, then a start by rng.integers, then the window read from the shard file."""
    shards = [
        np.fromfile(p, dtype=np.uint16) for p, t in source._train[skill] if t >= source.seq_len
    ]
    starts = np.array([len(x) - source.seq_len + 1 for x in shards])
    which = rng.choice(len(shards), size=n, p=starts / starts.sum())
    offsets = rng.integers(0, starts[which])
    return np.stack([shards[w][o : o + source.seq_len] for w, o in zip(which, offsets)])


@pytest.mark.parametrize("docs_per_shard,seq", [(16, 8), (16, 100), (100, 8)])
def test_batches_written_in_place_are_the_documented_stream(tmp_path, docs_per_shard, seq):
    from skillit.data import draw_global_batch

    prepare(tmp_path / "out", write_inputs(tmp_path), "--docs-per-shard", str(docs_per_shard))
    source = TokensSource(TokensSourceConfig(path=str(tmp_path / "out")), seq_len=seq)
    shards = {len([1 for _, t in s if t >= seq]) for s in source._train}
    assert shards == ({1} if docs_per_shard == 100 else {3})  # one shard per domain, or several
    for seed in range(4):
        labels = np.random.default_rng(seed).integers(0, 2, size=48)
        rng = np.random.default_rng(seed)
        batch = draw_global_batch(source, np.array([0, 1]), labels, rng, in_place=True)
        rng = np.random.default_rng(seed)
        for label in (0, 1):  # the data module asks for each skill's rows in label order
            rows = np.flatnonzero(labels == label)
            expected = reference_windows(source, label, len(rows), rng)
            np.testing.assert_array_equal(batch.input_ids[rows], expected)
        assert (batch.skill == labels).all()
        assert batch.loss_mask[:, 1:].all() and not batch.loss_mask[:, 0].any()
        one = source.train_examples(1, 5, np.random.default_rng(seed))
        np.testing.assert_array_equal(
            one.input_ids, reference_windows(source, 1, 5, np.random.default_rng(seed))
        )


def test_a_truncated_shard_is_refused_naming_the_file(corpus):
    shard = corpus / "web" / "train_00001.bin"
    shard.write_bytes(shard.read_bytes()[:-6])
    with pytest.raises(SkillitError, match=r"web/train_00001.bin is truncated or corrupt"):
        TokensSource(TokensSourceConfig(path=str(corpus)), seq_len=32)


def test_an_empty_domain_list_is_refused_not_read_as_every_domain(corpus):
    with pytest.raises(SkillitError, match="data.tokens.domains is empty"):
        TokensSource(TokensSourceConfig(path=str(corpus), domains=[]), seq_len=16)


def test_a_domain_shorter_than_one_window_is_refused_by_name(corpus):
    with pytest.raises(SkillitError, match=r"domain 'prose' is too small for a window of 4000"):
        TokensSource(TokensSourceConfig(path=str(corpus)), seq_len=4000)


def test_bad_prepare_inputs_are_clear_errors(tmp_path, capsys):
    (tmp_path / "bad.jsonl").write_text('{"body": "x"}\n')
    cases = [
        (["--domain", f"a={tmp_path / 'missing'}"], "does not exist"),
        (["--domain", "novalue"], "--domain takes NAME=PATH"),
        (["--domain", f"a={tmp_path / 'bad.jsonl'}"], "bad.jsonl:1: expected a JSON object"),
        ([], "nothing to prepare"),
        (["--domain", f"../escape={tmp_path / 'bad.jsonl'}"], "is not a valid name"),
        (["--domain", f"/abs={tmp_path / 'bad.jsonl'}"], "is not a valid name"),
        (["--domain", f"manifest.json={tmp_path / 'bad.jsonl'}"], "is reserved here"),
    ]
    for extra, message in cases:
        assert (
            main(["prepare", str(tmp_path / "o"), "--bpe-vocab", "300", "--no-progress", *extra])
            == 2
        )
        assert message in capsys.readouterr().err
    assert not (tmp_path / "escape").exists()  # nothing was written outside OUT


def test_the_demo_has_four_domains_from_python_alone_and_names_natinst_when_it_is_missing():
    from skillit.corpus.demo import demo_domains

    domains, skipped = demo_domains(None)
    assert list(domains) == ["python", "pydoc", "docstrings", "unicode"]
    assert list(skipped) == ["natinst"] and "--natinst-root" in skipped["natinst"]
    first = {name: next(iter(docs())) for name, (_, docs) in domains.items()}
    assert first["unicode"].startswith("U+0020 SPACE Zs WS -")
    assert all(len(doc) > 20 for doc in first.values())


def test_the_stdlib_set_has_nine_disjoint_families_of_package_sources(tmp_path, capsys):
    from skillit.corpus.demo import STDLIB_FAMILIES, family_modules, stdlib_family_domains

    domains, skipped = stdlib_family_domains()
    assert len(domains) + len(skipped) == len(STDLIB_FAMILIES) == 9
    assert len(domains) >= 8  # every Python since 3.11 has at least eight of them
    files = {name: set(family_modules(STDLIB_FAMILIES[name])) for name in domains}
    assert sum(map(len, files.values())) == len(set().union(*files.values()))  # disjoint
    first = next(iter(domains["testing"][1]()))
    assert "class " in first or "def " in first  # source code, not docstrings
    assert main(["prepare", str(tmp_path / "c"), "--demo-set", "stdlib"]) == 2
    assert "--demo-set stdlib chooses what --demo builds" in capsys.readouterr().err


@pytest.mark.slow  # prepares the built-in demo corpus and trains a few steps on it
def test_the_demo_corpus_prepares_and_trains(tmp_path, monkeypatch, capsys):
    from skillit.commands import prepare as prepare_command
    from skillit.config import load_config
    from skillit.training import train

    # from a folder outside the checkout, on a machine without Natural Instructions
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(prepare_command, "_natinst_root", lambda arg: None)
    out = tmp_path / "demo"
    assert (
        main(
            [
                "prepare",
                str(out),
                "--demo",
                "--bpe-vocab",
                "512",
                "--bpe-sample-docs",
                "40",
                "--no-progress",
            ]
        )
        == 0
    )
    domains = read_manifest(out).domains
    assert set(domains) == {"python", "pydoc", "docstrings", "unicode"}
    assert "demo domain 'natinst' not built: no Natural Instructions folder" in (
        capsys.readouterr().err
    )
    from skillit.utils.shipped import resolve_config

    cfg = load_config(
        [resolve_config("domains_cpu")],
        [
            f"data.tokens.path={out}",
            f"run_dir={tmp_path / 'run'}",
            "trainer.max_steps=8",
            "mixing.rounds=2",
            "trainer.progress_bar=false",
            "data.num_workers=2",
        ],
    )
    train(cfg)
    record = run_history(tmp_path / "run")[-1]
    assert set(record["eval_loss"]) == set(domains)
    assert sum(record["delivered_tokens"].values()) == 4 * cfg.data.global_batch_size * 128
    # a corpus's final_eval.json: loss and perplexity per domain, no whole-window "accuracy"
    final = json.loads((tmp_path / "run" / "final_eval.json").read_text())
    assert "eval_acc" not in final
    loss = final["eval_loss"]
    assert final["eval_ppl"] == {d: pytest.approx(math.exp(v)) for d, v in loss.items()}
    assert final["ppl_of_mean_loss"] == pytest.approx(math.exp(sum(loss.values()) / len(loss)))

    # online Skill-It in one command, its graph learned in the run, in each corpus setting
    for experiment in ("domains_cpu", "domains_cpu_ft", "domains_cpu_ood"):
        run = tmp_path / f"skillit-{experiment}"
        overrides = [
            f"data.tokens.path={out}",
            f"run_dir={run}",
            "mixing.strategy=skillit",
            "trainer.max_steps=8",
            "mixing.rounds=2",
            "mixing.graph.learn_steps=2",
            "model.n_layer=1",
            "model.d_model=32",
            "model.max_seq_len=32",
            "data.tokens.val_windows=4",
            "mixing.plots=false",
            "trainer.progress_bar=false",
        ]
        assert main(["train", experiment, *overrides]) == 0, experiment
        final = json.loads((run / "final_eval.json").read_text())
        trained = load_config([run / "config.yaml"]).skills.train or list(domains)
        assert final["graph_learning_steps"] == 2 * len(trained)  # one linear probe a domain
        assert "skillit: warning" not in capsys.readouterr().err  # an online eta, no warning


def test_a_parquet_domain_gives_the_same_shards_as_the_same_text_in_jsonl(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    inputs = write_inputs(tmp_path)
    texts = [json.loads(line)["text"] for line in inputs["web"].read_text().splitlines()]
    pq.write_table(pa.table({"text": texts}), tmp_path / "web.parquet")
    prepare(tmp_path / "jsonl", {"web": inputs["web"]})
    (tmp_path / "pq").mkdir()
    (tmp_path / "pq" / "tokenizer.json").write_bytes(
        (tmp_path / "jsonl" / "tokenizer.json").read_bytes()
    )
    prepare(tmp_path / "pq", {"web": tmp_path / "web.parquet"})
    assert shard_bytes(tmp_path / "pq") == shard_bytes(tmp_path / "jsonl")


def test_a_rerun_with_other_settings_is_refused_naming_them_and_fresh_starts_again(
    tmp_path, capsys
):
    inputs = write_inputs(tmp_path)
    out = tmp_path / "out"
    assert prepare(out, inputs) == 0
    before = shard_bytes(out)
    capsys.readouterr()
    assert prepare(out, inputs, "--val-every", "7") == 2  # the later flag wins over the helper's
    err = capsys.readouterr().err
    assert "--val-every (5 -> 7)" in err and "--fresh" in err
    assert shard_bytes(out) == before  # nothing was touched
    assert prepare(out, inputs) == 0 and shard_bytes(out) == before  # same settings: continues
    (out / "notes.txt").write_text("mine")
    assert prepare(out, {"web": inputs["web"]}, "--val-every", "7", "--fresh") == 0
    assert not (out / "prose").exists()  # the earlier prepare's domain, removed by --fresh
    assert read_manifest(out).domains["web"].val_documents == 6  # indices 0, 7, ..., 35
    assert (out / "notes.txt").read_text() == "mine"  # not the earlier prepare's: kept


def test_a_second_prepare_into_the_same_folder_is_refused_while_one_runs(tmp_path, capsys):
    import subprocess
    import sys

    from skillit.run.directory import _start_time

    inputs = write_inputs(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / "prepare.lock").write_text(f"{other.pid} {_start_time(other.pid)}\n")
        assert prepare(out, inputs) == 2
    finally:
        other.kill()
        other.wait()
    assert "being written by another skillit process" in capsys.readouterr().err
    assert not (out / "manifest.json").exists()


def test_fresh_never_deletes_a_folder_that_holds_an_input(tmp_path, capsys):
    inputs = write_inputs(tmp_path / "out")  # the text input lives in OUT/txt
    assert prepare(tmp_path / "out", {"txt": inputs["prose"]}, "--fresh") == 2  # domain "txt"
    assert "holds the input" in capsys.readouterr().err
    assert len(list(inputs["prose"].glob("*.txt"))) == 40  # the user's documents are all there
