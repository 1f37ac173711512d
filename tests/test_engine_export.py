"""`skillit mixture export RUN --format ENGINE`: each engine's file parses, its weights are the
run's mixture (per domain, summed over its shards), and its paths are the corpus's shards."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import prepare_corpus, write_word_docs

from skillit.cli import main
from skillit.config import config_to_yaml, load_config
from skillit.corpus.shards import read_manifest, shard_path
from skillit.export.mixture import average_of
from skillit.utils.shipped import resolve_config

HISTORY = [
    {"round": 1, "step": 20, "weights": {"prose": 0.5, "web": 0.5}},
    {"round": 2, "step": 40, "weights": {"prose": 0.5, "web": 0.5}},
    {"round": 3, "step": 60, "weights": {"prose": 0.2, "web": 0.8}},
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A prepared corpus of two domains in several shards, and a run on it (its config and
    mixture history, as `skillit train` leaves them)."""
    root = tmp_path_factory.mktemp("engines")
    rng = np.random.default_rng(0)
    for name, words in (("prose", (20, 60)), ("web", (300, 500))):  # web: 8x the tokens
        write_word_docs(root / name, 30, words, rng)
    corpus = root / "corpus"
    domains = {"prose": root / "prose", "web": root / "web"}
    assert prepare_corpus(corpus, domains, "--docs-per-shard", "8") == 0
    run_dir = root / "run"
    run_dir.mkdir()
    cfg = load_config(
        [resolve_config("domains_cpu")],
        [
            f"data.tokens.path={corpus}",
            "trainer.max_steps=60",
            "mixing.rounds=3",
            "data.global_batch_size=8",
            "model.max_seq_len=16",
        ],
    )
    (run_dir / "config.yaml").write_text(config_to_yaml(cfg))
    lines = "".join(json.dumps(r) + "\n" for r in HISTORY)
    (run_dir / "mixture_history.jsonl").write_text(lines)
    return run_dir, corpus


def export(run_dir: Path, fmt: str, out: Path) -> Path:
    assert main(["mixture", "export", str(run_dir), "--format", fmt, "--out", str(out)]) == 0
    (written,) = list(out.iterdir())
    return written


def shards_of(corpus: Path) -> dict[str, dict[Path, int]]:
    manifest = read_manifest(corpus)
    return {
        name: {shard_path(corpus, s).resolve(): s.tokens for s in entry.train}
        for name, entry in manifest.domains.items()
    }


AVERAGE = dict(zip(["prose", "web"], average_of(HISTORY)[1]))


def test_megatron_gets_every_indexed_shard_weighted_by_its_domain_and_its_share_of_tokens(
    run, tmp_path, capsys
):
    run_dir, corpus = run
    data = tmp_path / "megatron-data"
    assert main(["corpus", "export", str(corpus), str(data), "--format", "megatron"]) == 0
    out = tmp_path / "out"
    args = ["mixture", "export", str(run_dir), "--format", "megatron", "--out", str(out)]
    assert main(args) == 2  # Megatron reads its own indexed data, not skillit's shards
    assert "skillit corpus export" in capsys.readouterr().err
    assert main([*args, "--data", str(data)]) == 0
    fields = (out / "megatron_data_path.txt").read_text().split()
    pairs = list(zip(map(float, fields[0::2]), fields[1::2]))
    shards = {  # the engine's copies: DATA/<domain>/train_NNNNN, one per skillit shard
        d: {data.resolve() / d / p.with_suffix("").name: t for p, t in s.items()}
        for d, s in shards_of(corpus).items()
    }
    assert all(len(s) > 1 for s in shards.values())  # several shards per domain
    per_domain: dict[str, float] = defaultdict(float)
    for weight, prefix in pairs:
        path = Path(prefix)
        assert path.with_suffix(".idx").is_file() and path.with_suffix(".bin").is_file()
        (domain,) = [d for d, s in shards.items() if path in s]
        assert weight == pytest.approx(
            AVERAGE[domain] * shards[domain][path] / sum(shards[domain].values())
        )
        per_domain[domain] += weight
    assert len(pairs) == sum(len(s) for s in shards.values())
    assert dict(per_domain) == pytest.approx(AVERAGE)
    split = json.loads((out / "megatron_data_args.json").read_text())
    assert split["train"] == fields and len(split["valid"]) >= 4  # a validation blend as well


