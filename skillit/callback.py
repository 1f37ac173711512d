"""SkillItCallback: the one place that connects evaluation to the mixture.

A run is T rounds; one round is one Lightning epoch. At the end of round t (1-based) the module has
just evaluated every eval skill on its fixed validation set (losses reduced across ranks as sums).
The callback then asks the strategy for the next mixture, makes every rank hold rank 0's copy, sets
it on the data module (it takes effect when the next round's loader is built), logs `mixture/<skill>`
and appends one line to `mixture_history.jsonl`:

    {"round": t, "step": ..., "weights": {skill: p_t}, "eval_loss": {skill: L after round t},
     "eval_acc": {...}, "next_weights": {skill: p_t+1}}

so p_{t+1} can be recomputed from the logged losses and the graph. Its state (round, strategy,
curriculum scores) is saved in every checkpoint; on resume the history file is cut back to the
rounds the checkpoint has seen, so a killed run continues the same trajectory.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from skillit.model.losses import per_sample_stats

HISTORY_FILE = "mixture_history.jsonl"
EVAL_FILE = "eval_history.jsonl"  # every evaluation (round ends and mixing.eval_every), for curves


class SkillItCallback(L.Callback):
    def __init__(
        self,
        strategy: Any,
        train_skills: list[str],
        eval_skills: list[str],
        run_dir: str | Path,
        curriculum: Any | None = None,
        curriculum_pool: int = 20000,
        curriculum_seed: int = 0,
        total_steps: int = 0,
        round_lengths: list[int] | None = None,
        plots: bool = True,
    ) -> None:
        self.strategy = strategy
        self.train_skills = list(train_skills)
        self.eval_skills = list(eval_skills)
        self.run_dir = Path(run_dir)
        self.curriculum = curriculum
        self.curriculum_pool = curriculum_pool
        self.curriculum_seed = curriculum_seed
        self.total_steps = total_steps
        self.round_lengths = list(round_lengths or [])
        self.plots = plots
        self.rounds_done = 0
        self.scores: np.ndarray | None = None  # curriculum: reference-model loss per pool sample
        self._pool = None
        self._pool_size: int | None = None

    @property
    def history_path(self) -> Path:
        return self.run_dir / HISTORY_FILE

    @property
    def eval_path(self) -> Path:
        return self.run_dir / EVAL_FILE

    # -- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "rounds_done": self.rounds_done,
            "strategy": self.strategy.state_dict() if self.strategy is not None else None,
            "scores": None if self.scores is None else self.scores.tolist(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rounds_done = int(state["rounds_done"])
        if self.strategy is not None and state.get("strategy") is not None:
            self.strategy.load_state_dict(state["strategy"])
        if state.get("scores") is not None:
            self.scores = np.asarray(state["scores"], dtype=np.float64)

    # -- hooks ------------------------------------------------------------------------------------
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.world_size > 1:
            self._trim_history(self.run_dir / "ranks" / f"rank{trainer.global_rank}.jsonl", self.rounds_done)
        if trainer.is_global_zero:
            self._trim_history(self.history_path, self.rounds_done)
            self._trim_history(self.eval_path, self.rounds_done)
        if self.curriculum is not None:
            self._start_curriculum(trainer, pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        result = pl_module.last_eval
        if trainer.sanity_checking or not trainer.is_global_zero or result is None:
            return
        self._append(
            self.eval_path,
            {
                "round": trainer.current_epoch + 1,
                "step": result.step,
                "eval_loss": dict(zip(self.eval_skills, map(float, result.loss))),
                "eval_acc": dict(zip(self.eval_skills, map(float, result.acc))),
            },
        )

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        round_t = trainer.current_epoch + 1
        if trainer.sanity_checking or round_t <= self.rounds_done:
            # Resuming from a round-end checkpoint replays that round's end hook: already done.
            return
        dm = trainer.datamodule
        result = pl_module.last_eval
        if result is None or result.step != trainer.global_step:
            raise RuntimeError(
                "SkillItCallback needs an evaluation at the end of every round; got "
                f"{'none' if result is None else f'one at step {result.step}'} at step {trainer.global_step}"
            )
        used = dm.mixture
        pool_used = self._pool_size
        losses = np.asarray(result.loss, dtype=np.float64)
        if self.curriculum is not None:
            next_w = used
        else:
            # A non-finite loss makes the strategy keep the previous mixture (and warn).
            next_w = np.asarray(self.strategy.next_weights(round_t, losses), dtype=np.float64)
        # Every rank must hold the same mixture: take rank 0's (identical in exact arithmetic).
        next_w = np.asarray(trainer.strategy.broadcast(next_w.tolist(), src=0), dtype=np.float64)
        if not (np.all(np.isfinite(next_w)) and np.all(next_w >= 0) and math.isclose(next_w.sum(), 1.0, abs_tol=1e-6)):
            raise RuntimeError(f"strategy returned an invalid mixture {next_w.tolist()}")
        dm.set_mixture(next_w)
        self.rounds_done = round_t
        if self.curriculum is not None:
            self._set_curriculum_pool(dm, round_t)
        record = {
            "round": round_t,
            "step": trainer.global_step,
            "weights": dict(zip(self.train_skills, map(float, used))),
            "eval_loss": dict(zip(self.eval_skills, map(float, losses))),
            "eval_acc": dict(zip(self.eval_skills, map(float, result.acc))),
            "next_weights": dict(zip(self.train_skills, map(float, next_w))),
        }
        if self.curriculum is not None:
            record["pool_size"] = pool_used  # samples the round could draw from
        if trainer.world_size > 1:  # each rank's own view, to check that all ranks agree
            self._append(self.run_dir / "ranks" / f"rank{trainer.global_rank}.jsonl", record)
        if trainer.is_global_zero:
            self._append(self.history_path, record)
            # per-skill eval losses reach the loggers as val/loss/<skill> from the module
            metrics = {f"mixture/{s}": w for s, w in record["weights"].items()}
            metrics["round"] = float(round_t)
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=trainer.global_step)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not (self.plots and trainer.is_global_zero and self.history_path.exists()):
            return
        from skillit.plots import plot_run

        try:
            images = plot_run(self.history_path, self.run_dir)
        except ImportError:
            warnings.warn("matplotlib is not installed: no plots (pip install skillit[plots])", stacklevel=2)
            return
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):
                for key, path in images.items():
                    logger.log_image(key=f"plots/{key}", images=[str(path)])

    # -- helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _append(path: Path, record: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")

    @staticmethod
    def _trim_history(path: Path, rounds_kept: int) -> None:
        """Drop history lines of rounds a resumed checkpoint has not seen (or all, on a fresh run)."""
        if not path.exists():
            return
        kept = [
            line
            for line in path.read_text().splitlines()
            if line.strip() and json.loads(line)["round"] <= rounds_kept
        ]
        path.write_text("".join(line + "\n" for line in kept))

    def _start_curriculum(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dm = trainer.datamodule
        self._pool = dm.draw_pool(self.curriculum_pool, self.curriculum_seed)
        if self.scores is None:  # fresh run: the start model is the reference model
            self.scores = score_samples(pl_module, self._pool, dm.eval_batch_size)
        self._set_curriculum_pool(dm, self.rounds_done)

    def _set_curriculum_pool(self, dm, rounds_done: int) -> None:
        if rounds_done >= len(self.round_lengths):
            return
        first_step = sum(self.round_lengths[:rounds_done])
        allowed = self.curriculum.pool(self.scores, first_step, self.total_steps)
        self._pool_size = len(allowed)
        dm.set_pool(self._pool, allowed)


@torch.no_grad()
def score_samples(pl_module: L.LightningModule, pool, batch_size: int) -> np.ndarray:
    """Mean answer-token loss of every pool sample under the module's current weights."""
    from skillit.data import examples_to_batch

    was_training = pl_module.training
    pl_module.eval()
    scores = []
    for start in range(0, len(pool), batch_size):
        batch = examples_to_batch(pool.select(slice(start, start + batch_size)))
        ids = batch["input_ids"].to(pl_module.device)
        mask = batch["loss_mask"].to(pl_module.device)
        loss_sum, tokens, _ = per_sample_stats(pl_module(ids), ids, mask)
        scores.append((loss_sum / tokens.clamp_min(1)).double().cpu().numpy())
    pl_module.train(was_training)
    return np.concatenate(scores)
