"""The real probe runner: one short `skillit.training.train` run per probe, from a shared start model.

The start model of seed s is the network a fresh run builds after seeding s (its random init), or
the checkpoint named by `model.init_from` for every seed. It is saved once per seed under
``<work_dir>/start/`` and every probe of that seed loads it through `model.init_from`, so all probes
of a seed start from identical weights; the seed also fixes the probe's data stream. The start
model's own losses (the baseline) come from `skillit.model.evaluation.evaluate_skills`, the same
evaluation path a run reports at a round end.

A probe is a single-round run with a fixed uniform mixture over its skills (`mixing.strategy=manual`),
on one device in one process (parallelism comes from running several probes at once), with no
loggers, plots or data-loader workers. Its run folder is deleted once its losses are returned.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from skillit.build import build_network, build_source, load_initial_weights
from skillit.config import LoggerConfig, MixingConfig, RunConfig
from skillit.data import SkillDataModule
from skillit.errors import SkillitError
from skillit.graphlearn.probes import Probe
from skillit.model.evaluation import evaluate_skills
from skillit.training import train
from skillit.utils.quiet import quiet_known_warnings, quiet_lightning
from skillit.utils.safe_load import load_weights_only
from skillit.utils.safe_paths import remove_inside

# Keys a probe sets itself: they do not change what the probes of one learning run measure.
LEARNER_KEYS = ("seed", "name", "run_dir", "mixing", "logger", "skills")
LEARNER_TRAINER_KEYS = ("max_steps", "progress_bar", "log_every_n_steps", "devices", "strategy")


def probe_setting(train_skills: Sequence[str], eval_skills: Sequence[str]) -> str:
    """The Skill-It setting that fits the two skill sets (probes must pass its checks)."""
    t, e = set(train_skills), set(eval_skills)
    if t == e:
        return "continual_pretraining"
    if e < t:
        return "fine_tuning"
    if not t & e:
        return "out_of_domain"
    raise SkillitError(
        "skills.eval must equal skills.train, be a subset of it, or share no skill with it; "
        f"{sorted(e - t)} are evaluation-only while {sorted(e & t)} are also trained"
    )


def probe_config(
    cfg: RunConfig,
    probe: Probe,
    train_skills: Sequence[str],
    eval_skills: Sequence[str],
    start: str | Path,
    run_dir: str | Path,
) -> RunConfig:
    """The run config of one probe: `steps` steps of a uniform mixture over `probe.skills`."""
    out = copy.deepcopy(cfg)
    out.seed = probe.seed
    out.name = f"{cfg.name}-probe"
    out.run_dir = str(run_dir)
    out.skills.train = list(train_skills)
    out.skills.eval = list(eval_skills)
    out.model.init_from = str(start) if start else None
    out.data.num_workers = 0
    if probe.weights is not None:
        weights = list(probe.weights)
    else:
        weights = [1.0 if name in probe.skills else 0.0 for name in train_skills]
    out.mixing = MixingConfig(
        strategy="manual",
        setting=probe_setting(train_skills, eval_skills),
        rounds=1,
        weights=weights,
        plots=False,
    )
    out.logger = LoggerConfig(wandb="off", project=cfg.logger.project, csv=False)
    out.trainer.max_steps = probe.steps
    out.trainer.progress_bar = False
    out.trainer.devices = 1
    out.trainer.strategy = "auto"
    return out


def setup_fingerprint(cfg: RunConfig) -> dict[str, Any]:
    """The parts of the config that change what a probe measures."""
    plain = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)
    for key in LEARNER_KEYS:
        plain.pop(key, None)
    for key in LEARNER_TRAINER_KEYS:
        plain["trainer"].pop(key, None)
    plain["data"].pop("num_workers", None)
    return {"config": plain}


class TrainerProbeRunner:
    """Probe -> eval losses with the real trainer. Picklable, so worker processes can run it."""

    def __init__(
        self,
        cfg: RunConfig,
        train_skills: Sequence[str],
        eval_skills: Sequence[str],
        work_dir: str | Path,
        warmup_steps: int = 0,
    ) -> None:
        self.cfg = cfg
        self.warmup_steps = int(warmup_steps)
        self.train_skills = list(train_skills)
        self.eval_skills = list(eval_skills)
        self.work_dir = Path(work_dir)
        self._source = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_source"] = None  # rebuilt in each process
        return state

    @property
    def source(self):
        if self._source is None:
            self._source = build_source(self.cfg)
        return self._source

    def setup(self) -> dict[str, Any]:
        return setup_fingerprint(self.cfg)

    def start_checkpoint(self, seed: int) -> Path:
        """The start model of `seed`, saved once (written whole, so racing workers are harmless)."""
        path = self.work_dir / "start" / f"seed{seed}.ckpt"
        if self.warmup_steps:
            return self._warmed_up(seed, path)
        if self.cfg.model.init_from:
            return Path(self.cfg.model.init_from)
        if path.is_file():
            return path
        network = self._fresh_network(seed)
        _save_weights(path, {f"network.{k}": v for k, v in network.state_dict().items()})
        return path

    def _warmed_up(self, seed: int, path: Path) -> Path:
        """The start model after `warmup_steps` steps on the uniform mixture (from the random
        init of `seed`, or model.init_from), trained once and kept; an unfinished one is redone."""
        if path.is_file():
            return path
        quiet_lightning()
        quiet_known_warnings()
        run_dir = self.work_dir / "tmp" / f"warmup-seed{seed}"
        remove_inside(self.work_dir, run_dir)
        everything = Probe(seed, tuple(self.train_skills), self.warmup_steps)
        start = self.cfg.model.init_from
        cfg = probe_config(
            self.cfg, everything, self.train_skills, self.eval_skills, start, run_dir
        )
        # from scratch the probes' short warm-up of the learning rate would be too abrupt
        cfg.optim.warmup_steps = max(cfg.optim.warmup_steps, self.warmup_steps // 10)
        train(cfg)
        ckpt = load_weights_only(run_dir / "checkpoints" / "last.ckpt", "graph learn warm-up")
        weights = {k: v for k, v in ckpt["state_dict"].items() if k.startswith("network.")}
        _save_weights(path, weights)
        remove_inside(self.work_dir, run_dir)
        return path

    def _fresh_network(self, seed: int):
        torch.manual_seed(seed)
        return build_network(self.cfg, self.source.tokenizer.get_vocab_size())

    def __call__(self, probe: Probe) -> np.ndarray:
        if self.cfg.trainer.threads:
            torch.set_num_threads(self.cfg.trainer.threads)
        start = self.start_checkpoint(probe.seed)
        if probe.is_baseline:
            return self._start_losses(probe.seed, start)
        quiet_lightning()  # probes run in this process or in spawned workers: both are ours
        quiet_known_warnings()
        run_dir = self.work_dir / "tmp" / probe.key
        remove_inside(self.work_dir, run_dir)  # leftovers of an interrupted probe
        cfg = probe_config(self.cfg, probe, self.train_skills, self.eval_skills, start, run_dir)
        result = train(cfg)
        if list(result.eval_skills) != self.eval_skills:
            raise RuntimeError(f"probe evaluated {result.eval_skills}, expected {self.eval_skills}")
        remove_inside(self.work_dir, run_dir)
        return np.asarray(result.loss, dtype=np.float64)

    def _start_losses(self, seed: int, start: Path) -> np.ndarray:
        network = build_network(self.cfg, self.source.tokenizer.get_vocab_size())
        load_initial_weights(network, str(start))
        dm = SkillDataModule(
            self.source,
            self.train_skills,
            self.eval_skills,
            round_lengths=[1],
            global_batch_size=self.cfg.data.global_batch_size,
            eval_batch_size=self.cfg.data.eval_batch_size,
            num_workers=0,
            seed=seed,
        )
        device = self._device()
        loss, _ = evaluate_skills(network.to(device), dm, device, self.cfg.model.eval_loss)
        return np.asarray(loss, dtype=np.float64)

    def _device(self) -> str:
        wants_gpu = self.cfg.trainer.accelerator in ("auto", "gpu", "cuda")
        return "cuda" if wants_gpu and torch.cuda.is_available() else "cpu"


def _save_weights(path: Path, weights: dict) -> None:
    """Write a weights-only checkpoint whole (racing workers then write identical files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save({"state_dict": weights}, tmp)
    os.replace(tmp, path)