@pytest.mark.parametrize(
    "fmt,data",
    [
        ("megatron", "megatron"),
        ("streaming", "mds"),
        ("litdata", "litdata"),
        ("nanotron", "nanotron"),
    ],
)
def test_engines_that_read_their_own_data_refuse_to_point_at_skillits_shards(
    run, tmp_path, capsys, fmt, data
):
    """Without --data an export would name skillit's shards, which these engines cannot read:
    refused, naming the `corpus export` format that writes their data, and nothing written."""
    run_dir, _ = run
    assert (
        main(["mixture", "export", str(run_dir), "--format", fmt, "--out", str(tmp_path / "o")])
        == 2
    )
    assert f"skillit corpus export CORPUS DIR --format {data}" in capsys.readouterr().err
    assert not any((tmp_path / "o").glob("*"))


# The engines' config fields, as their current sources define them (the packages do not install
# here: OLMo-core needs its cloud clients, nanotron its CUDA stack). OLMo-core 2.5 / 3.0,
# olmo_core/data/source_mixture.py and numpy_dataset.py (commit fa6c501):
OLMO_SOURCE_MIXTURE_DATASET = {
    "source_list",
    "requested_tokens",
    "global_batch_size",
    "processes",
    "seed",
    "render_tables",
    "quiet",
}
OLMO_SOURCE_MIXTURE = {
    "source_name",
    "target_ratio",
    "paths",
    "max_repetition_ratio",
    "max_source_fraction",
}
OLMO_NUMPY_FSL_DATASET = {  # the fields this export sets, all of NumpyFSLDatasetConfig's
    "source_mixture_config",
    "sequence_length",
    "dtype",
    "tokenizer",
}
OLMO_TOKENIZER = {"vocab_size", "eos_token_id", "pad_token_id", "bos_token_id", "identifier"}
OLMO_DTYPES = {"uint8", "uint16", "uint32", "uint64"}
# nanotron, src/nanotron/config/config.py (commit 2411b02): DatasetStageArgs, DataArgs,
# NanosetDatasetsArgs (loaded by dacite with strict=True: an unknown key is an error)
NANOTRON_STAGE = {"name", "start_training_step", "data", "sequence_length"}
NANOTRON_DATA = {"dataset", "seed", "num_loading_workers"}
NANOTRON_NANOSET = {
    "dataset_folder",
    "dataset_weights",
    "dataset_read_path",
    "tokenizer_name",
    "vocab_size",
    "token_size_in_bytes",
    "return_positions",
    "skip_in_stream",
    "pad_samples_to_global_batch_size",
    "shuffle_files",
    "use_old_brrr_dataloader",
    "dataset_max_tokens",
}


def test_olmo_gets_each_domain_with_its_shards_ratio_and_the_repetition_its_budget_needs(
    run, tmp_path, capsys
):
    run_dir, corpus = run
    dataset = yaml.safe_load(export(run_dir, "olmo", tmp_path).read_text())
    # the run's mixture changed once: OLMo-core has no stages, and the user is told
    assert "olmo has no stages: the run's 2 mixtures are written as their average" in (
        capsys.readouterr().err
    )
    assert set(dataset) <= OLMO_NUMPY_FSL_DATASET and set(dataset["tokenizer"]) <= OLMO_TOKENIZER
    config = dataset["source_mixture_config"]
    assert set(config) <= OLMO_SOURCE_MIXTURE_DATASET
    manifest = read_manifest(corpus)
    assert dataset["dtype"] == manifest.dtype and dataset["dtype"] in OLMO_DTYPES
    assert dataset["tokenizer"]["eos_token_id"] == manifest.eos_id
    assert dataset["tokenizer"]["vocab_size"] == manifest.vocab_size
    assert dataset["sequence_length"] == 16
    assert config["global_batch_size"] % dataset["sequence_length"] == 0  # OLMo-core's check
    sources = {s["source_name"]: s for s in config["source_list"]["sources"]}
    assert all(set(s) <= OLMO_SOURCE_MIXTURE for s in sources.values())
    assert {d: s["target_ratio"] for d, s in sources.items()} == pytest.approx(AVERAGE)
    assert config["requested_tokens"] == 60 * 8 * 16 and config["global_batch_size"] == 8 * 16
    seen = set()
    for domain, shards in shards_of(corpus).items():
        source = sources[domain]
        assert [Path(p) for p in source["paths"]] == list(shards)  # skillit's shards as they are
        needed = AVERAGE[domain] * config["requested_tokens"] / sum(shards.values())
        assert source["max_repetition_ratio"] == pytest.approx(max(1.0, needed))
        seen.add(needed > 1)
    assert seen == {True, False}  # one domain repeats within the budget, the other does not


