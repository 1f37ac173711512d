"""Build every object a run needs from a RunConfig and train. Each builder can be used on its own."""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skillit.config import RunConfig, config_to_yaml, load_config
from skillit.errors import SkillitError
from skillit.sampling import round_lengths
from skillit.sources.base import SkillSource

RUN_DIR_ENV = "SKILLIT_RUN_DIR"


def build_source(cfg: RunConfig) -> SkillSource:
    name = cfg.data.source
    if name == "lego":
        from skillit.sources.synthetic import LegoSource

        return LegoSource(cfg.data.lego)
    if name == "addition":
        from skillit.sources.synthetic import AdditionSource

        return AdditionSource(cfg.data.addition)
    if name == "jsonl":
        from skillit.sources.jsonl import JsonlSource

        return JsonlSource(cfg.data.jsonl)
    from skillit.sources.natinst import NatInstSource

    return NatInstSource(cfg.data.natinst)


def resolve_skills(cfg: RunConfig, source: SkillSource) -> tuple[list[str], list[str]]:
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
    return train, evals


def build_network(cfg: RunConfig, vocab_size: int):
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


def load_initial_weights(network, path: str) -> None:
    """Copy the network weights of a skillit checkpoint (model.init_from) into `network`."""
    import torch

    if not Path(path).is_file():
        raise SkillitError(f"model.init_from: no checkpoint at {path}")
    state = torch.load(path, map_location="cpu", weights_only=False)
    weights = {
        k.removeprefix("network."): v for k, v in state.get("state_dict", state).items() if k.startswith("network.")
    }
    try:
        network.load_state_dict(weights)
    except RuntimeError as exc:
        raise SkillitError(f"model.init_from: {path} does not fit this model: {str(exc).splitlines()[0]}") from exc


def is_launcher_process() -> bool:
    """True in the process a user started (not a DDP child re-launched by Lightning)."""
    return int(os.environ.get("LOCAL_RANK", "0")) == 0 and int(os.environ.get("NODE_RANK", "0")) == 0


def resolve_run_dir(cfg: RunConfig) -> Path:
    # DDP children re-run the command line; they must write into the parent's directory.
    if not is_launcher_process() and os.environ.get(RUN_DIR_ENV):
        return Path(os.environ[RUN_DIR_ENV])
    if cfg.run_dir:
        path = Path(cfg.run_dir)
    else:
        path = Path("runs") / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path.mkdir(parents=True, exist_ok=True)
    os.environ[RUN_DIR_ENV] = str(path.resolve())
    return path


def check_lengths(cfg: RunConfig, source: SkillSource, dm) -> None:
    width = dm.validation_examples().input_ids.shape[1]
    if width > cfg.model.max_seq_len:
        raise SkillitError(
            f"samples are {width} tokens long but model.max_seq_len={cfg.model.max_seq_len}; "
            f"set model.max_seq_len >= {width}"
        )


@dataclass
class TrainResult:
    run_dir: Path
    eval_skills: list[str]
    loss: np.ndarray
    acc: np.ndarray
    global_step: int


def build_loggers(cfg: RunConfig, run_dir: Path, resumed: bool = False) -> list:
    from lightning.pytorch.loggers import CSVLogger, WandbLogger

    loggers: list = []
    if cfg.logger.csv:
        # A resumed run logs into csv/resume-N: CSVLogger would overwrite csv/metrics.csv.
        version = ""
        if resumed:
            version = f"resume-{len(list((run_dir / 'csv').glob('resume-*'))) + 1}"
        loggers.append(CSVLogger(save_dir=str(run_dir), name="csv", version=version))
    if cfg.logger.wandb != "off":
        os.environ.setdefault("WANDB_SILENT", "true")
        loggers.append(
            WandbLogger(
                project=cfg.logger.project,
                name=cfg.name,
                save_dir=str(run_dir),
                offline=cfg.logger.wandb == "offline",
            )
        )
    return loggers


def quiet_known_warnings() -> None:
    """Hide warnings that do not apply to skillit's loaders (they shard by worker themselves)."""
    import warnings

    warnings.filterwarnings("ignore", message=".*IterableDataset. has .__len__. defined.*")
    warnings.filterwarnings("ignore", message=".*isinstance.treespec, LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*litlogger.*")


