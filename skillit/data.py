"""SkillDataModule: batches whose skill mixture can change between rounds of training.

One Lightning epoch is one round. The train loader is rebuilt at every epoch
(`reload_dataloaders_every_n_epochs=1`), so a mixture set with :meth:`SkillDataModule.set_mixture`
reaches the next round even when worker processes hold their own copy of the dataset: the workers
of the next round are created from the new mixture.

Determinism: the skills of a round's samples are fixed by (seed, round) (see skillit.sampling); the
samples of global batch b by (seed, round, b). Each rank takes its own rows of every global batch, and
worker w of a rank produces the batches b with b % num_workers == w, which the DataLoader hands out
in order. The stream is therefore identical for any number of workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from skillit.sampling import derive_rng, rank_slice, round_skill_order, validate_weights
from skillit.sources.base import SkillExamples, SkillSource, concat_examples


def examples_to_batch(ex: SkillExamples) -> dict[str, torch.Tensor]:
    # Trim columns that are padding in every row: sources may pad to a fixed width.
    width = int(np.max(np.nonzero(ex.input_ids.any(axis=0) | ex.loss_mask.any(axis=0))[0], initial=0)) + 1
    return {
        "input_ids": torch.from_numpy(np.ascontiguousarray(ex.input_ids[:, :width])),
        "loss_mask": torch.from_numpy(np.ascontiguousarray(ex.loss_mask[:, :width])),
        "skill": torch.from_numpy(ex.skill),
    }


def draw_global_batch(
    source: SkillSource, source_skills: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> SkillExamples:
    """Samples for a global batch whose row r is of mixture skill labels[r], rows kept in order."""
    parts, rows = [], []
    for label in np.unique(labels):
        where = np.flatnonzero(labels == label)
        parts.append(source.train_examples(int(source_skills[label]), len(where), rng))
        rows.append(where)
    stacked = concat_examples(parts, source.pad_id)
    order = np.empty(len(labels), dtype=np.int64)
    order[np.concatenate(rows)] = np.arange(len(labels))
    return stacked.select(order)


@dataclass(frozen=True)
class RoundPlan:
    """Everything a worker needs to reproduce its share of one round."""

    round_index: int
    num_batches: int
    batch_size: int  # per rank
    rank: int
    world_size: int
    seed: int


class MixtureStream(IterableDataset):
    """One round of training batches drawn from a skill mixture."""

    def __init__(self, source: SkillSource, source_skills: np.ndarray, weights: np.ndarray, plan: RoundPlan):
        self.source = source
        self.source_skills = source_skills
        self.weights = weights
        self.plan = plan

    def __len__(self) -> int:
        return self.plan.num_batches

    def _labels(self) -> np.ndarray:
        p = self.plan
        global_bs = p.batch_size * p.world_size
        return round_skill_order(self.weights, p.num_batches * global_bs, p.seed, p.round_index)

    def __iter__(self):
        p = self.plan
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        labels = self._labels()
        global_bs = p.batch_size * p.world_size
        mine = rank_slice(global_bs, p.rank, p.world_size)
        for b in range(worker, p.num_batches, workers):
            batch_labels = labels[b * global_bs : (b + 1) * global_bs]
            rng = derive_rng(p.seed, p.round_index, b + 1)
            batch = draw_global_batch(self.source, self.source_skills, batch_labels, rng)
            yield examples_to_batch(batch.select(mine))


class PoolStream(IterableDataset):
    """One round of batches drawn uniformly from an allowed subset of a fixed sample pool.

    Used by sample-level strategies (curriculum / anticurriculum), whose pool grows by round.
    """

    def __init__(self, pool: SkillExamples, allowed: np.ndarray, plan: RoundPlan):
        self.pool = pool
        self.allowed = allowed
        self.plan = plan

    def __len__(self) -> int:
        return self.plan.num_batches

    def __iter__(self):
        p = self.plan
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        global_bs = p.batch_size * p.world_size
        mine = rank_slice(global_bs, p.rank, p.world_size)
        for b in range(worker, p.num_batches, workers):
            rng = derive_rng(p.seed, p.round_index, b + 1)
            rows = rng.choice(self.allowed, size=global_bs, replace=True)
            yield examples_to_batch(self.pool.select(rows[mine]))


class SkillDataModule(L.LightningDataModule):
    """Skill-weighted training batches and fixed per-skill validation sets.

    `train_skills` are the k skills the mixture is over, `eval_skills` the m skills evaluated each
    round; both are names from `source.skill_names`. Validation batches carry `eval_skill`, the index
    into `eval_skills`; each rank evaluates every world_size-th sample of each set.
    """

    def __init__(
        self,
        source: SkillSource,
        train_skills: Sequence[str],
        eval_skills: Sequence[str],
        round_lengths: Sequence[int],
        batch_size: int = 32,
        eval_batch_size: int = 256,
        num_workers: int = 0,
        seed: int = 0,
        initial_weights: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        names = list(source.skill_names)
        index = {name: i for i, name in enumerate(names)}
        for key, group in (("skills.train", train_skills), ("skills.eval", eval_skills)):
            unknown = [s for s in group if s not in index]
            if unknown:
                from skillit.errors import SkillitError

                raise SkillitError(f"{key} names unknown skills {unknown}; this source has {names}")
        self.source = source
        self.train_skills = list(train_skills)
        self.eval_skills = list(eval_skills)
        self.source_train_ids = np.array([index[s] for s in self.train_skills], dtype=np.int64)
        self.source_eval_ids = np.array([index[s] for s in self.eval_skills], dtype=np.int64)
        self.round_lengths = list(round_lengths)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.seed = seed
        k = len(self.train_skills)
        self._weights = (
            validate_weights(initial_weights, k) if initial_weights is not None else np.full(k, 1.0 / k)
        )
        self._pool: SkillExamples | None = None
        self._pool_allowed: np.ndarray | None = None
        self._validation: SkillExamples | None = None

    # -- mixture ------------------------------------------------------------------------------
    @property
    def mixture(self) -> np.ndarray:
        return self._weights.copy()

    def set_mixture(self, weights: np.ndarray) -> None:
        """Mixture over `train_skills` for the next round (takes effect at the next train loader)."""
        self._weights = validate_weights(weights, len(self.train_skills))

    def set_pool(self, pool: SkillExamples, allowed: np.ndarray) -> None:
        """Switch to sample-level selection: draw the next round from pool rows `allowed`."""
        if len(allowed) == 0:
            raise ValueError("the allowed pool is empty")
        self._pool, self._pool_allowed = pool, np.asarray(allowed, dtype=np.int64)

    def draw_pool(self, n: int, seed: int) -> SkillExamples:
        """A fixed pool of n training samples in the current mixture (for sample-level scoring)."""
        labels = round_skill_order(self._weights, n, seed, 0)
        return draw_global_batch(self.source, self.source_train_ids, labels, derive_rng(seed, 0, 0))

    # -- loaders --------------------------------------------------------------------------------
    def _rank_world(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 0, 1
        return trainer.global_rank, trainer.world_size

    def _round_index(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else 0

    def round_plan(self, round_index: int, rank: int, world_size: int) -> RoundPlan:
        if not 0 <= round_index < len(self.round_lengths):
            raise ValueError(f"round {round_index} is outside 0..{len(self.round_lengths) - 1}")
        return RoundPlan(
            round_index=round_index,
            num_batches=self.round_lengths[round_index],
            batch_size=self.batch_size,
            rank=rank,
            world_size=world_size,
            seed=self.seed,
        )

    def train_stream(self, round_index: int, rank: int = 0, world_size: int = 1) -> IterableDataset:
        plan = self.round_plan(round_index, rank, world_size)
        if self._pool is not None:
            return PoolStream(self._pool, self._pool_allowed, plan)
        return MixtureStream(self.source, self.source_train_ids, self._weights.copy(), plan)

    def train_dataloader(self) -> DataLoader:
        rank, world = self._rank_world()
        stream = self.train_stream(self._round_index(), rank, world)
        return self._loader(stream)

    def _loader(self, dataset) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=None,  # the streams yield whole batches
            num_workers=self.num_workers,
            persistent_workers=False,  # workers must be re-created each round with the new mixture
        )

    def validation_examples(self) -> SkillExamples:
        """Every eval skill's fixed validation set, with `skill` = index into eval_skills."""
        if self._validation is None:
            parts = []
            for j, sid in enumerate(self.source_eval_ids):
                ex = self.source.validation_examples(int(sid))
                parts.append(SkillExamples(ex.input_ids, ex.loss_mask, np.full(len(ex), j, dtype=np.int64)))
            self._validation = concat_examples(parts, self.source.pad_id)
        return self._validation

    def val_batches(self, rank: int = 0, world_size: int = 1) -> list[dict[str, torch.Tensor]]:
        ex = self.validation_examples()
        mine = ex.select(np.arange(rank, len(ex), world_size))
        batches = []
        for start in range(0, len(mine), self.eval_batch_size):
            b = examples_to_batch(mine.select(slice(start, start + self.eval_batch_size)))
            b["eval_skill"] = b.pop("skill")
            batches.append(b)
        return batches

    def val_dataloader(self) -> DataLoader:
        rank, world = self._rank_world()
        return DataLoader(self.val_batches(rank, world), batch_size=None, num_workers=0)

    # -- checkpointing --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"weights": self._weights.tolist(), "train_skills": self.train_skills}

    def load_state_dict(self, state: dict) -> None:
        if state.get("train_skills") != self.train_skills:
            from skillit.errors import SkillitError

            raise SkillitError(
                f"checkpoint was trained on skills {state.get('train_skills')}, "
                f"this run has skills.train={self.train_skills}"
            )
        self._weights = validate_weights(np.asarray(state["weights"]), len(self.train_skills))
