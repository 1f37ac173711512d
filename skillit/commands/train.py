"""`skillit train CONFIG [CONFIG ...] [key=value ...] [--resume RUN]`."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from pathlib import Path

from skillit.commands.common import add_config_items, split_items
from skillit.config import config_to_yaml
from skillit.errors import SkillitError
from skillit.run.directory import (
    CHECKPOINT,
    RUN_DIR_ENV,
    RunLock,
    check_config_unedited,
    claim_fresh_run_dir,
    graph_learning_unfinished,
    is_launcher_process,
    load_run_config,
    plan_resume,
    record_resume,
    resolve_run_dir,
)
from skillit.run.inputs import check_inputs_unchanged
from skillit.utils.quiet import quiet_known_warnings, quiet_lightning, show_skillit_info

HELP = """\
Train a model on skill-weighted batches. CONFIG files are merged in order (later files win), then
key=value overrides. A CONFIG is a YAML path or the name of a shipped experiment
(`skillit train lego_cpt` reads experiment/lego_cpt.yaml of the installed configs), e.g.

  skillit train ordered                            (the quick start: Skill-It, ordered skills)
  skillit train ordered mixing.strategy=stratified (the same with a fixed uniform mixture)
  skillit train lego_cpt mixing.strategy=stratified trainer.max_steps=600

