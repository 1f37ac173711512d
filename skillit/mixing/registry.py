"""The one list of mixing strategies: name -> what the strategy needs and how to build it.

Each entry (:class:`StrategySpec`) names its options section (`mixing.<section>`, a field of
skillit.config.MixingConfig) and declares what it needs from the run:

- `graph`: a skills graph (mixing.graph), k x m;
- `reference`: a reference model's loss per eval skill (its section's `reference` checkpoint);
- `natural`: the source's natural proportions over the training skills;
- `eval_is_train`: skills.eval equal to skills.train, in the same order;
- `token_counts`: each training skill's train tokens and the run's token budget (a source that
  counts its tokens, e.g. data.source=tokens).

The registry checks these before it calls the entry's `build(context, options)`, with one message
per need, so a build can rely on what it declared. A strategy defined outside skillit registers
itself with :func:`register` (or through an entry point in the group `skillit.strategies`); its
options come from `mixing.options` through the dataclass it names (see
docs/adding-a-strategy.md). Numpy only: config, build and the CLI load no torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from skillit.errors import SkillitError
from skillit.mixing.aioli import AioliConfig, build_aioli
from skillit.mixing.base import BuildContext, MixingStrategy
from skillit.mixing.curricula import CURRICULA, curriculum_builder
from skillit.mixing.doremi import DoReMiConfig, build_doremi
from skillit.mixing.fixed import build_manual, build_random, build_stratified
from skillit.mixing.odm import ODMConfig, build_odm
from skillit.mixing.skillit import SkillItConfig, build_no_graph, build_skillit, build_static
from skillit.mixing.unimax import UniMaxConfig, build_unimax
from skillit.utils.plugins import SpecRegistry

NEEDS = ("graph", "reference", "natural", "eval_is_train", "token_counts")


@dataclass(frozen=True)
class StrategySpec:
    """A mixing strategy as the build layer sees it."""

    name: str  # the value of mixing.strategy
    build: Callable[[BuildContext, Any], MixingStrategy]
    summary: str  # one line, for listings and errors
    options: type | None = None  # its options dataclass (None: it takes none)
    # where the options come from: mixing.<section> (a MixingConfig field), or, when None, the
    # `mixing.options` mapping (a strategy registered from outside skillit)
    section: str | None = None
    needs: frozenset[str] = field(default_factory=frozenset)
    # settings (mixing.setting) in which it reads a graph it is given without needing one
    graph_settings: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.needs) - set(NEEDS))
        if unknown:
            raise ValueError(
                f"strategy {self.name!r} declares unknown needs {unknown}; valid: {NEEDS}"
            )
        if self.section is not None and self.options is None:
            raise ValueError(f"strategy {self.name!r}: a section needs its options dataclass")


# Packages that ship strategys declare entry points in this group, each naming a StrategySpec (or a
# function returning one); they are loaded the first time a name is not found.
ENTRY_POINT_GROUP = "skillit.strategies"
REGISTRY: SpecRegistry[StrategySpec] = SpecRegistry(
    StrategySpec, "strategy", "mixing.strategy", ENTRY_POINT_GROUP
)
register = REGISTRY.register
unregister = REGISTRY.unregister
known = REGISTRY.known
names = REGISTRY.names
get = REGISTRY.get


def reads_graph(name: str, setting: str) -> bool:
    """Whether strategy `name` reads a skills graph in `setting` (so learning one is useful)."""
    spec = get(name)
    return "graph" in spec.needs or setting in spec.graph_settings


def check_needs(spec: StrategySpec, ctx: BuildContext) -> None:
    """Refuse a run that lacks what `spec` declared it needs (messages name the key)."""
    name = spec.name
    if "graph" in spec.needs and ctx.graph is None:
        raise SkillitError(
            f"mixing.strategy={name} needs a skills graph: set mixing.graph.path "
            "(a file from `skillit graph learn`), mixing.graph.matrix, or mixing.graph.learn "
            "(e.g. linear: learned at the start of the run)"
        )
    if "natural" in spec.needs and ctx.natural is None:
        raise SkillitError(f"mixing.strategy={name} needs the source's natural proportions")
    if "reference" in spec.needs and ctx.reference_losses is None:
        key = f"mixing.{spec.section or 'options'}.reference"
        raise SkillitError(
            f"mixing.strategy={name} needs the reference model's losses ({key}: a skillit "
            "checkpoint)"
        )
    if "token_counts" in spec.needs and ctx.train_tokens is None:
        raise SkillitError(
            f"mixing.strategy={name} needs each training skill's token count, which only a "
            "source that counts its tokens gives (data.source=tokens, a prepared corpus)"
        )
    if "eval_is_train" in spec.needs and list(ctx.eval_skills) != list(ctx.train_skills):
        raise SkillitError(
            f"mixing.strategy={name} ({spec.summary}) reads one eval loss per training skill, so "
            f"skills.eval must equal skills.train in the same order; got "
            f"{list(ctx.eval_skills)} and {list(ctx.train_skills)}"
        )


def build_strategy(name: str, ctx: BuildContext, options: Any = None) -> MixingStrategy:
    """The strategy `name` for the run described by `ctx`, with its options (None: the
    defaults of its options dataclass)."""
    spec = get(name)
    check_needs(spec, ctx)
    if options is None and spec.options is not None:
        options = spec.options()
    return spec.build(ctx, options)


# -- the strategies that ship with skillit ---------------------------------------------------------

_PAPER = "the paper's baseline"
for _spec in (
    StrategySpec("random", build_random, "the data's natural proportions (or mixing.weights)"),
    StrategySpec(
        "stratified",
        build_stratified,
        "uniform over the relevant skills",
        # the targets' prerequisites come from the graph
        graph_settings=frozenset({"fine_tuning", "out_of_domain"}),
    ),
    StrategySpec("manual", build_manual, "a fixed mixing.weights or a mixing.schedule"),
    StrategySpec(
        "unimax",
        build_unimax,
        "UniMax: the budget shared evenly, each domain capped at max_epochs",
        options=UniMaxConfig,
        section="unimax",
        needs=frozenset({"token_counts"}),
    ),
    *(
        StrategySpec(
            name,
            curriculum_builder(name),
            f"{name.replace('_', ' ')} over a scored sample pool ({_PAPER})",
            needs=frozenset({"natural"} if level == "sample" else ()),
        )
        for name, (level, _) in CURRICULA.items()
    ),
    StrategySpec(
        "skillit",
        build_skillit,
        "Skill-It: online mirror descent over the skills graph",
        options=SkillItConfig,
        section="skillit",
        needs=frozenset({"graph"}),
    ),
    StrategySpec(
        "static",
        build_static,
        "Skill-It's T = 1 ablation: the softmax over the graph",
        options=SkillItConfig,
        section="skillit",
        needs=frozenset({"graph"}),
    ),
    StrategySpec(
        "no_graph",
        build_no_graph,
        "Skill-It with the identity graph (each skill by its own loss)",
        options=SkillItConfig,
        section="skillit",
    ),
    StrategySpec(
        "doremi",
        build_doremi,
        "DoReMi-style: excess loss over a reference model",
        options=DoReMiConfig,
        section="doremi",
        needs=frozenset({"reference", "eval_is_train"}),
    ),
    StrategySpec(
        "odm",
        build_odm,
        "Online Data Mixing: a bandit on training losses, inside rounds",
        options=ODMConfig,
        section="odm",
    ),
    StrategySpec(
        "aioli",
        build_aioli,
        "Aioli: interactions from probe mixtures inside rounds",
        options=AioliConfig,
        section="aioli",
        needs=frozenset({"eval_is_train"}),
    ),
):
    register(_spec)
