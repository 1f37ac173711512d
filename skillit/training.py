"""Train one run: the Trainer, its loggers and callbacks around the objects of the build layer.

`train(cfg)` is the whole job; everything it trains on comes from `skillit.build`. It installs no
signal handlers, warning filters or environment variables: those belong to the process entry
points (`skillit.commands`, bench and probe workers).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, WandbLogger
from omegaconf import OmegaConf

from skillit.build import RunParts, build_run
from skillit.callbacks.assemble import run_callbacks
from skillit.callbacks.progress import progress_callbacks
from skillit.config import RunConfig, config_to_yaml
from skillit.data import SkillDataModule
from skillit.errors import SkillitError
from skillit.model.module import EvalResult, SkillLM
from skillit.run.checkpoints import RoundCheckpoint, read_checkpoint
from skillit.run.directory import (
    CONFIG_FILE,
    EVAL_FILE,
    FINAL_FILE,
    RUN_LAYOUT,
    RUN_MARKER,
    RunLock,
    is_launcher_process,
    resolve_run_dir,
)
from skillit.run.inputs import write_inputs
from skillit.utils import jsonio
from skillit.utils.kill_points import kill_point
from skillit.utils.safe_paths import claim_names, inside_for_writing, write_inside

log = logging.getLogger("skillit")


@dataclass
class TrainResult:
    run_dir: Path
    eval_skills: list[str]
    loss: np.ndarray
    acc: np.ndarray
    global_step: int
    show: str = "acc"  # what the summary reports besides the loss: "acc", or "ppl" for a corpus
    graph_steps: int | None = None  # what learning the graph in the run cost (mixing.graph.learn)

    def per_skill(self) -> dict[str, dict[str, float]]:
        """{skill: {"loss": ..., "acc": ...}} at the end of training."""
        return {
            s: {"loss": float(loss), "acc": float(acc)}
            for s, loss, acc in zip(self.eval_skills, self.loss, self.acc)
        }


def build_loggers(cfg: RunConfig, run_dir: Path, resumed: bool = False) -> list:
    loggers: list = []
    if cfg.logger.csv:
        # A resumed run logs into csv/resume-N: CSVLogger would overwrite csv/metrics.csv.
        version = ""
        if resumed:
            version = f"resume-{len(list((run_dir / 'csv').glob('resume-*'))) + 1}"
        loggers.append(CSVLogger(save_dir=str(run_dir), name="csv", version=version))
    if cfg.logger.wandb != "off" and is_launcher_process() and os.environ.get("RANK", "0") == "0":
        import wandb  # optional at run time: only runs that log to W&B load it

        # The run is started here, by the global rank 0 only (not by WandbLogger, whose default
        # settings make W&B warn); the other ranks of a DDP run log nothing to W&B.
        experiment = wandb.init(
            project=cfg.logger.project,
            name=cfg.name,
            dir=str(run_dir),
            mode=cfg.logger.wandb,
        )
        loggers.append(
            WandbLogger(
                experiment=experiment,
                save_dir=str(run_dir),
                offline=cfg.logger.wandb == "offline",
            )
        )
    return loggers


def build_trainer(
    cfg: RunConfig, run_dir: Path, lengths: list[int], callbacks: list, loggers: list
):
    """The Lightning Trainer of a run: one epoch per round, bounded by the step budget."""
    # checkpoints/last.ckpt, written whole at every round end (what --resume reads), after every
    # other callback has updated its state for the round.
    checkpoint = RoundCheckpoint(run_dir, cfg.trainer.checkpoint_every, cfg.mixing.eval_every)
    progress = progress_callbacks(
        cfg.mixing.rounds, cfg.trainer.max_steps, cfg.trainer.progress_bar
    )
    return L.Trainer(
        max_steps=cfg.trainer.max_steps,
        # Bounded by steps only: resuming from a round-end checkpoint replays that epoch's end,
        # which Lightning counts as an extra epoch. max_steps ends exactly at the last round's end.
        max_epochs=-1,
        accelerator=cfg.trainer.accelerator,
        devices=cfg.trainer.devices,
        num_nodes=cfg.trainer.num_nodes,
        strategy=cfg.trainer.strategy,
        precision=cfg.trainer.precision,
        gradient_clip_val=cfg.optim.grad_clip or None,
        reload_dataloaders_every_n_epochs=1,  # a new loader per round carries the new mixture
        use_distributed_sampler=False,  # the data module shards by rank itself
        num_sanity_val_steps=0,
        check_val_every_n_epoch=1,
        val_check_interval=cfg.mixing.eval_every,  # None: once per round, at its end
        log_every_n_steps=min(cfg.trainer.log_every_n_steps, min(lengths)),  # log every round
        # a live bar only where progress_callbacks chose one (a terminal)
        enable_progress_bar=any(isinstance(c, TQDMProgressBar) for c in progress),
        enable_model_summary=False,
        deterministic=cfg.trainer.deterministic,
        logger=loggers or False,
        enable_checkpointing=False,  # RoundCheckpoint writes them
        callbacks=[*callbacks, checkpoint, *progress],
        default_root_dir=str(run_dir),
    )


def check_runtime(cfg: RunConfig) -> None:
    """Refuse, before any run folder exists, what this machine cannot do (names the key)."""
    t = cfg.trainer
    if t.accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise SkillitError(
            f"trainer.accelerator={t.accelerator} but no GPU is visible to torch "
            f"(torch {torch.__version__}); use trainer.accelerator=cpu or auto"
        )
    if t.accelerator == "mps" and not torch.backends.mps.is_available():
        raise SkillitError("trainer.accelerator=mps but MPS is not available; use cpu or auto")
    if t.accelerator == "tpu":
        raise SkillitError("trainer.accelerator=tpu is not supported by skillit; use gpu or cpu")
    wanted = int(t.devices) if str(t.devices).isdigit() else None
    gpu = t.accelerator in ("gpu", "cuda") or (
        t.accelerator == "auto" and torch.cuda.is_available()
    )
    if wanted and gpu and wanted > torch.cuda.device_count():
        raise SkillitError(
            f"trainer.devices={wanted} but {torch.cuda.device_count()} GPU(s) are visible"
        )


def train(
    cfg: RunConfig,
    resume: str | Path | None = None,
    extra_callbacks: list | None = None,
    run_dir: Path | None = None,
    graph_steps: int | None = None,
) -> TrainResult:
    """Train one run end to end; returns the final per-skill evaluation.

    `resume` is a checkpoint to continue from; `extra_callbacks` are added to the Trainer (e.g. to
    stop a run early in tests). `run_dir`: the folder a caller has already checked and claimed
    (`skillit train` does); None checks the machine and resolves the folder here. `graph_steps`:
    what learning the run's graph cost (mixing.graph.learn; learned by the caller, see
    skillit.graphlearn.in_run), reported in final_eval.json.
    """
    if run_dir is None:
        check_runtime(cfg)
        run_dir = resolve_run_dir(cfg)
    if cfg.mixing.graph.learn is not None:
        cfg.run_dir = str(run_dir)  # where the build reads the learned graph
    if not is_launcher_process():  # a DDP child: the launcher holds the lock
        return _train(cfg, run_dir, resume, extra_callbacks, graph_steps)
    with RunLock(run_dir):
        return _train(cfg, run_dir, resume, extra_callbacks, graph_steps)


def build_datamodule(parts: RunParts) -> SkillDataModule:
    """The run's data module, from the settings of the build layer."""
    return SkillDataModule(parts.source, parts.train_skills, parts.eval_skills, **vars(parts.data))


