"""`skillit corpus export --format megatron` read back by Megatron's own code: every document's
tokens as skillit has them, and the blend of a run's mixture export realised by Megatron's
BlendedMegatronDatasetBuilder in the exported proportions."""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import prepare_corpus, streaming_base, write_word_docs

from skillit.cli import main
from skillit.corpus.engine_data import document_ends
from skillit.corpus.sample_files import LITDATA_LIMIT, write_litdata
from skillit.corpus.shards import open_shard, read_manifest, shard_path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine-data")
    rng = np.random.default_rng(0)
    for name, docs, words in (("prose", 60, (60, 120)), ("web", 30, (200, 300))):
        write_word_docs(root / name, docs, words, rng)
    out = root / "corpus"
    assert (
        prepare_corpus(out, {"prose": root / "prose", "web": root / "web"}, "--docs-per-shard", "8")
        == 0
    )
    return out


@pytest.fixture(scope="module")
def manual_run(corpus, tmp_path_factory):
    """A run of the fixed mixture prose 0.7, web 0.3 on the corpus."""
    run = tmp_path_factory.mktemp("manual") / "run"
    args = [
        "train",
        "domains_cpu",
        f"data.tokens.path={corpus}",
        "mixing.strategy=manual",
        "mixing.weights=[0.7,0.3]",
        "trainer.max_steps=4",
        "mixing.rounds=1",
        "model.n_layer=1",
        "model.d_model=16",
        "model.max_seq_len=16",
        "data.tokens.val_windows=2",
        "trainer.threads=1",
        "trainer.progress_bar=false",
        "mixing.plots=false",
        f"run_dir={run}",
    ]
    assert main(args) == 0
    return run


def skillit_documents(corpus: Path, domain: str, split: str) -> list[np.ndarray]:
    """Each document of a domain's split as skillit's shards hold it (ending with its eos)."""
    manifest = read_manifest(corpus)
    docs = []
    for shard in getattr(manifest.domains[domain], split):
        tokens = np.asarray(open_shard(shard_path(corpus, shard), manifest.dtype))
        starts = np.concatenate([[0], document_ends(tokens, manifest.eos_id)[:-1]])
        docs += [tokens[a:b] for a, b in zip(starts, document_ends(tokens, manifest.eos_id))]
    return docs


def test_document_ends_follow_each_end_of_document_token():
    tokens = np.array([5, 6, 2, 7, 2, 8, 9])
    np.testing.assert_array_equal(document_ends(tokens, 2), [3, 5, 7])  # the tail is a document
    np.testing.assert_array_equal(document_ends(np.array([5, 2]), 2), [2])
    assert len(document_ends(np.array([], dtype=np.uint16), 2)) == 0


def test_megatron_reads_every_document_back_as_skillit_has_it(corpus, tmp_path):
    indexed = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    out = tmp_path / "megatron"
    assert main(["corpus", "export", str(corpus), str(out), "--format", "megatron"]) == 0
    record = json.loads((out / "engine_data.json").read_text())
    manifest = read_manifest(corpus)
    for domain, entry in manifest.domains.items():
        train_documents = entry.documents - entry.val_documents  # `documents` counts both
        for split, documents in (("train", train_documents), ("val", entry.val_documents)):
            expected = skillit_documents(corpus, domain, split)
            assert len(expected) == documents  # each document ends with its eos
            read = []
            for shard in record["domains"][domain][split]:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    dataset = indexed.IndexedDataset(str(Path(shard["file"]).with_suffix("")))
                # copies: Megatron closes its memory map when the dataset goes away
                read += [np.array(dataset[i]) for i in range(len(dataset))]
            assert len(read) == len(expected)
            for ours, theirs in zip(expected, read):
                np.testing.assert_array_equal(ours, theirs)
                assert theirs[-1] == manifest.eos_id


