"""The one list of skill sources: name -> its options, how to build it and what it can do.

Each entry (:class:`SourceSpec`) names its options section (`data.<section>`, a field of
skillit.config.DataConfig) and declares its capabilities (:class:`SourceCapabilities`), which the
rest of skillit reads instead of asking which source a run has:

- `metric`: what a run reports besides the loss: `accuracy` of answers, or `perplexity` of
  token windows (where exact match of a whole window means nothing);
- `loss_of`: what the loss is over, in words (plot labels);
- `token_counts`: the source counts each skill's train tokens (:class:`TokenCounts`), so a run
  records the epochs seen per skill and can cap them (the spec's `epoch_cap` reads the cap);
- `fixed_width`: every training sample has one width and is written in place
  (:class:`~skillit.sources.base.RowWriter`);
- `skill_splits`: the source names its trainable and evaluation-only skills (:class:`SkillSplits`);
- `model_tokenizer`: its text may be tokenized with the model's tokenizer (`data.tokenizer`, or
  the tokenizer.json of model.hf_path) instead of its own;
- `corpus_folder`: a prepared corpus on disk (`skillit prepare`), which engine exports point at.

A source defined outside skillit registers itself with :func:`register` (or through an entry
point in the group `skillit.sources`); its options come from `data.options` through the dataclass
it names (docs/adding-a-source.md). No torch and no Lightning here: config and the CLI import it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tokenizers import Tokenizer

from skillit.errors import SkillitError
from skillit.sources.base import RowWriter, SkillSource
from skillit.sources.jsonl import JsonlSource, JsonlSourceConfig
from skillit.sources.natinst import NatInstSource
from skillit.sources.natinst.config import NatInstSourceConfig
from skillit.sources.rendered import RenderedSource
from skillit.sources.synthetic import (
    AdditionSource,
    AdditionSourceConfig,
    ComposeSource,
    ComposeSourceConfig,
    GeneratedSource,
    LegoSource,
    LegoSourceConfig,
)
from skillit.sources.tokens import TokensSource, TokensSourceConfig
from skillit.utils.plugins import SpecRegistry

METRICS = ("accuracy", "perplexity")


@runtime_checkable
class TokenCounts(Protocol):
    """Sources with `token_counts`: train tokens per skill (in skill_names order)."""

    def train_token_counts(self) -> Any: ...


@runtime_checkable
class SkillSplits(Protocol):
    """Sources with `skill_splits`: the skills that can be trained on, and the default
    evaluation skills (None: the training skills)."""

    @property
    def train_skill_names(self) -> list[str]: ...

    @property
    def eval_skill_names(self) -> list[str] | None: ...


@dataclass(frozen=True)
class SourceCapabilities:
    metric: str = "accuracy"
    loss_of: str = "answer tokens"
    token_counts: bool = False
    fixed_width: bool = False
    skill_splits: bool = False
    model_tokenizer: bool = False
    corpus_folder: bool = False

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"a source's metric must be one of {METRICS}, got {self.metric!r}")


@dataclass(frozen=True)
class SourceContext:
    """What the build layer knows of a run when it builds its source."""

    seed: int  # the run's seed (a generated world may follow it)
    max_seq_len: int  # the model's context (token windows are this long)
    # the model's tokenizer, for sources with `model_tokenizer` (None: the source's own)
    tokenizer: Tokenizer | None = None


@dataclass(frozen=True)
class SourceSpec:
    """A source of skill data as the build layer sees it."""

    name: str  # the value of data.source
    build: Callable[[SourceContext, Any], SkillSource]
    summary: str  # one line, for listings and errors
    options: type | None = None  # its options dataclass (None: it takes none)
    # where the options come from: data.<section> (a DataConfig field), or, when None, the
    # `data.options` mapping (a source registered from outside skillit)
    section: str | None = None
    # keys of its options that hold file paths (relative to the YAML file that sets them)
    path_keys: tuple[str, ...] = ()
    capabilities: SourceCapabilities = field(default_factory=SourceCapabilities)
    # with `token_counts`: the most epochs of its train tokens a skill may be seen (None: no cap)
    epoch_cap: Callable[[Any], float | None] | None = None
    # with `corpus_folder`: the prepared corpus folder its options name
    corpus: Callable[[Any], Path] | None = None

    def __post_init__(self) -> None:
        caps = self.capabilities
        if self.section is not None and self.options is None:
            raise ValueError(f"source {self.name!r}: a section needs its options dataclass")
        if self.epoch_cap is not None and not caps.token_counts:
            raise ValueError(f"source {self.name!r}: an epoch cap needs token_counts")
        if caps.corpus_folder != (self.corpus is not None):
            raise ValueError(f"source {self.name!r}: corpus_folder goes with a `corpus` function")

    @property
    def option_prefix(self) -> str:
        """The config key its options are read from."""
        return f"data.{self.section or 'options'}"


# Packages that ship sources declare entry points in this group, each naming a SourceSpec (or a
# function returning one); they are loaded the first time a name is not found.
ENTRY_POINT_GROUP = "skillit.sources"
REGISTRY: SpecRegistry[SourceSpec] = SpecRegistry(
    SourceSpec, "source", "data.source", ENTRY_POINT_GROUP
)
register = REGISTRY.register
unregister = REGISTRY.unregister
known = REGISTRY.known
names = REGISTRY.names
get = REGISTRY.get


def path_keys() -> tuple[str, ...]:
    """Every config key of a registered source that holds a file path."""
    return tuple(f"{s.option_prefix}.{key}" for s in REGISTRY.specs.values() for key in s.path_keys)


def build_source(spec: SourceSpec, ctx: SourceContext, options: Any) -> SkillSource:
    """The source of `spec`, checked against what it declared it can do."""
    source = spec.build(ctx, options)
    caps = spec.capabilities
    promised = (
        (caps.token_counts, TokenCounts, "token_counts", "train_token_counts()"),
        (caps.fixed_width, RowWriter, "fixed_width", "train_width and write_train_rows()"),
        (caps.skill_splits, SkillSplits, "skill_splits", "train_skill_names, eval_skill_names"),
    )
    for declared, protocol, name, members in promised:
        if declared and not isinstance(source, protocol):
            raise SkillitError(
                f"source {spec.name!r} declares {name} but its {type(source).__name__} lacks "
                f"{members}"
            )
    return source


# -- the sources that ship with skillit ------------------------------------------------------------


def _rendered(source: GeneratedSource, ctx: SourceContext) -> SkillSource:
    """A generator's samples, in the model's tokenizer when the run gives one."""
    return RenderedSource(source, ctx.tokenizer) if ctx.tokenizer is not None else source


def _natinst(ctx: SourceContext, options: NatInstSourceConfig) -> SkillSource:
    if options.tokenizer is None and ctx.tokenizer is not None:
        return NatInstSource(options, ctx.tokenizer)  # the model's own, as in the paper
    return NatInstSource(options)


_GENERATED = SourceCapabilities(skill_splits=True, model_tokenizer=True)
for _spec in (
    SourceSpec(
        "lego",
        lambda ctx, o: _rendered(LegoSource(o), ctx),
        "LEGO reasoning chains (generated)",
        options=LegoSourceConfig,
        section="lego",
        capabilities=_GENERATED,
    ),
    SourceSpec(
        "addition",
        lambda ctx, o: _rendered(AdditionSource(o), ctx),
        "multi-digit addition, one skill per digit (generated)",
        options=AdditionSourceConfig,
        section="addition",
        capabilities=_GENERATED,
    ),
    SourceSpec(
        "compose",
        lambda ctx, o: _rendered(ComposeSource(o, run_seed=ctx.seed), ctx),
        "ordered skills: compositions of permutations of depth 1..D (generated)",
        options=ComposeSourceConfig,
        section="compose",
        capabilities=_GENERATED,
    ),
    SourceSpec(
        "jsonl",
        lambda ctx, o: JsonlSource(o),
        "your own samples: JSONL lines with a skill, a prompt and an answer",
        options=JsonlSourceConfig,
        section="jsonl",
        path_keys=("path",),
    ),
    SourceSpec(
        "natinst",
        _natinst,
        "Natural Instructions tasks grouped by category",
        options=NatInstSourceConfig,
        section="natinst",
        path_keys=("root",),
        capabilities=SourceCapabilities(skill_splits=True, model_tokenizer=True),
    ),
    SourceSpec(
        "tokens",
        lambda ctx, o: TokensSource(o, ctx.max_seq_len),
        "a prepared corpus (`skillit prepare`): one skill per domain, windows of its tokens",
        options=TokensSourceConfig,
        section="tokens",
        path_keys=("path",),
        capabilities=SourceCapabilities(
            metric="perplexity",
            loss_of="every token of a window",
            token_counts=True,
            fixed_width=True,
            corpus_folder=True,
        ),
        epoch_cap=lambda o: o.max_epochs,
        corpus=TokensSource.corpus_folder,
    ),
):
    register(_spec)
