"""`skillit corpus export --format megatron` read back by Megatron's own code: every document's
tokens as skillit has them, and the blend of a run's mixture export realised by Megatron's
BlendedMegatronDatasetBuilder in the exported proportions."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import prepare_corpus, write_word_docs

from skillit.cli import main
from skillit.corpus.engine_data import document_ends
from skillit.corpus.shards import open_shard, read_manifest, shard_path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine-data")
    rng = np.random.default_rng(0)
    for name, words in (("prose", (20, 60)), ("web", (200, 300))):
        write_word_docs(root / name, 30, words, rng)
    out = root / "corpus"
    assert (
        prepare_corpus(out, {"prose": root / "prose", "web": root / "web"}, "--docs-per-shard", "8")
        == 0
    )
    return out


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


def test_megatron_realises_the_blend_of_a_runs_mixture_export(corpus, tmp_path):
    pytest.importorskip("megatron.core")
    from megatron.core.datasets.blended_megatron_dataset_builder import (
        BlendedMegatronDatasetBuilder,
    )
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig
    from megatron.core.datasets.utils import get_blend_from_list

    run = tmp_path / "run"
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