def test_nanotron_gets_a_stage_per_change_of_the_mixture_over_its_own_data(run, tmp_path, capsys):
    run_dir, corpus = run
    data = tmp_path / "nanotron-data"
    assert main(["corpus", "export", str(corpus), str(data), "--format", "nanotron"]) == 0
    args = ["mixture", "export", str(run_dir), "--format", "nanotron", "--out", str(tmp_path / "o")]
    assert main(args) == 2 and "skillit corpus export" in capsys.readouterr().err
    assert main([*args, "--data", str(data)]) == 0
    text = (tmp_path / "o" / "nanotron_data_stages.yaml").read_text()
    stages = yaml.safe_load(text)["data_stages"]
    assert [s["start_training_step"] for s in stages] == [1, 41]  # rounds 1 and 3
    manifest = read_manifest(corpus)
    for stage, weights in zip(stages, ({"prose": 0.5, "web": 0.5}, {"prose": 0.2, "web": 0.8})):
        assert set(stage) <= NANOTRON_STAGE and set(stage["data"]) <= NANOTRON_DATA
        dataset = stage["data"]["dataset"]
        assert set(dataset) <= NANOTRON_NANOSET
        folders = [Path(f) for f in dataset["dataset_folder"]]
        assert len(folders) == len(dataset["dataset_weights"])
        assert {
            f.parent.name: w for f, w in zip(folders, dataset["dataset_weights"])
        } == pytest.approx(weights)
        assert dataset["token_size_in_bytes"] == 2 and dataset["vocab_size"] == manifest.vocab_size
        for folder in folders:  # nanotron reads every *.ds of a folder: the domain's train tokens
            files = sorted(folder.glob("*.ds"))
            domain = manifest.domains[folder.parent.name]
            assert folder.name == "train" and len(files) == len(domain.train)
            for ds, shard in zip(files, domain.train):
                assert ds.read_bytes() == shard_path(corpus, shard).read_bytes()


def domain_weights(data_path: str) -> dict[str, float]:
    """A Megatron `--data-path` summed per domain (DATA/<domain>/train_NNNNN prefixes)."""
    fields = data_path.split()
    out: dict[str, float] = defaultdict(float)
    for weight, prefix in zip(map(float, fields[0::2]), fields[1::2]):
        out[Path(prefix).parent.name] += weight
    return dict(out)


def test_a_schedule_reaches_megatron_as_phases_and_moves_to_the_engines_length(run, tmp_path):
    run_dir, corpus = run
    data = tmp_path / "megatron-data"
    assert main(["corpus", "export", str(corpus), str(data), "--format", "megatron"]) == 0
    out = tmp_path / "out"
    args = ["mixture", "export", str(run_dir), "--format", "megatron", "--data", str(data)]
    assert main([*args, "--out", str(out)]) == 0
    phases = json.loads((out / "megatron_phases.json").read_text())["phases"]
    # the run: 60 steps, its mixture changes at round 3 (step 41)
    assert [(p["first_step"], p["last_step"]) for p in phases] == [(1, 40), (41, 60)]
    for phase, weights in zip(phases, ({"prose": 0.5, "web": 0.5}, {"prose": 0.2, "web": 0.8})):
        assert domain_weights(phase["data_path"]) == pytest.approx(weights)
    # replayed on an engine run of 6,000 steps: the same fractions of training
    assert main([*args, "--out", str(out), "--engine-steps", "6000"]) == 0
    phases = json.loads((out / "megatron_phases.json").read_text())["phases"]
    assert [(p["first_step"], p["last_step"]) for p in phases] == [(1, 4000), (4001, 6000)]
    nano = tmp_path / "nanotron-data"
    assert main(["corpus", "export", str(corpus), str(nano), "--format", "nanotron"]) == 0
    args = ["mixture", "export", str(run_dir), "--format", "nanotron", "--data", str(nano)]
    assert main([*args, "--out", str(out), "--engine-steps", "6000"]) == 0
    stages = yaml.safe_load((out / "nanotron_data_stages.yaml").read_text())["data_stages"]
    assert [s["start_training_step"] for s in stages] == [1, 4001]


def test_an_engine_run_too_short_for_the_schedule_is_refused(run, tmp_path, capsys):
    run_dir, corpus = run
    data = tmp_path / "nanotron-data"
    assert main(["corpus", "export", str(corpus), str(data), "--format", "nanotron"]) == 0
    args = ["mixture", "export", str(run_dir), "--format", "nanotron", "--data", str(data)]
    assert main([*args, "--out", str(tmp_path / "o"), "--engine-steps", "1"]) == 2
    assert "--engine-steps 1 is too short for the run's 2 stages" in capsys.readouterr().err


def test_an_engine_format_for_a_run_that_is_not_on_a_corpus_names_the_source(tmp_path, capsys):
    (tmp_path / "config.yaml").write_text(config_to_yaml(load_config([], [])))
    lines = "".join(json.dumps(r) + "\n" for r in HISTORY)
    (tmp_path / "mixture_history.jsonl").write_text(lines)
    assert main(["mixture", "export", str(tmp_path), "--format", "megatron"]) == 2
    assert "data.source=tokens" in capsys.readouterr().err
