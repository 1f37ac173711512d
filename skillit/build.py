"""The build layer: a RunConfig becomes everything a run needs, in one pass (:func:`build_run`):
the source, the skills, the mixing plan, the data module's settings and the start network.

It asks the registries (skillit.sources.registry, skillit.mixing.registry) what a source or a
strategy needs and can do; it names no source or strategy class. No Lightning here, and no torch
at import: `skillit.training` wires these objects into a Trainer, and graph learning, benchmarks and
tests build the same objects without training. Network code imports torch inside
`build_network` / `load_initial_weights`, so that configs can be checked and mixtures planned by
processes that never train.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skillit.config import LEARNED_GRAPH, RunConfig
from skillit.errors import SkillitError
from skillit.graph.io import SkillGraph, graph_from_config, load_graph, treat_negative
from skillit.mixing import registry
from skillit.mixing.base import BuildContext, MixingStrategy
from skillit.mixing.curricula import CurriculumSchedule
from skillit.mixing.settings import check_setting
from skillit.sampling import round_lengths
from skillit.sources import registry as sources
from skillit.sources.base import SkillSource
from skillit.utils.tokenization import load_tokenizer


def model_tokenizer(cfg: RunConfig) -> Path | None:
    """The tokenizer.json that text is tokenized with instead of a source's own (see DataConfig)."""
    if cfg.data.tokenizer:
        path = Path(cfg.data.tokenizer).expanduser()
        path = path / "tokenizer.json" if path.is_dir() else path
        if not path.is_file():
            raise SkillitError(f"data.tokenizer: no tokenizer.json at {path}")
        return path
    if cfg.model.backend == "hf" and cfg.model.hf_path:
        path = Path(cfg.model.hf_path).expanduser() / "tokenizer.json"
        return path if path.is_file() else None
    return None


def section_options(owner: Any, given: dict, spec: Any, kind: str, key: str):
    """The options of a registered `spec` (a strategy or a source): its section of `owner` (a
    config section such as cfg.mixing), or, for a plugin, its dataclass built from the `given`
    mapping (`<key>.options`)."""
    if spec.section is not None:
        if given:
            raise SkillitError(
                f"{key}.options {sorted(given)}: {kind}={spec.name} reads its options from "
                f"{key}.{spec.section}; {key}.options is for plugins registered from outside skillit"
            )
        return getattr(owner, spec.section)
    if spec.options is None:
        if given:
            raise SkillitError(
                f"{key}.options {sorted(given)}: {kind}={spec.name} takes no options"
            )
        return None
    try:
        return spec.options(**given)
    except TypeError as exc:
        valid = [f.name for f in fields(spec.options)] if is_dataclass(spec.options) else []
        raise SkillitError(
            f"{key}.options for {kind}={spec.name}: {exc}; valid keys: {valid}"
        ) from None


def source_options(cfg: RunConfig, spec: sources.SourceSpec):
    return section_options(cfg.data, dict(cfg.data.options), spec, "data.source", "data")


def build_source(cfg: RunConfig) -> SkillSource:
    """The run's source (data.source), built by its registry entry."""
    spec = sources.get(cfg.data.source)
    return make_source(cfg, spec, source_options(cfg, spec))


def make_source(cfg: RunConfig, spec: sources.SourceSpec, options: Any) -> SkillSource:
    tokenizer = None
    if spec.capabilities.model_tokenizer and (path := model_tokenizer(cfg)) is not None:
        tokenizer = load_tokenizer(path)
    context = sources.SourceContext(cfg.seed, cfg.model.max_seq_len, tokenizer)
    return sources.build_source(spec, context, options)


def resolve_skills(cfg: RunConfig, source: SkillSource) -> tuple[list[str], list[str]]:
    """(training skills, evaluation skills) by name: the config's, else the source's defaults."""
    return skills_of(cfg, source, sources.get(cfg.data.source).capabilities.skill_splits)