def test_megatron_realises_the_blend_of_a_runs_mixture_export(corpus, manual_run, tmp_path):
    pytest.importorskip("megatron.core")
    from megatron.core.datasets.blended_megatron_dataset_builder import (
        BlendedMegatronDatasetBuilder,
    )
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig
    from megatron.core.datasets.utils import get_blend_from_list

    run = manual_run
    data, out = tmp_path / "megatron", tmp_path / "out"
    assert main(["corpus", "export", str(corpus), str(data), "--format", "megatron"]) == 0
    assert (
        main(
            [
                "mixture",
                "export",
                str(run),
                "--format",
                "megatron",
                "--data",
                str(data),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    fields = (out / "megatron_data_path.txt").read_text().split()

    class Tokenizer:  # what GPTDataset asks of a tokenizer
        eod, pad, vocab_size = read_manifest(corpus).eos_id, 0, read_manifest(corpus).vocab_size
        unique_identifiers = {"class": "Tokenizer"}

    config = GPTDatasetConfig(
        random_seed=1234,
        sequence_length=16,
        blend=get_blend_from_list(fields),
        split="1,0,0",
        tokenizer=Tokenizer(),
        reset_position_ids=False,
        reset_attention_mask=False,
        eod_mask_loss=False,
        path_to_cache=None,
        mmap_bin_files=True,
    )
    samples = 4000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, _, _ = BlendedMegatronDatasetBuilder(
            GPTDataset, [samples, 0, 0], lambda: True, config
        ).build()
    weights = np.array(list(map(float, fields[0::2])))
    realised = np.bincount(train.dataset_index[:samples], minlength=len(weights)) / samples
    np.testing.assert_allclose(realised, weights, atol=0.005)  # per shard, over 4,000 samples
    per_domain = {"prose": 0.0, "web": 0.0}
    for weight, prefix in zip(weights, fields[1::2]):
        per_domain[Path(prefix).parent.name] += weight
    assert per_domain == pytest.approx({"prose": 0.7, "web": 0.3})


def test_the_engine_data_goes_into_a_folder_of_its_own(corpus, capsys):
    assert (
        main(["corpus", "export", str(corpus), str(corpus / "megatron"), "--format", "megatron"])
        == 2
    )
    assert "must be a folder of its own" in capsys.readouterr().err
    assert not (corpus / "megatron").exists()


def skillit_stream(corpus: Path, domain: str, split: str) -> np.ndarray:
    return np.concatenate(skillit_documents(corpus, domain, split))


def test_streaming_reads_every_token_of_each_split_in_order(corpus, tmp_path):
    base = streaming_base()
    out = tmp_path / "mds"
    args = ["corpus", "export", str(corpus), str(out), "--format", "mds", "--sample-tokens", "50"]
    assert main(args) == 0
    record = json.loads((out / "engine_data.json").read_text())
    assert (out / "tokenizer.json").read_bytes() == (corpus / "tokenizer.json").read_bytes()
    for domain in read_manifest(corpus).domains:
        for split in ("train", "val"):
            (entry,) = record["domains"][domain][split]
            dataset = base.StreamingDataset(
                local=str(Path(entry["file"]).parent), shuffle=False, batch_size=1
            )
            samples = [dataset[i]["tokens"] for i in range(len(dataset))]
            assert {len(x) for x in samples[:-1]} == {50} and 0 < len(samples[-1]) <= 50
            np.testing.assert_array_equal(
                np.concatenate(samples), skillit_stream(corpus, domain, split)
            )
            assert entry["token_count"] == sum(len(x) for x in samples)


def owners(datasets: dict, read) -> dict[bytes, str]:
    """Which domain each sample (by its bytes) comes from; a sample found in two is refused."""
    owner: dict[bytes, str] = {}
    for name, dataset in datasets.items():
        for i in range(len(dataset)):
            key = read(dataset[i]).tobytes()
            assert owner.setdefault(key, name) == name, "a sample in two domains: ambiguous"
    return owner


def export_run(run: Path, fmt: str, data: Path, out: Path) -> Path:
    args = ["mixture", "export", str(run), "--format", fmt, "--data", str(data)]
    assert main([*args, "--out", str(out)]) == 0
    return out


def test_streaming_realises_the_proportions_of_a_runs_mixture_export(corpus, manual_run, tmp_path):
    base = streaming_base()
    data = tmp_path / "mds"
    assert (
        main(
            ["corpus", "export", str(corpus), str(data), "--format", "mds", "--sample-tokens", "24"]
        )
        == 0
    )
    out = export_run(manual_run, "streaming", data, tmp_path / "out")
    streams = yaml.safe_load((out / "streaming_streams.yaml").read_text())["streams"]
    assert {k: v["proportion"] for k, v in streams.items()} == pytest.approx(
        {"prose": 0.7, "web": 0.3}
    )
    single = {
        k: base.StreamingDataset(local=v["local"], shuffle=False, batch_size=1)
        for k, v in streams.items()
    }
    owner = owners(single, lambda s: s["tokens"])
    mixed = base.StreamingDataset(
        streams=[base.Stream(**v) for v in streams.values()],
        shuffle=True,
        shuffle_seed=1,
        batch_size=1,
        epoch_size=2000,
    )
    counts = Counter(owner[s["tokens"].tobytes()] for s in mixed)
    assert sum(counts.values()) == 2000
    # streaming allots each stream its share of the epoch exactly (to a sample)
    assert counts["prose"] / 2000 == pytest.approx(0.7, abs=1e-3)


def test_litdata_reads_every_document_in_blocks_of_its_chunks(corpus, tmp_path):
    litdata = pytest.importorskip("litdata")
    manifest = read_manifest(corpus)
    for limit in (LITDATA_LIMIT, 512):  # one chunk a split, and many
        folder = tmp_path / f"web-{limit}"
        folder.mkdir()
        documents = skillit_documents(corpus, "web", "train")
        assert write_litdata(iter(documents), folder, manifest.dtype, limit) == len(documents)
        chunks = json.loads((folder / "index.json").read_text())["chunks"]
        assert (len(chunks) == 1) == (limit == LITDATA_LIMIT)
        dataset = litdata.StreamingDataset(
            str(folder), item_loader=litdata.TokensLoader(block_size=7), shuffle=False
        )
        read = np.concatenate([np.asarray(dataset[i]) for i in range(len(dataset))])
        # TokensLoader reads each chunk's tokens in whole blocks: a chunk's tail is not read
        stream, kept, start = np.concatenate(documents), [], 0
        for chunk in chunks:
            kept.append(stream[start : start + chunk["dim"] - chunk["dim"] % 7])
            start += chunk["dim"]
        assert start == len(stream)
        np.testing.assert_array_equal(read, np.concatenate(kept))


def test_litdata_realises_the_weights_of_a_runs_mixture_export(corpus, manual_run, tmp_path):
    pytest.importorskip("litdata")
    data = tmp_path / "litdata"
    assert main(["corpus", "export", str(corpus), str(data), "--format", "litdata"]) == 0
    out = export_run(manual_run, "litdata", data, tmp_path / "out")
    spec = importlib.util.spec_from_file_location("exported_mixture", out / "litdata_mixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the export is a module that builds the mixture
    assert module.WEIGHTS == pytest.approx({"prose": 0.7, "web": 0.3})
    assert module.BLOCK_SIZE == 17  # the run's window and its target
    mixed = module.mixture_dataset(block_size=8, seed=3)
    drawn = sum(1 for _ in mixed)
    # litdata's own count of the samples each dataset gave (its resumable state)
    state = mixed.state_dict(num_workers=0, batch_size=1)
    counts = dict(zip(module.WEIGHTS, (state[str(i)]["num_samples_yielded"] for i in range(2))))
    n = sum(counts.values())
    assert n == drawn and n > 1000, (n, drawn)
    # each sample is drawn by the weights: 4 binomial standard deviations
    assert counts["prose"] / n == pytest.approx(0.7, abs=4 * (0.7 * 0.3 / n) ** 0.5)
