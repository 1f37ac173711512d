"""docs/engines.md's proxy-to-scale recipe, its commands as written (a smaller model and budget),
on the demo corpus: prepare, a proxy run with a schedule, the engine's data, the mixture export
moved to a longer engine run, and each engine building its dataset from the files."""

from __future__ import annotations

import importlib.util
import json
import warnings

import numpy as np
import pytest
from conftest import streaming_base

from skillit.cli import main
from skillit.commands import prepare as prepare_command
from skillit.corpus.shards import read_manifest

SMALL = [  # the proxy made small enough for a test: model, window, budget, Aioli's probes
    "model.n_layer=1",
    "model.d_model=16",
    "model.max_seq_len=16",
    "data.global_batch_size=4",
    "data.tokens.val_windows=2",
    "trainer.max_steps=24",
    "mixing.aioli.sweeps=1",
    "mixing.aioli.probe_steps=1",
    "mixing.rounds=3",
    "trainer.threads=1",
    "trainer.progress_bar=false",
    "mixing.plots=false",
]


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    root = tmp_path_factory.mktemp("recipe")
    mp = pytest.MonkeyPatch()
    mp.setattr(prepare_command, "_natinst_root", lambda arg: None)  # the same on every machine
    corpus = root / "corpus"
    prepare = ["prepare", str(corpus), "--demo", "--bpe-vocab", "512", "--bpe-sample-docs", "40"]
    assert main([*prepare, "--no-progress"]) == 0
    mp.undo()
    run = root / "runs" / "proxy"
    train = ["train", "domains_cpu", f"data.tokens.path={corpus}", "mixing.strategy=aioli"]
    assert main([*train, f"run_dir={run}", *SMALL]) == 0
    return root, corpus, run


def export(root, corpus, run, data_format: str, fmt: str):
    data, out = root / f"{data_format}-data", root / f"to-{fmt}"
    assert main(["corpus", "export", str(corpus), str(data), "--format", data_format]) == 0
    args = ["mixture", "export", str(run), "--format", fmt, "--data", str(data)]
    assert main([*args, "--engine-steps", "50000", "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_the_recipe_reaches_megatron_building_each_phases_blend(proxy):
    pytest.importorskip("megatron.core")
    from megatron.core.datasets.blended_megatron_dataset_builder import (
        BlendedMegatronDatasetBuilder,
    )
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig
    from megatron.core.datasets.utils import get_blend_from_list

    root, corpus, run = proxy
    out = export(root, corpus, run, "megatron", "megatron")
    phases = json.loads((out / "megatron_phases.json").read_text())["phases"]
    assert len(phases) >= 2 and phases[0]["first_step"] == 1 and phases[-1]["last_step"] == 50000
    manifest = read_manifest(corpus)

    class Tokenizer:  # what GPTDataset asks of a tokenizer
        eod, pad, vocab_size = manifest.eos_id, 0, manifest.vocab_size
        unique_identifiers = {"class": "Tokenizer"}

    for phase in phases:
        fields = phase["data_path"].split()
        config = GPTDatasetConfig(
            random_seed=1,
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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train, _, _ = BlendedMegatronDatasetBuilder(
                GPTDataset, [200, 0, 0], lambda: True, config
            ).build()
        sample = train[0]["tokens"]
        assert len(sample) == 16 and int(sample.max()) < manifest.vocab_size


@pytest.mark.slow
def test_the_recipe_reaches_streaming_and_litdata_building_the_mixture(proxy):
    root, corpus, run = proxy
    base = streaming_base()
    out = export(root, corpus, run, "mds", "streaming")
    import yaml

    streams = yaml.safe_load((out / "streaming_streams.yaml").read_text())["streams"]
    dataset = base.StreamingDataset(
        streams=[base.Stream(**s) for s in streams.values()], batch_size=1, epoch_size=100
    )
    assert sum(1 for _ in dataset) == 100
    pytest.importorskip("litdata")
    out = export(root, corpus, run, "litdata", "litdata")
    spec = importlib.util.spec_from_file_location("recipe_mixture", out / "litdata_mixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    blocks = [np.asarray(b) for _, b in zip(range(50), module.mixture_dataset())]
    assert len(blocks) == 50 and {len(b) for b in blocks} == {17}