def write_run_files(cfg: RunConfig, run_dir: Path, parts: RunParts) -> None:
    """A fresh run's own files, before training (a resume keeps the run's)."""
    claim_names(run_dir, RUN_LAYOUT)  # first: what --overwrite may delete here, and no more
    write_inside(run_dir, RUN_MARKER, "")  # marks the folder as a run (for --overwrite)
    write_inside(run_dir, CONFIG_FILE, config_to_yaml(cfg))
    write_inside(run_dir, "tokenizer.json", parts.source.tokenizer.to_str(pretty=True))
    write_inputs(run_dir, cfg)  # the files it reads, so a resume can tell if one changed


def build_module(cfg: RunConfig, parts: RunParts) -> SkillLM:
    return SkillLM(
        parts.network,
        parts.eval_skills,
        cfg.optim,
        total_steps=cfg.trainer.max_steps,
        train_loss=cfg.model.train_loss,
        pad_id=parts.source.pad_id,
        eval_loss=cfg.model.eval_loss,
        keep_row_losses=parts.mixing.strategy.in_round.row_losses,
    )


def _train(
    cfg: RunConfig, run_dir: Path, resume, extra_callbacks, graph_steps: int | None = None
) -> TrainResult:
    if resume is not None:
        read_checkpoint(resume)  # before anything in the run directory changes
    if cfg.trainer.threads:
        torch.set_num_threads(cfg.trainer.threads)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    parts = build_run(cfg)
    dm = build_datamodule(parts)
    module = build_module(cfg, parts)
    if is_launcher_process() and resume is None:
        write_run_files(cfg, run_dir, parts)
    assembled = run_callbacks(cfg, parts, run_dir)
    loggers = build_loggers(cfg, run_dir, resumed=resume is not None)
    callbacks = [*assembled.callbacks, *(extra_callbacks or [])]
    trainer = build_trainer(cfg, run_dir, dm.round_lengths, callbacks, loggers)
    log.info(
        "training on %d x %s (%s), %d process(es); run directory %s",
        trainer.num_devices,
        type(trainer.accelerator).__name__.removesuffix("Accelerator").lower(),
        cfg.trainer.precision,
        trainer.world_size,
        run_dir,
    )
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True))
    try:
        show = "ppl" if parts.source_spec.capabilities.metric == "perplexity" else "acc"
        out = _fit(trainer, module, dm, resume, run_dir, parts.eval_skills, show, graph_steps)
        assembled.record.draw_plots(trainer)  # results first: a plot can only fail after them
    finally:
        _finish_wandb(cfg)
    return out


