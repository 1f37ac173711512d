"""`skillit mixture search`: plan the swarm, train it, fit, propose, write what a user acts on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skillit.build import build_source, resolve_skills
from skillit.config import load_config
from skillit.errors import SkillitError
from skillit.search.prior import repetition_limit, sample_mixtures
from skillit.search.propose import Proposal, propose
from skillit.search.regression import CrossValidation, cross_validate, make_regressor
from skillit.search.swarm import Swarm, run_swarm, save_or_check, swarm_losses, target_of
from skillit.sources import registry as sources


@dataclass
class SearchSettings:
    config: Path
    overrides: list[str]
    out: Path
    runs: int
    steps: int | None = None  # None: a quarter of the config's trainer.max_steps
    target: str = "mean"
    regressor: str = "loglinear"
    final_tokens: float | None = None
    max_epochs: float = 4.0
    folds: int = 5
    top_k: int = 100
    candidates: int = 100_000
    seed: int = 0
    jobs: int = 1
    threads: int = 1
    progress: bool = True


@dataclass
class SearchResult:
    swarm: Swarm
    losses: np.ndarray  # (runs, eval skills)
    target: np.ndarray  # per run
    cv: CrossValidation
    proposal: Proposal
    upper: np.ndarray  # each domain's largest weight under the repetition limit


def plan_swarm(s: SearchSettings) -> tuple[Swarm, np.ndarray]:
    """The swarm of `s` (its mixtures drawn from the prior) and the repetition limit."""
    if s.runs < 4:
        raise SkillitError(f"--runs must be >= 4 (a regression needs runs to fit), got {s.runs}")
    cfg = load_config([s.config], s.overrides)
    source = build_source(cfg)
    train, evals = resolve_skills(cfg, source)
    names = list(source.skill_names)
    ids = [names.index(t) for t in train]
    natural = np.asarray(source.natural_proportions(), float)[ids]
    tokens = None
    if sources.get(cfg.data.source).capabilities.token_counts:
        tokens = np.asarray(source.train_token_counts(), float)[ids]
    elif s.final_tokens is not None:
        raise SkillitError(
            f"--final-tokens needs a source that counts its tokens (a prepared corpus); "
            f"data.source={cfg.data.source} does not"
        )
    upper = repetition_limit(
        tokens if tokens is not None else np.ones(len(ids)), s.final_tokens, s.max_epochs
    )
    steps = s.steps or max(1, cfg.trainer.max_steps // 4)
    rng = np.random.default_rng([s.seed, 0])
    mixtures = sample_mixtures(natural, s.runs, rng, upper)
    width = cfg.model.max_seq_len if tokens is not None else 0  # tokens counted for corpora only
    swarm = Swarm(
        config=str(s.config),
        overrides=list(s.overrides),
        steps=steps,
        seed=s.seed,
        skills=train,
        eval_skills=evals,
        mixtures=mixtures.tolist(),
        tokens_per_step=cfg.data.global_batch_size * width,
        natural=(natural / natural.sum()).tolist(),
        train_tokens=None if tokens is None else tokens.tolist(),
    )
    return swarm, upper


def fit_and_propose(s: SearchSettings, swarm: Swarm, losses: np.ndarray, upper) -> SearchResult:
    y = target_of(losses, swarm.eval_skills, s.target)
    usable = np.isfinite(y)
    if usable.sum() < 4:
        raise SkillitError(
            f"only {int(usable.sum())} of {len(y)} swarm runs have a finite {s.target} loss: "
            "a regression needs at least 4 (the runs diverged: lower optim.lr, or check the data)"
        )
    X = np.asarray(swarm.mixtures, float)[usable]
    y = y[usable]
    if np.ptp(y) == 0:
        raise SkillitError("every swarm run has the same target loss: nothing to regress")
    rng = np.random.default_rng([s.seed, 1])
    cv = cross_validate(s.regressor, X, y, s.folds, rng)
    model = make_regressor(s.regressor).fit(X, y)
    proposal = propose(model, cv.models, swarm.natural, upper, rng, s.candidates, s.top_k)
    return SearchResult(swarm, losses[usable], y, cv, proposal, np.asarray(upper))


def run_search(s: SearchSettings) -> SearchResult:
    swarm, upper = plan_swarm(s)
    save_or_check(swarm, s.out)
    run_swarm(swarm, s.out, s.jobs, s.threads, s.progress)
    return fit_and_propose(s, swarm, swarm_losses(swarm, s.out), upper)
