"""What every engine format is rendered from: the run's mixture (average and stages) over the
domains' data files, and the helpers the formats share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from skillit.errors import SkillitError


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
    engine_steps: int | None = None  # the engine run's length, where stages were rescaled to it

    @property
    def total_steps(self) -> int:
        if self.engine_steps:
            return self.engine_steps
        return self.total_tokens // self.tokens_per_step if self.tokens_per_step else 0


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


def need_engine_data(mix: EngineMixture, data_format: str) -> None:
    """Refuse to write a file that would point the engine at skillit's own shards."""
    if mix.valid is None:
        raise SkillitError(
            f"this format reads the engine's own data: write it with `skillit corpus export "
            f"CORPUS DIR --format {data_format}`, then pass --data DIR"
        )


def check_domains(mix: EngineMixture) -> None:
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


def megatron_prefix(path: Path) -> str:
    return str(path.with_suffix("")) if path.suffix == ".bin" else str(path)


def engine_domains(record: dict, split: str) -> dict[str, DomainShards]:
    """The domains of engine data (`skillit corpus export`'s record) as shard lists of `split`."""
    out = {}
    for name, splits in record["domains"].items():
        shards = tuple((Path(s["file"]), int(s["token_count"])) for s in splits[split])
        out[name] = DomainShards(name, shards[0][0].parent if shards else Path(), shards)
    return out


def token_shares(domains: dict[str, DomainShards], skills: list[str]) -> list[float]:
    tokens = [domains[s].tokens for s in skills]
    return [t / sum(tokens) for t in tokens]