def _fit(
    trainer,
    module,
    dm,
    resume,
    run_dir: Path,
    eval_skills: list[str],
    show: str,
    graph_steps: int | None = None,
) -> TrainResult:
    """Train, then write final_eval.json (before anything else that could fail): the loss per
    skill and, as `show` says, the accuracy or (a corpus) the perplexity; with a graph learned in
    the run, what learning it cost in training steps."""
    inside_for_writing(run_dir, FINAL_FILE)  # a link planted there: refused now, not after training
    try:
        # weights only: a checkpoint is a pickle, and this never lets it run code
        ckpt = str(resume) if resume else None
        trainer.fit(module, datamodule=dm, ckpt_path=ckpt, weights_only=True)
    except SystemExit:
        # Lightning exits after a graceful Ctrl-C shutdown; report it as the interrupt it was.
        if trainer.interrupted:
            raise KeyboardInterrupt from None
        raise
    if trainer.interrupted:
        raise KeyboardInterrupt
    kill_point("train.final_eval")
    result = module.last_eval
    if result is None and resume is not None:
        # killed after the last round's checkpoint, before final_eval.json: that checkpoint's
        # weights were evaluated before it was saved, and the evaluation is on record
        result = recorded_evaluation(run_dir / EVAL_FILE, trainer.global_step, eval_skills)
    if result is None:
        raise RuntimeError("training ended without an evaluation")
    out = TrainResult(
        run_dir, eval_skills, result.loss, result.acc, trainer.global_step, show, graph_steps
    )
    if trainer.is_global_zero:
        summary = {
            "global_step": out.global_step,
            "eval_loss": dict(zip(eval_skills, map(float, out.loss))),
            **final_metric(eval_skills, out.loss, out.acc, show),
        }
        if graph_steps is not None:  # beside the run's own steps, not inside trainer.max_steps
            summary["graph_learning_steps"] = graph_steps
        write_inside(run_dir, FINAL_FILE, jsonio.dumps(summary, indent=2) + "\n")
    return out


def recorded_evaluation(path: Path, step: int, skills: list[str]) -> EvalResult | None:
    """The evaluation eval_history.jsonl holds for `step` (the last one there), if any."""
    if not path.is_file():
        return None
    found = None
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
            if record["step"] == step:
                found = record
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a kill: not this step's record
    if found is None or sorted(found["eval_loss"]) != sorted(skills):
        return None
    loss = np.array([found["eval_loss"][s] for s in skills], dtype=np.float64)
    acc = np.array([found["eval_acc"][s] for s in skills], dtype=np.float64)
    return EvalResult(step=step, loss=loss, acc=acc)


def final_metric(skills: list[str], loss, acc, show: str) -> dict[str, dict[str, float]]:
    """final_eval.json's second metric: the accuracy per skill, or for a corpus (whose exact
    match of a whole window means nothing) the perplexity per domain and of the mean loss."""
    if show == "acc":
        return {"eval_acc": dict(zip(skills, map(float, acc)))}
    return {
        "eval_ppl": {s: float(np.exp(value)) for s, value in zip(skills, loss)},
        "ppl_of_mean_loss": float(np.exp(np.mean(loss))),
    }


def _finish_wandb(cfg: RunConfig) -> None:
    """Close the W&B run so its offline files are complete and a next run starts its own."""
    if cfg.logger.wandb == "off":
        return
    import wandb  # optional at run time: only runs that log to W&B load it

    if wandb.run is not None:
        wandb.finish()
