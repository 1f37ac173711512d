"""`skillit train CONFIG [CONFIG ...] [key=value ...] [--resume RUN]`."""

from __future__ import annotations

import argparse

HELP = """\
Train a model on skill-weighted batches. CONFIG files are merged in order (later files win), then
key=value overrides, e.g.

  skillit train configs/experiment/lego.yaml trainer.max_steps=200 seed=3 mixing.strategy=skillit

Every run writes into its run directory (run_dir=..., default runs/<name>-<time>): config.yaml,
tokenizer.json, checkpoints/last.ckpt (saved at every round end), csv/metrics.csv, W&B offline
files (logger.wandb=offline|online|off), mixture_history.jsonl, final_eval.json and plots.
An interrupted run continues from its last round with --resume RUN_DIR (same mixture trajectory).
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a model with a mixing strategy (Skill-It, random, stratified, ...)",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "items",
        nargs="*",
        metavar="CONFIG|KEY=VALUE",
        help="YAML config files, then dot-list overrides such as trainer.max_steps=200",
    )
    p.add_argument(
        "--resume",
        metavar="RUN",
        help="a run directory (uses its checkpoints/last.ckpt and config.yaml) or a .ckpt file",
    )
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.set_defaults(run=run)


def run(args) -> int:
    from skillit.config import config_to_yaml
    from skillit.train import load_run_config

    files = [i for i in args.items if "=" not in i]
    overrides = [i for i in args.items if "=" in i]
    cfg, ckpt = load_run_config(files, overrides, args.resume)
    if args.print_config:
        print(config_to_yaml(cfg), end="")
        return 0

    import os
    import sys
    from pathlib import Path

    from skillit.train import RUN_DIR_ENV, is_launcher_process, train

    try:
        result = train(cfg, resume=ckpt)
    except KeyboardInterrupt:
        run_dir = Path(os.environ.get(RUN_DIR_ENV) or cfg.run_dir or "RUN_DIR")
        if (run_dir / "checkpoints" / "last.ckpt").is_file():
            hint = f"continue from the last finished round with: skillit train --resume {run_dir}"
        else:
            hint = f"no round had finished, so there is no checkpoint in {run_dir} to resume from"
        print(f"skillit train: interrupted; {hint}", file=sys.stderr)
        return 130
    if is_launcher_process():
        print_summary(result)
    return 0


def print_summary(result) -> None:
    width = max(len(s) for s in result.eval_skills)
    print(f"\nFinal evaluation at step {result.global_step} (run: {result.run_dir})")
    print(f"{'skill':<{width}}  {'loss':>8}  {'acc':>6}")
    for name, loss, acc in zip(result.eval_skills, result.loss, result.acc):
        print(f"{name:<{width}}  {loss:8.4f}  {acc * 100:5.1f}%")
    print(f"{'mean':<{width}}  {result.loss.mean():8.4f}  {result.acc.mean() * 100:5.1f}%")
