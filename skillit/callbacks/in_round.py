"""Callbacks of the strategies whose mixture changes inside a round (ODM, Aioli, and any
strategy whose `in_round` asks for them).

The data module draws such a round in the blocks the strategy's `round_blocks` plans
(skillit.data.LiveMixtures). `MixingCallback` still owns the round's end (the mixture of the next
round, the strategy's checkpoint state); these callbacks come before it in the Trainer's list
(skillit.callbacks.assemble), so the strategy has seen everything inside the round when it is
asked for the next mixture.

- `TrainingLossCallback` (`in_round.row_losses`): sums each training skill's loss and token count
  over the steps since the last block boundary (reduced across ranks as (sum, count)), calls the
  strategy's `observe_training` at the end of every block and publishes the result as the next
  block's mixture before its first batch is drawn (Lightning does not fetch ahead from a loader
  whose length it knows; loader workers that do wait for the publication). So every block is
  drawn from the mixture of all the losses before it, the same on every rank, with any number of
  workers, and on a resumed run. The last block is observed at the round end.
- `BlockEvalCallback` (`in_round.block_evals`): after every block of a round but the last, the
  callback evaluates every eval skill (each rank its share of the validation sets, the sums
  reduced over ranks, as at the round end) and hands the losses to the strategy's
  `observe_block_eval`; the round-end evaluation closes the last block.
"""

from __future__ import annotations

import time

import lightning as L
import numpy as np
import torch

from skillit.mixing.base import MixingStrategy
from skillit.model.evaluation import evaluate_skills


def in_round_callbacks(strategy: MixingStrategy) -> list[L.Callback]:
    """The callbacks `strategy.in_round` asks for (none for most strategies)."""
    needs = strategy.in_round
    callbacks: list[L.Callback] = []
    if needs.row_losses:
        callbacks.append(TrainingLossCallback(strategy))
    if needs.block_evals:
        callbacks.append(BlockEvalCallback(strategy))
    return callbacks


class TrainingLossCallback(L.Callback):
    def __init__(self, strategy: MixingStrategy) -> None:
        self.strategy = strategy
        self.lookup: torch.Tensor | None = None  # source skill id -> training skill index
        self.sums: torch.Tensor | None = None
        self.counts: torch.Tensor | None = None
        self.update_seconds = 0.0  # time in reductions and updates (for the overhead benchmark)
        self._round = 0
        self._restored: dict | None = None  # a checkpoint inside a round: its sums
        self._legacy_blocks: dict | None = None  # published blocks, as older checkpoints kept them

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not getattr(pl_module, "keep_row_losses", False):
            raise RuntimeError(
                f"strategy {self.strategy.name} reads per-row training losses, but the module "
                "was built without keep_row_losses=True"
            )
        self.lookup = trainer.datamodule.skill_lookup().to(pl_module.device)
        if self._legacy_blocks is not None:  # before the first loader is built
            trainer.datamodule.load_state_dict(self._legacy_blocks)
            self._legacy_blocks = None

    def _reset(self, device: torch.device) -> None:
        k = self.strategy.num_skills
        self.sums = torch.zeros(k, dtype=torch.float64, device=device)
        self.counts = torch.zeros(k, dtype=torch.float64, device=device)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning does not call on_train_epoch_start for a round resumed at a step inside it
        self.on_train_epoch_start(trainer, pl_module)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._round = trainer.current_epoch + 1
        saved, self._restored = self._restored, None
        self._reset(pl_module.device)
        if saved is not None and saved["round"] == self._round:  # resumed inside this round
            self.sums += torch.tensor(saved["sums"], dtype=torch.float64, device=pl_module.device)
            self.counts += torch.tensor(
                saved["counts"], dtype=torch.float64, device=pl_module.device
            )

    def state_dict(self) -> dict:
        if self.sums is None:
            return {}
        return {
            "round": self._round,
            "sums": self.sums.cpu().tolist(),
            "counts": self.counts.cpu().tolist(),
        }

    def load_state_dict(self, state: dict) -> None:
        self._restored = state or None
        if state and "blocks" in state:  # written before the data module kept them
            self._legacy_blocks = {"round": state["round"], "blocks": state["blocks"]}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        row_sum, row_tokens = pl_module.last_row_losses
        skills = self.lookup[batch["skill"].to(self.lookup.device)]
        self.sums.index_add_(0, skills, row_sum.double())
        self.counts.index_add_(0, skills, row_tokens.double())
        live = trainer.datamodule.strategy_blocks
        if live is None:  # no blocks planned this round: observed at its end only
            return
        upcoming = live.block_of(batch_idx + 1)
        if 0 < upcoming < len(live.steps) and batch_idx + 1 == int(live.starts[upcoming]):
            live.publish(upcoming, self._update(trainer, pl_module))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.counts is not None and float(self.counts.sum()) > 0:
            self._update(trainer, pl_module)  # the round's tail: the next round starts from it

    def _update(self, trainer: L.Trainer, pl_module: L.LightningModule) -> np.ndarray:
        start = time.perf_counter()
        both = torch.stack([self.sums, self.counts])
        both = trainer.strategy.reduce(both, reduce_op="sum")  # every rank's rows
        sums, counts = both.cpu().numpy()
        weights = self.strategy.observe_training(trainer.global_step, sums, counts)
        self._reset(pl_module.device)
        self.update_seconds += time.perf_counter() - start
        return weights


class BlockEvalCallback(L.Callback):
    def __init__(self, strategy: MixingStrategy) -> None:
        self.strategy = strategy
        self.block_eval_seconds = 0.0  # evaluations between blocks (for the overhead benchmark)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        live = trainer.datamodule.strategy_blocks
        if live is None:
            return
        block = live.block_of(batch_idx)
        last = len(live.steps) - 1
        if block < last and batch_idx + 1 == int(live.starts[block + 1]):
            start = time.perf_counter()
            losses, _ = evaluate_skills(
                pl_module.network,
                trainer.datamodule,
                pl_module.device,
                pl_module.eval_loss,
                rank=trainer.global_rank,
                world_size=trainer.world_size,
                reduce_sum=lambda t: trainer.strategy.reduce(t, reduce_op="sum"),
            )
            self.strategy.observe_block_eval(trainer.current_epoch + 1, block, losses)
            self.block_eval_seconds += time.perf_counter() - start