def skills_of(cfg: RunConfig, source: SkillSource, splits: bool) -> tuple[list[str], list[str]]:
    """resolve_skills for a source whose capability skill_splits is `splits`."""
    names = list(source.skill_names)
    default_train = list(source.train_skill_names) if splits else names
    default_eval = source.eval_skill_names if splits else None
    train = list(cfg.skills.train) if cfg.skills.train is not None else default_train
    if cfg.skills.eval is not None:
        evals = list(cfg.skills.eval)
    else:
        evals = list(default_eval) if default_eval is not None else list(train)
    for key, group in (("skills.train", train), ("skills.eval", evals)):
        if not group:
            raise SkillitError(f"{key} is empty; choose from {names}")
        unknown = [s for s in group if s not in names]
        if unknown:
            raise SkillitError(f"{key} names unknown skills {unknown}; valid: {names}")
        if len(set(group)) != len(group):
            raise SkillitError(f"{key} lists a skill twice: {group}")
    eval_only = [s for s in train if s not in default_train]
    if eval_only:
        raise SkillitError(
            f"skills.train names {eval_only}, which the source offers for evaluation only; "
            f"trainable skills: {default_train}"
        )
    return train, evals


def build_network(cfg: RunConfig, vocab_size: int):
    """The next-token network of `cfg.model` (torch is imported here, not at module import)."""
    m = cfg.model
    if m.backend == "hf":
        from skillit.model.hf import build_hf_network

        return build_hf_network(m, vocab_size)
    from skillit.model.gpt import GPT, GPTConfig

    return GPT(
        GPTConfig(
            vocab_size=vocab_size,
            max_seq_len=m.max_seq_len,
            n_layer=m.n_layer,
            n_head=m.n_head,
            d_model=m.d_model,
            dropout=m.dropout,
        )
    )


def load_initial_weights(network, path: str | Path, key: str = "model.init_from") -> None:
    """Copy the network weights of a skillit checkpoint (model.init_from) into `network`."""
    from skillit.utils.safe_load import load_weights_only

    if not Path(path).is_file():
        raise SkillitError(f"{key}: no checkpoint at {path}")
    try:
        state = load_weights_only(path, key)
    except SkillitError:
        raise
    except Exception as exc:  # truncated, empty or not a checkpoint
        raise SkillitError(
            f"{key}: {path} cannot be read as a checkpoint ({type(exc).__name__})"
        ) from None
    if not isinstance(state, dict):
        raise SkillitError(f"{key}: {path} is not a skillit checkpoint")
    weights = {
        k.removeprefix("network."): v
        for k, v in state.get("state_dict", state).items()
        if k.startswith("network.")
    }
    try:
        network.load_state_dict(weights)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise SkillitError(f"{key}: {path} does not fit this model: {first}") from exc


def check_sequence_length(cfg: RunConfig, width: int) -> None:
    """Fail before training when the longest validation sample does not fit the model."""
    if width > cfg.model.max_seq_len:
        raise SkillitError(
            f"samples are {width} tokens long but model.max_seq_len={cfg.model.max_seq_len}; "
            f"set model.max_seq_len >= {width}"
        )


# -- the mixing plan ------------------------------------------------------------------------------
@dataclass
class MixingPlan:
    strategy: MixingStrategy  # owns the mixture of every round, p_1 included
    curriculum: CurriculumSchedule | None  # sample-level pacing (curriculum strategies), else None
    graph: np.ndarray | None  # k x m, rows = training skills, columns = eval skills