Every run writes into its run directory (run_dir=..., default runs/<name>-<strategy>-<time>): config.yaml,
tokenizer.json, checkpoints/last.ckpt (saved at every round end), csv/metrics.csv, W&B files
unless logger.wandb=off (the CPU experiments set it off; logger.wandb=offline turns them on),
mixture_history.jsonl, final_eval.json and plots.
An interrupted run continues from its last round with --resume RUN_DIR (same mixture trajectory).
"""


def strategies_help() -> str:
    """The mixing.strategy values with their one-line summaries (from the registry)."""
    from skillit.mixing import registry  # numpy only: the parser stays light

    width = max(map(len, registry.names()))
    lines = [f"  {name:<{width}}  {registry.get(name).summary}" for name in registry.names()]
    return (
        "mixing strategies (mixing.strategy=NAME; options under mixing.<family>.*):\n"
        + "\n".join(lines)
    )


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a model with a mixing strategy (Skill-It, random, stratified, ...)",
        description=HELP,
        epilog=strategies_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_items(p, "*", "experiment")
    p.add_argument(
        "--resume",
        metavar="RUN",
        help="a run directory (uses its checkpoints/last.ckpt and config.yaml) or a .ckpt file",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start again in a run_dir that already holds a run (its files are deleted)",
    )
    p.add_argument(
        "--accept-changed-inputs",
        action="store_true",
        help="with --resume: go on although a file the run reads (graph, tokenizer, corpus "
        "manifest, reference checkpoint) changed since it started; recorded in resumes.jsonl",
    )
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument(
        "--list", action="store_true", help="list the shipped experiments (CONFIG names) and exit"
    )
    p.set_defaults(run=run, parser=p)


def list_experiments() -> str:
    """Each shipped experiment with the first line of its leading comment."""
    from skillit.utils.shipped import EXPERIMENT_DIR

    rows = []
    for path in sorted(EXPERIMENT_DIR.glob("*.yaml")):
        comment = next(
            (
                line.lstrip("# ").strip()
                for line in path.read_text().splitlines()
                if line.startswith("#")
            ),
            "",
        )
        rows.append((path.stem, comment))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {comment}" for name, comment in rows)


def run(args) -> int:
    if args.list:
        print(list_experiments())
        return 0
    files, overrides = split_items(args.items)
    if args.resume and args.overwrite:
        raise SkillitError("--resume continues a run and --overwrite starts it again: choose one")
    if args.accept_changed_inputs and not args.resume:
        raise SkillitError("--accept-changed-inputs goes with --resume RUN_DIR (a resumed run)")
    show_skillit_info()  # before the config loads: it may say what it leaves unused
    resume = plan_resume(args.resume, files, overrides) if args.resume else None
    cfg = resume.cfg if resume else load_run_config(files, overrides)
    if args.print_config:
        print(config_to_yaml(cfg), end="")
        return 0
    if resume and resume.finished_step is not None:
        print(
            f"skillit train: {resume.run_dir} is finished (step {resume.finished_step} of "
            f"{cfg.trainer.max_steps}); its results are in {resume.run_dir / 'final_eval.json'}"
        )
        return 0

    from skillit.training import check_runtime  # torch and Lightning load only now

    quiet_known_warnings()
    quiet_lightning()
    os.environ.setdefault("WANDB_SILENT", "true")
    check_runtime(cfg)  # before any run folder is made
    made = cfg.run_dir is None or not Path(cfg.run_dir).exists()
    run_dir = resolve_run_dir(cfg)
    cfg.run_dir = str(run_dir)
    os.environ[RUN_DIR_ENV] = str(run_dir.resolve())  # DDP children re-run argv: same directory
    sigint = signal.getsignal(signal.SIGINT)  # Lightning ignores Ctrl-C after an interrupt
    try:
        result = _train_locked(cfg, run_dir, resume, args.overwrite, args.accept_changed_inputs)
    except KeyboardInterrupt:
        print(f"skillit train: interrupted; {_resume_hint(run_dir)}", file=sys.stderr)
        return 130
    except BaseException:
        # A run that failed before writing anything leaves no empty folder behind.
        if made and is_launcher_process() and run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()
        raise
    finally:
        signal.signal(signal.SIGINT, sigint)
    if is_launcher_process():
        print_summary(result)
    return 0


def _train_locked(cfg, run_dir: Path, resume, overwrite: bool, accept_changed: bool = False):
    """Claim the folder (or check the resume) and train, under the run's lock. The lock comes
    before anything in the folder changes: --overwrite of a run that is still training, or a
    refused resume (a bad checkpoint), deletes and writes nothing."""
    from skillit.graphlearn.in_run import learn_before_training
    from skillit.run.checkpoints import read_checkpoint
    from skillit.training import train

    ckpt = resume.checkpoint if resume else None
    lock = RunLock(run_dir) if is_launcher_process() else contextlib.nullcontext()
    with lock:
        if resume is None and is_launcher_process():
            claim_fresh_run_dir(run_dir, overwrite=overwrite)
        if resume and ckpt is None:  # stopped while learning its graph: learn on, then train
            steps = learn_before_training(cfg, run_dir, fresh=False)
            return train(cfg, resume=None, run_dir=run_dir, graph_steps=steps)
        if resume and is_launcher_process():
            state = read_checkpoint(ckpt)  # a broken checkpoint: reported before any write
            check_config_unedited(run_dir, state)
            accepted = check_inputs_unchanged(run_dir, accept=accept_changed)
            record_resume(run_dir, cfg, resume.changed, ckpt, changed_inputs=accepted)
        # a resumed run re-reads its probes (nothing trains again) to report what they cost
        steps = learn_before_training(cfg, run_dir, fresh=resume is None)
        return train(cfg, resume=ckpt, run_dir=run_dir, graph_steps=steps)


def _resume_hint(run_dir: Path) -> str:
    if graph_learning_unfinished(run_dir):
        return (
            "it stopped while learning its graph; continue (the finished probes are kept) with: "
            f"skillit train --resume {run_dir}"
        )
    if (run_dir / CHECKPOINT).is_file():
        return f"continue from the last finished round with: skillit train --resume {run_dir}"
    return (
        f"no round had finished, so there is no checkpoint in {run_dir} to resume from; "
        "start it again with --overwrite"
    )


def print_summary(result) -> None:
    import numpy as np

    width = max(len(s) for s in result.eval_skills)
    print(f"\nFinal evaluation at step {result.global_step} (run: {result.run_dir})")
    if result.graph_steps is not None:
        print(
            f"(its graph was learned first in {result.graph_steps} training steps of probes, "
            "not counted in the step above)"
        )
    if result.show == "ppl":  # a corpus: exact match of a whole window means nothing
        print(f"{'domain':<{width}}  {'loss':>8}  {'ppl':>10}")
        for name, loss in zip(result.eval_skills, result.loss):
            print(f"{name:<{width}}  {loss:8.4f}  {np.exp(loss):10.2f}")
        mean = result.loss.mean()  # its perplexity: the geometric mean of the domains'
        print(f"{'mean':<{width}}  {mean:8.4f}  {np.exp(mean):10.2f}")
        return
    print(f"{'skill':<{width}}  {'loss':>8}  {'acc':>6}")
    for name, loss, acc in zip(result.eval_skills, result.loss, result.acc):
        print(f"{name:<{width}}  {loss:8.4f}  {acc * 100:5.1f}%")
    print(f"{'mean':<{width}}  {result.loss.mean():8.4f}  {result.acc.mean() * 100:5.1f}%")
