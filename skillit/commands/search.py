"""`skillit mixture search CONFIG [KEY=VALUE ...]`: an offline mixture search (RegMix-style)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from skillit.commands.common import add_config_items, split_items
from skillit.errors import SkillitError

HELP = """\
Which fixed mixture should a long run train on? Train a swarm of short proxy runs, each on a
mixture drawn around the data's natural proportions (Dirichlet draws of strength 0.1-5: sparse,
extreme and near-natural mixtures; the natural and uniform mixtures first), regress the target
loss on the mixture, and propose the mean of the 100 best of 100,000 candidate mixtures by the
regression, within a repetition limit for the final budget:

  skillit mixture search domains_cpu data.tokens.path=corpus --runs 32 --steps 100 --jobs 2
  skillit mixture search domains_cpu data.tokens.path=corpus --runs 32 --target pydoc \\
      --final-tokens 2e8 --max-epochs 4

Writes into --out: swarm.json (the mixtures, fixed before any run), swarm/ (one run each),
search.json (the proposal, its predicted loss and the spread of the cross-validation folds'
predictions, the fit's held-out rank correlation, the swarm's best mixtures and its cost in
tokens), proposal.yaml (train on it: skillit train CONFIG proposal.yaml), search.png and, for a
prepared corpus, engines/ (the proposal in every engine's file). A search killed while its swarm
trains continues with the same command: finished runs are kept.
Regressors: loglinear, L = c + exp(a + b.w) (default; the Data Mixing Laws' form), linear
(RegMix's linear regression), lightgbm (RegMix's trees; pip install 'skillit[search]').
"""


def register(sub) -> None:
    p = sub.add_parser(
        "search",
        help="find a fixed mixture by a swarm of short proxy runs and a regression (RegMix)",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_items(p, "+", "experiment")
    p.add_argument(
        "--runs",
        type=int,
        default=None,
        metavar="N",
        help="proxy runs (default: 8 per training skill, at least 16)",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        metavar="S",
        help="steps of each proxy run (default: a quarter of trainer.max_steps)",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="the search folder (default searches/<config name>); rerun into it to continue",
    )
    p.add_argument(
        "--target",
        default="mean",
        help="mean (over eval skills, default), worst, or an eval skill's name",
    )
    p.add_argument("--regressor", default="loglinear", choices=("loglinear", "linear", "lightgbm"))
    p.add_argument(
        "--final-tokens",
        type=float,
        default=None,
        metavar="T",
        help="tokens of the run the mixture is for: with --max-epochs, limits each domain's weight",
    )
    p.add_argument(
        "--max-epochs",
        type=float,
        default=4.0,
        metavar="E",
        help="the most epochs of a domain at --final-tokens (default 4)",
    )
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="draws the mixtures, the folds and the proxies' seed (default 0)",
    )
    p.add_argument("--jobs", type=int, default=1, help="proxy runs at a time (default 1)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per proxy run (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run, parser=p)


def settings_of(args):
    from skillit.config import load_config
    from skillit.search.search import SearchSettings

    files, overrides = split_items(args.items)
    if len(files) != 1:
        raise SkillitError(
            f"give one experiment config (a file or a shipped name), got {len(files)}"
        )
    cfg = load_config(files, overrides)
    for flag in ("runs", "steps", "folds", "jobs", "threads"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise SkillitError(f"--{flag} must be >= 1, got {value}")
    runs = args.runs
    if runs is None:
        from skillit.build import build_source, resolve_skills

        runs = max(16, 8 * len(resolve_skills(cfg, build_source(cfg))[0]))
    return SearchSettings(
        config=files[0].resolve(),
        overrides=overrides,
        out=Path(args.out or Path("searches") / cfg.name).resolve(),
        runs=runs,
        steps=args.steps,
        target=args.target,
        regressor=args.regressor,
        final_tokens=args.final_tokens,
        max_epochs=args.max_epochs,
        folds=args.folds,
        seed=args.seed,
        jobs=args.jobs,
        threads=args.threads,
        progress=not args.no_progress and sys.stderr.isatty(),
    )


def run(args) -> int:
    from skillit.search.report import write_outputs
    from skillit.search.search import run_search

    settings = settings_of(args)
    print(f"skillit: mixture search in {settings.out}: {settings.runs} proxy runs", flush=True)
    result = run_search(settings)
    paths = write_outputs(settings, result)
    p = result.proposal
    fit = result.cv.scores
    print(
        f"swarm: {len(result.target)} runs, {result.swarm.cost_tokens:,} training tokens; "
        f"held-out fit: Spearman {fit['spearman']:.3f}, Pearson {fit['pearson']:.3f}"
    )
    mix = "  ".join(f"{s} {w:.3f}" for s, w in zip(result.swarm.skills, p.weights))
    print(f"proposal: {mix}")
    print(
        f"predicted {settings.target} loss {p.predicted:.4f} (folds' spread {p.predicted_std:.4f})"
    )
    warn_if_measured_better(result)
    for key, path in paths.items():
        print(f"{key}: {path}")
    return 0


def warn_if_measured_better(result) -> None:
    """Say so when a mixture the swarm measured beats the proposal's predicted loss."""
    best = int(result.target.argmin())
    predicted = result.proposal.predicted
    if result.target[best] >= predicted:
        return
    measured = "  ".join(
        f"{s} {w:.3f}" for s, w in zip(result.swarm.skills, result.swarm.mixtures[best])
    )
    print(
        f"skillit: warning: a mixture the swarm measured did better than the proposal is "
        f"predicted to ({result.target[best]:.4f} < {predicted:.4f}): {measured}; compare both "
        "at the full budget before choosing"
    )
