"""SkillLM: the LightningModule that trains any next-token network on skill batches.

Training loss is the mean cross-entropy over answer tokens (`train_loss="answer"`) or over every
non-pad token (`"all"`, the authors' objective). Validation computes, per eval skill,
the answer-token loss and greedy exact-match accuracy, reduced across ranks as sums, logs them as
`val/loss/<skill>` and `val/acc/<skill>`, and keeps the latest result in `last_eval` for the
mixing callback (sanity-check passes are not recorded).
"""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
from lightning.pytorch.strategies import FSDPStrategy
from torch import nn

from skillit.config import OptimConfig
from skillit.model.evaluation import update_metric
from skillit.model.losses import (
    masked_mean_loss,
    rank_share_of_token_mean,
    target_token_losses,
)
from skillit.model.metrics import PerSkillEval


@dataclass
class EvalResult:
    step: int
    loss: np.ndarray  # (m,) per eval skill
    acc: np.ndarray  # (m,)


def warmup_linear_decay(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """LR multiplier: linear warm-up to 1 over `warmup` steps, then linear decay to `min_ratio`."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return max(min_ratio, 1.0 - (1.0 - min_ratio) * progress)


def build_optimizer(network: nn.Module, cfg: OptimConfig, total_steps: int):
    """AdamW (no weight decay on vectors: biases, norms) and its per-step warm-up/decay schedule."""
    decay, no_decay = [], []
    for p in network.parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.lr,
        betas=tuple(cfg.betas),
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: warmup_linear_decay(step, cfg.warmup_steps, total_steps, cfg.min_lr_ratio),
    )
    return optimizer, schedule


class SkillLM(L.LightningModule):
    def __init__(
        self,
        network: nn.Module,
        eval_skills: list[str],
        optim: OptimConfig,
        total_steps: int,
        train_loss: str = "answer",
        pad_id: int = 0,
        eval_loss: str = "token",
        keep_row_losses: bool = False,
    ):
        super().__init__()
        self.network = network
        self.eval_skills = list(eval_skills)
        self.optim_cfg = optim
        self.total_steps = total_steps
        self.train_loss = train_loss  # "answer": answer tokens; "all": every non-pad token
        self.pad_id = pad_id
        self.eval_loss = eval_loss  # "token" or "sequence": which per-skill mean is the loss
        self.eval_metric = PerSkillEval(len(self.eval_skills))
        self.last_eval: EvalResult | None = None
        # Steps of the current round whose training loss was finite (a tensor: no host sync).
        self.finite_train_steps = torch.zeros(())
        # each row's (loss sum, token count) after every step, for a strategy that reads them
        self.keep_row_losses = bool(keep_row_losses)
        self.last_row_losses: tuple[torch.Tensor, torch.Tensor] | None = None

    def on_train_epoch_start(self) -> None:
        self.finite_train_steps = torch.zeros((), device=self.device)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.network(input_ids)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        logits = self(batch["input_ids"])
        ids = batch["input_ids"]
        mask = batch["loss_mask"] if self.train_loss == "answer" else ids != self.pad_id
        world = self.trainer.world_size if self._trainer is not None else 1
        if world > 1:  # ranks may hold different numbers of target tokens
            losses, targets = target_token_losses(logits, ids, mask)
            count = self.trainer.strategy.reduce(targets.sum().float(), reduce_op="sum")
            loss = rank_share_of_token_mean(losses.sum(), count, world)
        elif self.keep_row_losses:
            losses, targets = target_token_losses(logits, ids, mask)
            loss = losses.sum() / targets.sum().clamp_min(1)
        else:
            loss = masked_mean_loss(logits, ids, mask)
        if self.keep_row_losses:
            self.last_row_losses = (losses.detach().sum(1), targets.sum(1).float())
        self.finite_train_steps += torch.isfinite(loss.detach())
        if self._logs_this_step():
            # the mean of the ranks' shares is the global token mean
            self.log(
                "train/loss", loss, prog_bar=True, batch_size=ids.shape[0], sync_dist=world > 1
            )
        return loss

    def _logs_this_step(self) -> bool:
        """Whether the loggers write this step (every trainer.log_every_n_steps).

        A `self.log` call costs about a millisecond, several percent of a small model's step, and
        Lightning drops step values it does not write: so log only on the steps it writes. Its
        rule: the step after this one is a multiple of log_every_n_steps, or training stops.
        """
        if self._trainer is None:
            return False  # no trainer, no loggers
        every = max(1, self.trainer.log_every_n_steps)
        return (self.global_step + 1) % every == 0 or self.trainer.should_stop

    def on_validation_epoch_start(self) -> None:
        self.eval_metric.reset()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        update_metric(self.eval_metric, self.network, batch, batch["eval_skill"])

    def on_validation_epoch_end(self) -> None:
        result = self.eval_metric.compute()  # all ranks take part in the reduction
        # torchmetrics squeezes one-element results to 0-d: keep one entry per skill
        key = "loss" if self.eval_loss == "token" else "seq_loss"
        loss = np.atleast_1d(result[key].float().cpu().numpy())
        acc = np.atleast_1d(result["acc"].float().cpu().numpy())
        # values are already global; the means through Lightning (progress bar, callbacks)
        means = {"val/loss/mean": float(loss.mean()), "val/acc/mean": float(acc.mean())}
        self.log_dict(means, sync_dist=False)
        if not self.trainer.sanity_checking:
            # per skill straight to the loggers, as Lightning would write them: self.log costs
            # about a millisecond a key (15% of a round at 1,000 skills; skills_scaling.py)
            per_skill = {f"val/loss/{name}": float(v) for name, v in zip(self.eval_skills, loss)}
            per_skill.update(
                {f"val/acc/{name}": float(v) for name, v in zip(self.eval_skills, acc)}
            )
            for logger in self.trainer.loggers:
                logger.log_metrics(per_skill, step=self.global_step)
            self.last_eval = EvalResult(step=self.global_step, loss=loss, acc=acc)

    def configure_gradient_clipping(
        self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None
    ) -> None:
        # Under FSDP each rank holds a shard of every gradient: the norm must be taken over all
        # shards, which only the wrapped root module can do (Lightning's FSDP precision plugin
        # refuses norm clipping rather than clip each shard by its own norm).
        if gradient_clip_val and isinstance(self.trainer.strategy, FSDPStrategy):
            self.trainer.strategy.model.clip_grad_norm_(gradient_clip_val)
            return
        super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def configure_optimizers(self):
        optimizer, schedule = build_optimizer(self.network, self.optim_cfg, self.total_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
