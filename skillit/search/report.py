"""What `skillit mixture search` leaves in its folder for a user to act on.

- `search.json`: the settings, the swarm's cost in tokens, the regression's cross-validated fit
  (Spearman, Pearson, MSE of each run predicted by the fold that held it out), the proposed
  mixture with its predicted target loss and the spread of the folds' predictions of it, the
  best mixtures of the swarm as measured, and the measured natural and uniform mixtures;
- `proposal.yaml`: the proposal as a config a run reads (`skillit train CONFIG proposal.yaml`);
- `search.png`: cross-validated predictions against the observed losses, and the proposal beside
  the natural mixture (with matplotlib);
- `engines/`: for a run on a prepared corpus, the proposal in every engine's file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from skillit.errors import SkillitError
from skillit.search.search import SearchResult, SearchSettings
from skillit.utils.safe_paths import save_figure


def summary(s: SearchSettings, r: SearchResult) -> dict:
    skills = r.swarm.skills
    order = np.argsort(r.target, kind="stable")
    mixtures = np.asarray(r.swarm.mixtures, float)
    measured = {tuple(np.round(m, 12)): float(t) for m, t in zip(mixtures, r.target)}
    anchors = {
        "natural": np.asarray(r.swarm.natural),
        "uniform": np.full(len(skills), 1.0 / len(skills)),
    }
    return {
        "target": s.target,
        "regressor": s.regressor,
        "swarm": {
            "runs": len(r.swarm.mixtures),
            "steps": r.swarm.steps,
            "cost_tokens": r.swarm.cost_tokens,
            "usable_runs": len(r.target),
        },
        "fit": {"folds": s.folds, **r.cv.scores},
        "proposal": {
            "weights": dict(zip(skills, map(float, r.proposal.weights))),
            "predicted": r.proposal.predicted,
            "predicted_std": r.proposal.predicted_std,
            "top_k": r.proposal.top_k,
            "candidates_within_limit": r.proposal.candidates,
        },
        "limit": {
            "final_tokens": s.final_tokens,
            "max_epochs": s.max_epochs,
            "largest_weight": dict(zip(skills, map(float, r.upper))),
        },
        # a measured mixture below the proposal's prediction: the regression found nothing better
        "measured_beats_prediction": bool(r.target.min() < r.proposal.predicted),
        "best_of_swarm": [
            {"weights": dict(zip(skills, map(float, mixtures[i]))), "observed": float(r.target[i])}
            for i in order[:5]
        ],
        "measured_baselines": {
            name: measured.get(tuple(np.round(w, 12))) for name, w in anchors.items()
        },
    }


def write_proposal_yaml(path: Path, skills: list[str], weights) -> Path:
    content = {
        "skills": {"train": skills},
        "mixing": {"strategy": "manual", "weights": [float(w) for w in weights]},
    }
    note = "# the mixture `skillit mixture search` proposes: skillit train CONFIG proposal.yaml\n"
    path.write_text(note + OmegaConf.to_yaml(OmegaConf.create(content)))
    return path


def plot_search(path: Path, r: SearchResult) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, (fit, bars) = plt.subplots(1, 2, figsize=(11, 4.2))
    fit.scatter(r.cv.predicted, r.target, s=14)
    low, high = (
        float(min(r.target.min(), r.cv.predicted.min())),
        float(max(r.target.max(), r.cv.predicted.max())),
    )
    fit.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
    fit.set_xlabel("predicted (held-out fold)")
    fit.set_ylabel("observed target loss")
    fit.set_title(f"swarm of {len(r.target)}: Spearman {r.cv.scores['spearman']:.3f}")
    x = np.arange(len(r.swarm.skills))
    bars.bar(x - 0.2, r.swarm.natural, width=0.4, label="natural")
    bars.bar(x + 0.2, r.proposal.weights, width=0.4, label="proposal")
    bars.set_xticks(x, r.swarm.skills, rotation=30, ha="right")
    bars.set_ylabel("weight")
    bars.legend()
    fig.tight_layout()
    try:
        save_figure(fig, path, dpi=100)
    finally:
        plt.close(fig)
    return path


def write_engine_exports(out: Path, s: SearchSettings, r: SearchResult) -> dict[str, Path]:
    """The proposal in every engine's file, for a search over a prepared corpus ({} otherwise)."""
    from skillit.config import load_config
    from skillit.export.engines import ENGINE_FORMATS, EngineMixture, corpus_domains, write_engine

    cfg = load_config([s.config], s.overrides)
    try:
        domains, dtype = corpus_domains(cfg)
    except SkillitError:
        return {}  # not a corpus: the skillit config is the export
    tokens_per_step = cfg.data.global_batch_size * cfg.model.max_seq_len
    total = int(s.final_tokens) if s.final_tokens else cfg.trainer.max_steps * tokens_per_step
    weights = [float(w) for w in r.proposal.weights]
    mix = EngineMixture(
        r.swarm.skills, weights, [(1, weights)], domains, total, tokens_per_step, dtype
    )
    folder = out / "engines"
    folder.mkdir(exist_ok=True)
    written = {}
    for fmt, spec in ENGINE_FORMATS.items():
        if spec.data is None:  # reads skillit's shards as they are
            written[fmt] = write_engine(fmt, mix, folder)
        else:
            print(
                f"skillit: {fmt}: write its data with `skillit corpus export CORPUS DIR --format "
                f"{spec.data}`, then `skillit mixture export RUN --format {fmt} --data DIR` on a run "
                "trained with proposal.yaml (a manual mixture: any length gives its weights)"
            )
    return written


def write_outputs(s: SearchSettings, r: SearchResult) -> dict[str, Path]:
    out = s.out
    paths = {
        "summary": out / "search.json",
        "proposal": write_proposal_yaml(out / "proposal.yaml", r.swarm.skills, r.proposal.weights),
    }
    tmp = out / ".search.json.tmp"
    tmp.write_text(json.dumps(summary(s, r), indent=2) + "\n")
    tmp.replace(paths["summary"])
    plot = plot_search(out / "search.png", r)
    if plot is not None:
        paths["plot"] = plot
    paths.update(write_engine_exports(out, s, r))
    return paths
