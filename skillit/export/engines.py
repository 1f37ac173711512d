"""A run's mixture in the files the engines that train at scale read.

None of these engines sets a mixture from losses; each reads fixed weights over datasets (some
per stage). `skillit mixture export RUN --format F` writes, for a run on a prepared corpus:

- `megatron`: `megatron_data_path.txt`, the `--data-path` value of Megatron-LM's BlendedDataset:
  `w1 prefix1 w2 prefix2 ...`, one prefix per train shard of Megatron's own indexed dataset
  (`skillit corpus export CORPUS DIR --format megatron`, passed as `--data DIR`), each weighted by
  its domain's weight times its share of the domain's tokens; and `megatron_data_args.json`, the
  `--per-split-data-args-path` file (train by the mixture, valid by validation tokens). Checked
  with megatron-core 0.16.1's BlendedMegatronDatasetBuilder (tests/test_engine_data.py).
- `olmo`: `olmo_source_mixture.yaml`, OLMo-core's `NumpyFSLDatasetConfig` (sequence length,
  dtype, tokenizer ids) whose `source_mixture_config` is a `SourceMixtureDatasetConfig`: a
  `SourceMixtureConfig` per domain (source_name, target_ratio, paths, max_repetition_ratio) with
  the run's token budget and its batch in tokens. OLMo-core reads skillit's shards as they are
  (headerless arrays, an end-of-document token after each document); max_repetition_ratio is
  what the budget needs of each domain. Fields as in OLMo-core 2.5 / 3.0's source (the package
  does not install here without its cloud clients).
- `nanotron`: `nanotron_data_stages.yaml`, nanotron's `data_stages`: one stage per change of the
  run's mixture, starting at the first step of its round (`start_training_step`, from 1), each
  over the domains' folders of `.ds` files (`skillit corpus export --format nanotron`, `--data`)
  as `dataset_folder` and `dataset_weights` lists (nanotron's config.py at commit 2411b02).

Only nanotron has stages; the others get the run's average mixture (by steps, or by updates).
Weights are exactly the run's (each file's weights sum to 1 up to float rounding); domain names
map to the shard paths of the corpus manifest, made absolute.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from skillit.errors import SkillitError

# MosaicML streaming and litdata read their own formats (MDS folders, litdata chunks), which
# skillit does not write yet: an export naming skillit's shards would point them at data they
# cannot read, so they are not offered.
ENGINES = ("megatron", "olmo", "nanotron")
FORMATS = ("skillit", *ENGINES)


@dataclass(frozen=True)
class DomainShards:
    name: str
    folder: Path  # the folder that holds its train shards
    shards: tuple[tuple[Path, int], ...]  # (absolute path, tokens) of each train shard

    @property
    def tokens(self) -> int:
        return sum(t for _, t in self.shards)


@dataclass(frozen=True)
class EngineMixture:
    """What every engine format is rendered from."""

    skills: list[str]
    average: list[float]  # over `skills`
    stages: list[tuple[int, list[float]]]  # (first training step, from 1; weights) per change
    domains: dict[str, DomainShards]
    total_tokens: int  # trainer.max_steps x global batch x window
    tokens_per_step: int
    dtype: str
    # the engine's own data (`skillit corpus export`): its train files stand in `domains`, and
    # these are its validation files
    valid: dict[str, DomainShards] | None = None
    # the corpus's tokenizer and the run's window (the engines' dataset configs ask for them)
    vocab_size: int | None = None
    eos_id: int | None = None
    sequence_length: int | None = None


def run_corpus(cfg) -> Path:
    """The prepared corpus a run trains on (its source has the capability corpus_folder)."""
    from skillit.build import source_options
    from skillit.sources import registry as sources

    spec = sources.get(cfg.data.source)
    if spec.corpus is None:
        raise SkillitError(
            "an engine format needs a run on a prepared corpus (data.source=tokens, or a source "
            f"with the capability corpus_folder); this run has data.source={cfg.data.source}: "
            "use --format skillit"
        )
    return spec.corpus(source_options(cfg, spec))


def corpus_domains(cfg) -> tuple[dict[str, DomainShards], str]:
    """The run's corpus domains and their train shards (from the manifest of the prepared corpus
    its source trains on)."""
    from skillit.corpus.shards import read_manifest, shard_path

    folder = run_corpus(cfg)
    manifest = read_manifest(folder)
    domains = {}
    for name, entry in manifest.domains.items():
        shards = tuple((shard_path(folder, s).resolve(), int(s.tokens)) for s in entry.train)
        parent = shards[0][0].parent if shards else (folder / name).resolve()
        domains[name] = DomainShards(name, parent, shards)
    return domains, manifest.dtype


def _check_domains(mix: EngineMixture) -> None:
    missing = [s for s in mix.skills if s not in mix.domains]
    if missing:
        raise SkillitError(
            f"the run's skills {missing} are not domains of its corpus ({sorted(mix.domains)})"
        )


def shard_weights(mix: EngineMixture, weights: list[float]) -> list[tuple[Path, float]]:
    """Each train shard of a weighted domain with its domain's weight times its token share."""
    out = []
    for skill, w in zip(mix.skills, weights):
        domain = mix.domains[skill]
        for path, tokens in domain.shards:
            if w > 0 and tokens > 0:
                out.append((path, w * tokens / domain.tokens))
    return out


def _prefix(path: Path) -> str:
    return str(path.with_suffix("")) if path.suffix == ".bin" else str(path)