def build_trainer(cfg: RunConfig, run_dir: Path, lengths: list[int], callbacks: list, loggers: list):
    """The Lightning Trainer of a run: one epoch per round, bounded by the step budget."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    # One file, checkpoints/last.ckpt, rewritten at every round end: what --resume reads.
    # (save_last needs save_top_k > 0 to write at epoch ends, so name the top-1 file "last".)
    checkpoint = ModelCheckpoint(
        dirpath=str(run_dir / "checkpoints"),
        filename="last",
        save_top_k=1,
        every_n_epochs=1,
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )
    return L.Trainer(
        max_steps=cfg.trainer.max_steps,
        # Bounded by steps only: resuming from a round-end checkpoint replays that epoch's end,
        # which Lightning counts as an extra epoch. max_steps ends exactly at the last round's end.
        max_epochs=-1,
        accelerator=cfg.trainer.accelerator,
        devices=cfg.trainer.devices,
        strategy=cfg.trainer.strategy,
        precision=cfg.trainer.precision,
        gradient_clip_val=cfg.optim.grad_clip or None,
        reload_dataloaders_every_n_epochs=1,  # a new loader per round carries the new mixture
        use_distributed_sampler=False,  # the data module shards by rank itself
        num_sanity_val_steps=0,
        check_val_every_n_epoch=1,
        val_check_interval=cfg.mixing.eval_every,  # None: once per round, at its end
        log_every_n_steps=min(cfg.trainer.log_every_n_steps, min(lengths)),  # log every round
        enable_progress_bar=cfg.trainer.progress_bar,
        enable_model_summary=False,
        deterministic=cfg.trainer.deterministic,
        logger=loggers or False,
        callbacks=[*callbacks, checkpoint],
        default_root_dir=str(run_dir),
    )


def train(cfg: RunConfig, resume: str | Path | None = None, extra_callbacks: list | None = None) -> TrainResult:
    """Train one run end to end; returns the final per-skill evaluation.

    `extra_callbacks` are added to the Trainer (e.g. to stop a run early in tests).
    """
    import lightning as L
    import torch

    from skillit.callback import SkillItCallback
    from skillit.data import SkillDataModule
    from skillit.mixing_setup import build_mixing
    from skillit.model.module import SkillLM
    from skillit.tokenization import save_tokenizer

    quiet_known_warnings()
    if cfg.trainer.threads:
        torch.set_num_threads(cfg.trainer.threads)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    source = build_source(cfg)
    train_skills, eval_skills = resolve_skills(cfg, source)
    lengths = round_lengths(cfg.trainer.max_steps, cfg.mixing.rounds)
    mixing = build_mixing(cfg, source, train_skills, eval_skills)
    run_dir = resolve_run_dir(cfg)

    dm = SkillDataModule(
        source,
        train_skills,
        eval_skills,
        lengths,
        batch_size=cfg.data.batch_size,
        eval_batch_size=cfg.data.eval_batch_size,
        num_workers=cfg.data.num_workers,
        seed=cfg.seed,
        initial_weights=mixing.initial_weights,
    )
    check_lengths(cfg, source, dm)
    network = build_network(cfg, source.tokenizer.get_vocab_size())
    if cfg.model.init_from:
        load_initial_weights(network, cfg.model.init_from)
    module = SkillLM(network, eval_skills, cfg.optim, total_steps=cfg.trainer.max_steps)

    if is_launcher_process():
        (run_dir / "config.yaml").write_text(config_to_yaml(cfg))
        save_tokenizer(source.tokenizer, run_dir / "tokenizer.json")

    callback = SkillItCallback(
        mixing.strategy,
        train_skills,
        eval_skills,
        run_dir,
        curriculum=mixing.curriculum,
        curriculum_pool=cfg.mixing.curriculum_pool,
        curriculum_seed=cfg.seed,
        total_steps=cfg.trainer.max_steps,
        round_lengths=lengths,
        plots=cfg.mixing.plots,
    )
    loggers = build_loggers(cfg, run_dir, resumed=resume is not None)
    trainer = build_trainer(cfg, run_dir, lengths, [callback, *(extra_callbacks or [])], loggers)
    for logger in loggers:
        logger.log_hyperparams(json.loads(json.dumps(_plain(cfg))))
    sigint = signal.getsignal(signal.SIGINT)  # Lightning ignores Ctrl-C after an interrupt
    try:
        trainer.fit(module, datamodule=dm, ckpt_path=str(resume) if resume else None)
    except SystemExit:
        # Lightning exits after a graceful Ctrl-C shutdown; report it as the interrupt it was.
        if trainer.interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        signal.signal(signal.SIGINT, sigint)
        _finish_wandb(cfg)
    if trainer.interrupted:
        raise KeyboardInterrupt
    result = module.last_eval
    if result is None:
        raise RuntimeError("training ended without an evaluation")
    out = TrainResult(run_dir, eval_skills, result.loss, result.acc, trainer.global_step)
    if trainer.is_global_zero:
        summary = {
            "global_step": out.global_step,
            "eval_loss": dict(zip(eval_skills, map(float, out.loss))),
            "eval_acc": dict(zip(eval_skills, map(float, out.acc))),
        }
        (run_dir / "final_eval.json").write_text(json.dumps(summary, indent=2) + "\n")
    return out


def _finish_wandb(cfg: RunConfig) -> None:
    """Close the W&B run so its offline files are complete and a next run starts its own."""
    if cfg.logger.wandb == "off":
        return
    import wandb

    if wandb.run is not None:
        wandb.finish()


def _plain(cfg: RunConfig) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)


def resolve_resume(resume: str) -> tuple[Path, Path]:
    """A checkpoint path or a run directory -> (checkpoint, run_dir)."""
    path = Path(resume)
    if path.is_dir():
        ckpt = path / "checkpoints" / "last.ckpt"
        run_dir = path
    else:
        ckpt = path
        run_dir = path.parent.parent
    if not ckpt.is_file():
        raise SkillitError(f"--resume: no checkpoint at {ckpt} (give a run directory or a .ckpt file)")
    if not (run_dir / "config.yaml").is_file():
        raise SkillitError(f"--resume: {run_dir} has no config.yaml; is it a skillit run directory?")
    return ckpt, run_dir


def load_run_config(files: list[str], overrides: list[str], resume: str | None) -> tuple[RunConfig, Path | None]:
    if resume:
        ckpt, run_dir = resolve_resume(resume)
        cfg = load_config([run_dir / "config.yaml", *files], [*overrides, f"run_dir={run_dir}"])
        return cfg, ckpt
    if not files and not overrides:
        raise SkillitError(
            "give a config file (e.g. configs/experiment/lego.yaml), key=value overrides, or --resume RUN_DIR"
        )
    return load_config(files, overrides), None