def load_run_graph(cfg: RunConfig, train: list[str], evals: list[str]) -> np.ndarray | None:
    g = cfg.mixing.graph
    if g.path is not None and g.matrix is not None:
        raise SkillitError("set only one of mixing.graph.path and mixing.graph.matrix")
    if g.learn is not None:  # learned at the start of the run (skillit.graphlearn.in_run)
        path = Path(cfg.run_dir or ".") / LEARNED_GRAPH
        if not path.is_file():
            raise SkillitError(
                f"mixing.graph.learn: no learned graph at {path}; `skillit train` and "
                "skillit.train learn it before training (other commands need it learned first: "
                "`skillit graph learn`, then mixing.graph.path)"
            )
        graph = load_graph(path, negative=g.negative)
    elif g.path is not None:
        graph = load_graph(g.path, g.train_skills, g.eval_skills, negative=g.negative)
    elif g.matrix is not None:
        rows = g.train_skills if g.train_skills is not None else train
        cols = g.eval_skills
        if cols is None and len(g.matrix[0]) == len(evals) != len(rows):
            cols = evals  # a k x m matrix: its columns are the run's eval skills
        graph = graph_from_config(g.matrix, rows, cols, "mixing.graph.matrix", g.negative)
    else:
        return None
    used = SkillGraph(
        graph.train_skills,
        graph.eval_skills,
        treat_negative(graph, g.negative),
        origin=graph.origin,
        negative=g.negative,
    )
    # Fine-tuning and out-of-domain use the columns of the eval skills only, in their order.
    return used.select(train, evals)


def natural_weights(source: SkillSource, train: list[str]) -> np.ndarray:
    names = list(source.skill_names)
    natural = np.asarray(source.natural_proportions(), dtype=np.float64)
    w = natural[[names.index(s) for s in train]]
    if w.sum() <= 0:
        raise SkillitError(f"the source has no training data for skills {train}")
    return w / w.sum()


def train_token_counts(source: SkillSource, train: list[str]) -> np.ndarray:
    """Train tokens of each training skill, in `train`'s order (a source that counts them)."""
    names = list(source.skill_names)
    counts = np.asarray(source.train_token_counts(), dtype=np.float64)
    return counts[[names.index(s) for s in train]]


def token_budget(cfg: RunConfig, source: SkillSource, train: list[str]) -> dict[str, Any]:
    """A source that counts its tokens: each training skill's train tokens and the tokens the
    run will draw (steps x batch x window); nothing for other sources."""
    spec = sources.get(cfg.data.source)
    if not spec.capabilities.token_counts:
        return {}
    width = source.train_width if spec.capabilities.fixed_width else cfg.model.max_seq_len
    return {
        "train_tokens": train_token_counts(source, train),
        "budget_tokens": int(cfg.trainer.max_steps * cfg.data.global_batch_size * width),
    }


def reference_losses(
    cfg: RunConfig, source: SkillSource, evals: list[str], spec: registry.StrategySpec, options
) -> list[float] | None:
    """A reference model's per-skill eval losses, for a strategy that needs them: the checkpoint
    its options name as `reference` (mixing.<section>.reference or mixing.options.reference),
    scored on the run's validation sets."""
    if "reference" not in spec.needs:
        return None
    key = f"mixing.{spec.section or 'options'}.reference"
    path = getattr(options, "reference", None)
    if path is None:
        raise SkillitError(
            f"mixing.strategy={spec.name} needs {key}: a skillit checkpoint of the reference "
            "model (e.g. RUN/checkpoints/last.ckpt of a stratified or random run)"
        )
    if not Path(path).is_file():
        raise SkillitError(f"{key}: no checkpoint at {path}")
    from skillit.model.evaluation import evaluate_validation_sets  # torch: only when needed

    network = build_network(cfg, source.tokenizer.get_vocab_size())
    load_initial_weights(network, path, key=key)
    scored = evaluate_validation_sets(network, source, evals, cfg.model.eval_loss)
    return [float(v) for v in scored["loss"]]


def strategy_options(cfg: RunConfig, spec: registry.StrategySpec):
    """The options of `spec`: its section of cfg.mixing, or its dataclass from mixing.options."""
    return section_options(cfg.mixing, dict(cfg.mixing.options), spec, "mixing.strategy", "mixing")