def engine_domains(record: dict, split: str) -> dict[str, DomainShards]:
    """The domains of engine data (`skillit corpus export`'s record) as shard lists of `split`."""
    out = {}
    for name, splits in record["domains"].items():
        shards = tuple((Path(s["file"]), int(s["token_count"])) for s in splits[split])
        out[name] = DomainShards(name, shards[0][0].parent if shards else Path(), shards)
    return out


def write_megatron(mix: EngineMixture, out: Path) -> Path:
    """`--data-path` of the train blend, and the per-split JSON (`--per-split-data-args-path`):
    train by the run's mixture, valid by each domain's share of validation tokens."""
    if mix.valid is None:
        raise SkillitError(
            "--format megatron needs Megatron's own data: write it with `skillit corpus export "
            "CORPUS DIR --format megatron`, then pass --data DIR"
        )
    train = [f"{w!r} {_prefix(p)}" for p, w in shard_weights(mix, mix.average)]
    valid_mix = EngineMixture(
        mix.skills, _token_shares(mix.valid, mix.skills), [], mix.valid, 0, 0, mix.dtype
    )
    valid = [f"{w!r} {_prefix(p)}" for p, w in shard_weights(valid_mix, valid_mix.average)]
    split = {"train": [x for pair in train for x in pair.split(" ", 1)]}
    split["valid"] = [x for pair in valid for x in pair.split(" ", 1)]
    (out / "megatron_data_args.json").write_text(json.dumps(split, indent=2) + "\n")
    path = out / "megatron_data_path.txt"
    path.write_text(" ".join(train) + "\n")
    return path


def _token_shares(domains: dict[str, DomainShards], skills: list[str]) -> list[float]:
    tokens = [domains[s].tokens for s in skills]
    return [t / sum(tokens) for t in tokens]


def write_olmo(mix: EngineMixture, out: Path) -> Path:
    """OLMo-core's `NumpyFSLDatasetConfig` with a `source_mixture_config`
    (`SourceMixtureDatasetConfig`: a source per domain with its ratio, paths and the repetition
    its budget needs). OLMo-core reads skillit's shards as they are: headerless token arrays with
    an end-of-document token after each document."""
    sources = []
    for s, w in zip(mix.skills, mix.average):
        if w <= 0:
            continue
        domain = mix.domains[s]
        needed = w * mix.total_tokens / max(1, domain.tokens)  # epochs the budget asks of it
        sources.append(
            {
                "source_name": s,
                "target_ratio": float(w),
                "paths": [str(p) for p, _ in domain.shards],
                "max_repetition_ratio": float(max(1.0, needed)),
            }
        )
    config = {
        "source_mixture_config": {
            "source_list": {"sources": sources},
            "requested_tokens": int(mix.total_tokens),
            "global_batch_size": int(mix.tokens_per_step),  # OLMo-core counts it in tokens
            "seed": 0,
        },
        "sequence_length": mix.sequence_length,
        "dtype": mix.dtype,
        "tokenizer": {
            "vocab_size": mix.vocab_size,
            "eos_token_id": mix.eos_id,
            "pad_token_id": mix.eos_id,
        },
    }
    path = out / "olmo_source_mixture.yaml"
    note = (
        "# OLMo-core NumpyFSLDatasetConfig (checked against the fields of OLMo-core 2.5 / 3.0:\n"
        "# olmo_core/data/source_mixture.py, numpy_dataset.py); add work_dir, then .build()\n"
    )
    path.write_text(note + OmegaConf.to_yaml(OmegaConf.create(config)))
    return path


def write_nanotron(mix: EngineMixture, out: Path) -> Path:
    """nanotron's `data_stages`: one stage per change of the run's mixture, from the first step
    of its round, each over every domain's folder of tokenized-bytes files
    (`skillit corpus export --format nanotron`) with `dataset_folder` and `dataset_weights`
    lists (the schema of nanotron's config.py at commit 2411b02; its old `dataset_path` mapping
    is gone)."""
    if mix.valid is None:
        raise SkillitError(
            "--format nanotron needs nanotron's own data: write it with `skillit corpus export "
            "CORPUS DIR --format nanotron`, then pass --data DIR"
        )
    stages = []
    for n, (first_step, weights) in enumerate(mix.stages, start=1):
        kept = [(s, float(w)) for s, w in zip(mix.skills, weights) if w > 0]
        dataset = {
            "dataset_folder": [str(mix.domains[s].folder) for s, _ in kept],
            "dataset_weights": [w for _, w in kept],
            "token_size_in_bytes": 2 if mix.dtype == "uint16" else 4,
            "vocab_size": mix.vocab_size,
            "return_positions": False,
            # the reader that takes a folder of .ds files alone (the default one asks datatrove
            # for arguments no release of it takes)
            "use_old_brrr_dataloader": True,
        }
        stages.append(
            {
                "name": f"skillit stage {n} (from step {first_step})",
                "start_training_step": int(first_step),
                "data": {"dataset": dataset, "num_loading_workers": 1, "seed": 0},
            }
        )
    path = out / "nanotron_data_stages.yaml"
    note = (
        "# nanotron data_stages; set tokenizer.tokenizer_name_or_path to the corpus's tokenizer\n"
    )
    path.write_text(note + OmegaConf.to_yaml(OmegaConf.create({"data_stages": stages})))
    return path


WRITERS: dict[str, Callable[[EngineMixture, Path], Path]] = {
    "megatron": write_megatron,
    "olmo": write_olmo,
    "nanotron": write_nanotron,
}


def write_engine(fmt: str, mix: EngineMixture, out: Path) -> Path:
    if fmt not in WRITERS:
        raise SkillitError(f"--format must be one of {list(FORMATS)}, got {fmt!r}")
    _check_domains(mix)
    out.mkdir(parents=True, exist_ok=True)
    return WRITERS[fmt](mix, out)
