"""Turn the `mixing` config into a strategy: load the graph, apply the setting, pick the mixture."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from skillit.config import RunConfig
from skillit.errors import SkillitError
from skillit.graph.io import graph_from_config, load_graph
from skillit.mixing.settings import check_setting, stratified_mask
from skillit.mixing.strategies import CurriculumStrategy, build_strategy
from skillit.sources.base import SkillSource

GRAPH_STRATEGIES = ("skillit", "static")


@dataclass
class MixingPlan:
    strategy: Any  # a skillit.mixing.strategies.MixingStrategy
    curriculum: Any | None  # a CurriculumSchedule for sample-level strategies, else None
    initial_weights: np.ndarray
    graph: np.ndarray | None  # k x m, rows = training skills, columns = eval skills


def load_run_graph(cfg: RunConfig, train: list[str], evals: list[str]) -> np.ndarray | None:
    g = cfg.mixing.graph
    if g.path is not None and g.matrix is not None:
        raise SkillitError("set only one of mixing.graph.path and mixing.graph.matrix")
    if g.path is not None:
        graph = load_graph(g.path, train_skills=g.train_skills, eval_skills=g.eval_skills)
    elif g.matrix is not None:
        rows = g.train_skills if g.train_skills is not None else train
        graph = graph_from_config(g.matrix, rows, g.eval_skills, key="mixing.graph.matrix")
    else:
        return None
    # Fine-tuning and out-of-domain use the columns of the eval skills only, in their order.
    return graph.select(train, evals)


def natural_weights(source: SkillSource, train: list[str]) -> np.ndarray:
    names = list(source.skill_names)
    natural = np.asarray(source.natural_proportions(), dtype=np.float64)
    w = natural[[names.index(s) for s in train]]
    if w.sum() <= 0:
        raise SkillitError(f"the source has no training data for skills {train}")
    return w / w.sum()


def build_mixing(cfg: RunConfig, source: SkillSource, train: list[str], evals: list[str]) -> MixingPlan:
    m = cfg.mixing
    check_setting(m.setting, train, evals)
    graph = load_run_graph(cfg, train, evals)
    if graph is None and m.strategy in GRAPH_STRATEGIES:
        raise SkillitError(
            f"mixing.strategy={m.strategy} needs a skills graph: set mixing.graph.path "
            "(a file from `skillit graph learn`) or mixing.graph.matrix"
        )
    relevant = None
    if m.strategy == "stratified" and m.setting != "continual_pretraining":
        if graph is None:
            raise SkillitError(
                f"the stratified baseline in setting {m.setting} samples prerequisites of the "
                "targets, which come from the graph: set mixing.graph.path or mixing.graph.matrix"
            )
        relevant = stratified_mask(m.setting, train, evals, graph)
    strategy = build_strategy(
        m.strategy,
        train_skills=train,
        eval_skills=evals,
        graph=graph,
        eta=m.eta,
        window=m.window,
        weights=m.weights,
        schedule=[(e.start_round, e.weights) for e in m.schedule] or None,
        natural_proportions=natural_weights(source, train),
        relevant=relevant,
        stages=m.rounds,  # one curriculum stage per round
    )
    curriculum = strategy.schedule if isinstance(strategy, CurriculumStrategy) else None
    return MixingPlan(strategy, curriculum, strategy.initial_weights(), graph)