def build_mixing(
    cfg: RunConfig,
    source: SkillSource,
    train: list[str],
    evals: list[str],
    lengths: list[int] | None = None,
) -> MixingPlan:
    m = cfg.mixing
    check_setting(m.setting, train, evals)
    spec = registry.get(m.strategy)
    options = strategy_options(cfg, spec)
    graph = load_run_graph(cfg, train, evals)
    reference = reference_losses(cfg, source, evals, spec, options)
    context = BuildContext(
        train_skills=list(train),
        eval_skills=list(evals),
        setting=m.setting,
        rounds=m.rounds,
        round_lengths=tuple(lengths or round_lengths(cfg.trainer.max_steps, m.rounds)),
        seed=cfg.seed,
        graph=graph,
        natural=natural_weights(source, train),
        reference_losses=None if reference is None else np.asarray(reference),
        weights=None if m.weights is None else np.asarray(m.weights, dtype=np.float64),
        schedule=tuple((e.start_round, tuple(e.weights)) for e in m.schedule) or None,
        stages=m.stages,
        **token_budget(cfg, source, train),
    )
    strategy = registry.build_strategy(m.strategy, context, options)
    return MixingPlan(strategy, strategy.pool_schedule(), graph)


@dataclass
class DataSettings:
    """The data module's settings besides the source and the skills (SkillDataModule's own
    keyword arguments)."""

    round_lengths: list[int]
    global_batch_size: int
    eval_batch_size: int
    num_workers: int
    seed: int
    plan_block_steps: int | None
    # the strategy's blocks of each round (it returns None for a round drawn whole)
    block_planner: Callable | None
    fixed_width_rows: bool  # the source writes training rows in place (capability fixed_width)


@dataclass
class RunParts:
    """Everything a run needs that is not Lightning: built once from the config."""

    source: SkillSource
    source_spec: sources.SourceSpec  # what the source can do (its capabilities)
    source_options: Any  # its options (data.<section>, or data.options for a plugin)
    train_skills: list[str]
    eval_skills: list[str]
    mixing: MixingPlan
    data: DataSettings
    network: Any = None  # the start network (None when built without one)


def data_settings(
    cfg: RunConfig, spec: sources.SourceSpec, plan: MixingPlan, lengths: list[int]
) -> DataSettings:
    return DataSettings(
        round_lengths=list(lengths),
        global_batch_size=cfg.data.global_batch_size,
        eval_batch_size=cfg.data.eval_batch_size,
        num_workers=cfg.data.num_workers,
        seed=cfg.seed,
        plan_block_steps=cfg.data.plan_block_steps,
        block_planner=plan.strategy.round_blocks,
        fixed_width_rows=spec.capabilities.fixed_width,
    )


def validation_width(source: SkillSource, skills: list[str]) -> int:
    """The longest validation sample of `skills`, in tokens."""
    names = list(source.skill_names)
    return max(source.validation_examples(names.index(s)).input_ids.shape[1] for s in skills)


def build_start_network(cfg: RunConfig, source: SkillSource):
    """The network a run starts from: fresh, or model.init_from's weights, then the numerics
    variant (model.init_jitter); a resume loads its own weights over it."""
    from skillit.model.jitter import jitter_weights  # torch: only when a network is built

    network = build_network(cfg, source.tokenizer.get_vocab_size())
    if cfg.model.init_from:
        load_initial_weights(network, cfg.model.init_from)
    jitter_seed = cfg.model.init_jitter_seed
    jitter_weights(network, cfg.model.init_jitter, cfg.seed if jitter_seed is None else jitter_seed)
    return network


def build_run(cfg: RunConfig, network: bool = True) -> RunParts:
    """Everything a run needs, in the order that fixes its random streams: the source, the
    skills, the mixing plan (a reference model is scored here), then the start network."""
    spec = sources.get(cfg.data.source)
    options = source_options(cfg, spec)
    source = make_source(cfg, spec, options)
    train_skills, eval_skills = skills_of(cfg, source, spec.capabilities.skill_splits)
    lengths = round_lengths(cfg.trainer.max_steps, cfg.mixing.rounds)
    plan = build_mixing(cfg, source, train_skills, eval_skills, lengths)
    settings = data_settings(cfg, spec, plan, lengths)
    parts = RunParts(source, spec, options, train_skills, eval_skills, plan, settings)
    if network:
        check_sequence_length(cfg, validation_width(source, eval_skills))
        parts.network = build_start_network(cfg, source)
    return parts
