"""The build layer: a RunConfig becomes the source, the skills, the network and the mixing plan.

No Lightning here, and no torch at import: `skillit.train` wires these objects into a Trainer, and
graph learning, benchmarks and tests build the same objects without training. Network code imports
torch inside `build_network` / `load_initial_weights`, so that configs can be checked and
mixtures planned by processes that never train.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skillit.config import RunConfig
from skillit.errors import SkillitError
from skillit.graph.io import SkillGraph, graph_from_config, load_graph, treat_negative
from skillit.mixing import registry
from skillit.mixing.base import BuildContext, MixingStrategy
from skillit.mixing.curricula import CurriculumSchedule
from skillit.mixing.settings import check_setting
from skillit.sampling import round_lengths
from skillit.sources.base import SkillSource
from skillit.sources.jsonl import JsonlSource
from skillit.sources.natinst import NatInstSource
from skillit.sources.rendered import RenderedSource
from skillit.sources.synthetic import AdditionSource, ComposeSource, LegoSource
from skillit.sources.tokens import TokensSource
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


def build_source(cfg: RunConfig) -> SkillSource:
    name = cfg.data.source
    generated = ("lego", "addition", "compose")
    tokenizer_path = model_tokenizer(cfg) if name in (*generated, "natinst") else None
    tokenizer = load_tokenizer(tokenizer_path) if tokenizer_path else None
    if name in generated:
        if name == "lego":
            inner = LegoSource(cfg.data.lego)
        elif name == "addition":
            inner = AdditionSource(cfg.data.addition)
        else:
            inner = ComposeSource(cfg.data.compose, run_seed=cfg.seed)
        return RenderedSource(inner, tokenizer) if tokenizer else inner
    if name == "jsonl":
        return JsonlSource(cfg.data.jsonl)
    if name == "tokens":
        return TokensSource(cfg.data.tokens, cfg.model.max_seq_len)
    if cfg.data.natinst.tokenizer is None and tokenizer is not None:
        return NatInstSource(cfg.data.natinst, tokenizer)  # the model's own, as in the paper
    return NatInstSource(cfg.data.natinst)


def resolve_skills(cfg: RunConfig, source: SkillSource) -> tuple[list[str], list[str]]:
    """(training skills, evaluation skills) by name: the config's, else the source's defaults."""
    names = list(source.skill_names)
    default_train = list(getattr(source, "train_skill_names", names))
    default_eval = getattr(source, "eval_skill_names", None)
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
    if eval_only and hasattr(source, "train_skill_names"):
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
    if g.path is not None:
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
    given = dict(cfg.mixing.options)
    if spec.section is not None:
        if given:
            raise SkillitError(
                f"mixing.options {sorted(given)}: mixing.strategy={spec.name} reads its options "
                f"from mixing.{spec.section}; mixing.options is for strategies registered from "
                "outside skillit"
            )
        return getattr(cfg.mixing, spec.section)
    if spec.options is None:
        if given:
            raise SkillitError(
                f"mixing.options {sorted(given)}: mixing.strategy={spec.name} takes no options"
            )
        return None
    try:
        return spec.options(**given)
    except TypeError as exc:
        valid = list(getattr(spec.options, "__dataclass_fields__", {}))
        raise SkillitError(
            f"mixing.options for mixing.strategy={spec.name}: {exc}; valid keys: {valid}"
        ) from None


def build_mixing(
    cfg: RunConfig, source: SkillSource, train: list[str], evals: list[str]
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
        round_lengths=tuple(round_lengths(cfg.trainer.max_steps, m.rounds)),
        seed=cfg.seed,
        graph=graph,
        natural=natural_weights(source, train),
        reference_losses=None if reference is None else np.asarray(reference),
        weights=None if m.weights is None else np.asarray(m.weights, dtype=np.float64),
        schedule=tuple((e.start_round, tuple(e.weights)) for e in m.schedule) or None,
        stages=m.stages,
    )
    strategy = registry.build_strategy(m.strategy, context, options)
    return MixingPlan(strategy, strategy.pool_schedule(), graph)


@dataclass
class RunParts:
    """Everything a run needs that is not Lightning: built once from the config."""

    source: SkillSource
    train_skills: list[str]
    eval_skills: list[str]
    mixing: MixingPlan


def build_parts(cfg: RunConfig) -> RunParts:
    source = build_source(cfg)
    train_skills, eval_skills = resolve_skills(cfg, source)
    plan = build_mixing(cfg, source, train_skills, eval_skills)
    return RunParts(source, train_skills, eval_skills, plan)
