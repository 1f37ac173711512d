"""SkillDataModule: batches whose skill mixture can change between rounds of training.

One Lightning epoch is one round, numbered from 1. The train loader is rebuilt at every epoch
(`reload_dataloaders_every_n_epochs=1`), so what the data module receives between rounds reaches
the next round even when worker processes hold their own copy of the dataset.

A round is drawn either from a skill mixture (:meth:`SkillDataModule.set_mixture`, every strategy)
or from an admitted subset of a fixed sample pool (:meth:`SkillDataModule.set_pool`, the curricula).
The data module owns neither: `MixingCallback` hands it the strategy's mixture before every
round, the first one included, and `CurriculumCallback` the admitted pool. A round can also be
drawn in blocks of steps, each with exact counts of its own (:class:`BlockDraw`): blocks of one
mixture with `data.plan_block_steps` (a loader then starts in the same time whatever the round's
length), or a strategy's own blocks through `block_planner` (its `round_blocks`: Aioli's probes, ODM's
updates inside a round, published while the round trains through :class:`LiveMixtures`). The
mixtures published inside a round are part of the data module's checkpoint state, so a run
resumed inside the round draws its blocks from them.

Determinism: the skills of a round's samples are fixed by (seed, round) (see skillit.sampling); the
samples of global batch b by (seed, round, b). `data.global_batch_size` counts every rank's rows;
each rank takes its own slice of every global batch, and worker w of a rank produces the batches b
with b % num_workers == w, which the DataLoader hands out in order. The stream is therefore the
same for any number of workers and, at a fixed global batch, for any number of ranks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from skillit.errors import SkillitError
from skillit.mixing.base import Block
from skillit.mixing.curricula import SampleSchedule
from skillit.sampling import (
    batch_rng,
    block_skill_order,
    check_weights,
    derive_rng,
    per_rank_batch_size,
    rank_slice,
    round_skill_order,
)
from skillit.sources.base import SkillExamples, SkillSource, concat_examples

BatchDrawer = Callable[[int, np.random.Generator], SkillExamples]  # (batch index, rng) -> batch


def examples_to_batch(ex: SkillExamples) -> dict[str, torch.Tensor]:
    # Trim columns that are padding in every row: sources may pad to a fixed width. (A batch
    # whose last column is used, e.g. full token windows, needs no scan.)
    ids, mask = ex.input_ids, ex.loss_mask
    if ids.shape[1] and (ids[:, -1].any() or mask[:, -1].any()):
        width = ids.shape[1]
    else:
        used = ids.any(axis=0) | mask.any(axis=0)
        width = int(np.max(np.nonzero(used)[0], initial=0)) + 1
    return {
        "input_ids": torch.from_numpy(np.ascontiguousarray(ids[:, :width])),
        "loss_mask": torch.from_numpy(np.ascontiguousarray(mask[:, :width])),
        "skill": torch.from_numpy(ex.skill),
    }


def rows_by_label(labels: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(label, its rows in ascending order) for every label present, labels ascending."""
    order = np.argsort(labels, kind="stable")
    ends = np.cumsum(np.bincount(labels)).tolist()
    groups, start = [], 0
    for label, end in enumerate(ends):
        if end > start:
            groups.append((label, order[start:end]))
        start = end
    return groups


def draw_global_batch(
    source: SkillSource,
    source_skills: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    in_place: bool = False,
) -> SkillExamples:
    """Samples for a global batch whose row r is of mixture skill labels[r], rows kept in order.

    Each skill's samples are asked for in label order (which fixes the rng's use). A source of
    fixed-width samples (:class:`~skillit.sources.base.RowWriter`) writes them straight into the
    batch (`in_place`, the source's capability fixed_width); others return each skill's samples,
    copied into their rows.
    """
    n = len(labels)
    groups = rows_by_label(labels)
    skill = np.empty(n, dtype=np.int64)
    if in_place:
        width = source.train_width
        ids, mask = np.empty((n, width), dtype=np.int64), np.empty((n, width), dtype=bool)
        for label, rows in groups:
            sid = int(source_skills[label])
            source.write_train_rows(sid, rows, rng, ids, mask)
            skill[rows] = sid
        return SkillExamples(ids, mask, skill)
    parts = [
        (rows, source.train_examples(int(source_skills[label]), len(rows), rng))
        for label, rows in groups
    ]
    widths = {p.input_ids.shape[1] for _, p in parts}
    width = max(widths)
    if len(widths) == 1:  # every row is written whole: nothing to pad
        ids, mask = np.empty((n, width), dtype=np.int64), np.empty((n, width), dtype=bool)
    else:
        ids = np.full((n, width), source.pad_id, dtype=np.int64)
        mask = np.zeros((n, width), dtype=bool)
    for where, p in parts:
        w = p.input_ids.shape[1]
        ids[where, :w] = p.input_ids
        mask[where, :w] = p.loss_mask
        skill[where] = p.skill
    return SkillExamples(ids, mask, skill)


@dataclass(frozen=True)
class RoundPlan:
    """Everything a worker needs to reproduce its share of one round."""

    round_number: int  # 1-based
    first_step: int  # global step of the round's first batch
    num_batches: int
    global_batch_size: int  # rows of a step summed over ranks
    rank: int
    world_size: int
    seed: int


class MixtureDraw:
    """A round drawn from a mixture over skills: exact per-round counts, shuffled."""

    def __init__(
        self,
        source: SkillSource,
        source_skills: np.ndarray,
        weights: np.ndarray,
        in_place: bool = False,
    ):
        self.source = source
        self.source_skills = source_skills
        self.weights = weights
        self.in_place = in_place  # the source writes rows in place (draw_global_batch)

    def drawer(self, plan: RoundPlan) -> BatchDrawer:
        g = plan.global_batch_size
        labels = round_skill_order(self.weights, plan.num_batches * g, plan.seed, plan.round_number)

        def draw(b: int, rng: np.random.Generator) -> SkillExamples:
            rows = labels[b * g : (b + 1) * g]
            return draw_global_batch(self.source, self.source_skills, rows, rng, self.in_place)

        return draw

    def details(self, plan: RoundPlan) -> dict:
        return {}


# (round, steps, mixture) -> the round's blocks, or None: the whole round from the mixture
BlockPlanner = Callable[[int, int, np.ndarray], list[Block] | None]


class LiveMixtures:
    """The mixture of every block of the running round, in memory shared with loader workers.

    Row j holds block j's weights and a published flag. A block planned in advance is published
    when the loader is built; a live block is published by the training process after the last
    step of the block before it (ODM's updates), and a worker about to draw it waits for it.
    Lightning does not fetch ahead from a loader whose length it knows, so in the training
    process the block is always published before it is drawn.
    """

    WAIT_SECONDS = 600.0

    def __init__(self, blocks: Sequence[Block], num_skills: int) -> None:
        self._set_steps(np.array([int(b.steps) for b in blocks], dtype=np.int64))
        self.table = torch.zeros(len(blocks), num_skills + 1, dtype=torch.float64)
        known = [j for j, b in enumerate(blocks) if b.weights is not None]
        if known:  # one write for all of them: a round may have many blocks
            rows = np.array([blocks[j].weights for j in known], dtype=np.float64)
            self.table[known, :-1] = torch.from_numpy(rows)
            self.table[known, -1] = 1.0
        if len(known) < len(blocks):  # some are published later: workers must see the writes
            self.table.share_memory_()

    def _set_steps(self, steps: np.ndarray) -> None:
        self.steps = steps
        self.starts = np.concatenate([[0], np.cumsum(steps)]).astype(np.int64)

    @classmethod
    def fixed(cls, round_steps: int, block_steps: int, weights: np.ndarray) -> LiveMixtures:
        """A round in blocks of `block_steps`, all from `weights` (known at the start); built
        with array operations, so its cost is small even for many blocks."""
        w = torch.from_numpy(np.asarray(weights, dtype=np.float64))
        count = -(-round_steps // block_steps)
        live = cls.__new__(cls)
        steps = np.full(count, block_steps, dtype=np.int64)
        steps[-1] = round_steps - block_steps * (count - 1)
        live._set_steps(steps)
        # every block known now: a worker's copy of the table is all it needs (no shared memory)
        live.table = torch.cat([w, torch.ones(1, dtype=torch.float64)]).repeat(count, 1)
        return live

    def block_of(self, step_in_round: int) -> int:
        return int(np.searchsorted(self.starts, step_in_round, side="right") - 1)

    def publish(self, block: int, weights: np.ndarray) -> None:
        self.table[block, :-1] = torch.from_numpy(np.asarray(weights, dtype=np.float64))
        self.table[block, -1] = 1.0  # the flag last: a reader never sees half a mixture

    def published(self, block: int) -> bool:
        return bool(self.table[block, -1] == 1.0)

    def weights(self, block: int) -> np.ndarray:
        """Block `block`'s mixture; in a worker, wait for it to be published."""
        deadline = time.monotonic() + self.WAIT_SECONDS
        while not self.published(block):
            if get_worker_info() is None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the mixture of block {block} of this round was not published before its "
                    "batches were drawn: the loader fetched a batch before the step that "
                    "decides its mixture had trained"
                )
            time.sleep(0.0005)
        return self.table[block, :-1].numpy().copy()

    def all_weights(self) -> list[list[float] | None]:
        return [
            self.table[j, :-1].tolist() if self.published(j) else None
            for j in range(len(self.steps))
        ]


class BlockDraw:
    """A round drawn block by block, each block from its own mixture with exact counts."""

    def __init__(
        self,
        source: SkillSource,
        source_skills: np.ndarray,
        live: LiveMixtures,
        record_blocks: bool = True,
        in_place: bool = False,
    ):
        self.source = source
        self.source_skills = source_skills
        self.live = live
        self.in_place = in_place  # the source writes rows in place (draw_global_batch)
        self.record_blocks = record_blocks  # False: one mixture in every block (nothing to add)

    def drawer(self, plan: RoundPlan) -> BatchDrawer:
        g = plan.global_batch_size
        cache: dict[int, np.ndarray] = {}  # a worker draws one block's labels once

        def draw(b: int, rng: np.random.Generator) -> SkillExamples:
            j = self.live.block_of(b)
            if j not in cache:
                cache.clear()
                n = self.live.steps[j] * g
                cache[j] = block_skill_order(
                    self.live.weights(j), n, plan.seed, plan.round_number, j
                )
            start = (b - int(self.live.starts[j])) * g
            rows = cache[j][start : start + g]
            return draw_global_batch(self.source, self.source_skills, rows, rng, self.in_place)

        return draw

    def details(self, plan: RoundPlan) -> dict:
        """The mixture the round drew (block mixtures weighted by their steps) and each block's."""
        if not self.record_blocks:
            return {}
        blocks = self.live.all_weights()
        if any(w is None for w in blocks):
            return {"block_weights": blocks}
        w = np.asarray(blocks, dtype=np.float64)
        steps = self.live.steps.astype(np.float64)
        return {
            "drawn": (steps @ w / steps.sum()).tolist(),
            "block_steps": self.live.steps.tolist(),
            "block_weights": blocks,
        }


class PoolDraw:
    """A round whose samples are pool rows fixed in advance, one per (step, row) of the run."""

    def __init__(
        self,
        pool: SkillExamples,
        pool_labels: np.ndarray,
        num_skills: int,
        schedule: SampleSchedule,
    ):
        self.pool = pool
        self.pool_labels = pool_labels  # each pool row's index into the training skills
        self.num_skills = num_skills
        self.schedule = schedule

    def _rows(self, plan: RoundPlan) -> np.ndarray:
        g = plan.global_batch_size
        return self.schedule.rows[plan.first_step * g : (plan.first_step + plan.num_batches) * g]

    def drawer(self, plan: RoundPlan) -> BatchDrawer:
        rows = self._rows(plan)
        g = plan.global_batch_size
        if len(rows) < plan.num_batches * g:
            raise ValueError(f"the curriculum schedule ends before round {plan.round_number}")

        def draw(b: int, rng: np.random.Generator) -> SkillExamples:
            return self.pool.select(rows[b * g : (b + 1) * g])

        return draw

    def details(self, plan: RoundPlan) -> dict:
        """The skill mix the round actually drew, and how many rows were eligible at its start."""
        labels = self.pool_labels[self._rows(plan)]
        counts = np.bincount(labels, minlength=self.num_skills)
        return {
            "drawn": (counts / max(1, counts.sum())).tolist(),
            "pool_size": int(self.schedule.admitted[plan.first_step]),
        }


class RoundStream(IterableDataset):
    """One round of training batches of one rank, drawn from a mixture or from a pool."""

    def __init__(
        self, draw: MixtureDraw | PoolDraw | BlockDraw, plan: RoundPlan, start_batch: int = 0
    ):
        self.draw = draw
        self.plan = plan
        self.start_batch = start_batch  # a run resumed inside the round: the batches after it

    def __len__(self) -> int:
        return self.plan.num_batches

    def __iter__(self):
        p = self.plan
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        drawer = self.draw.drawer(p)
        mine = rank_slice(p.global_batch_size, p.rank, p.world_size)
        # the loader asks workers in turn, from worker 0, starting at the first batch it wants
        for b in range(self.start_batch + worker, p.num_batches, workers):
            batch = drawer(b, batch_rng(p.seed, p.round_number, b))
            yield examples_to_batch(batch.select(mine))


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
        global_batch_size: int = 32,
        eval_batch_size: int = 256,
        num_workers: int = 0,
        seed: int = 0,
        plan_block_steps: int | None = None,
        block_planner: BlockPlanner | None = None,
        fixed_width_rows: bool = False,
    ) -> None:
        super().__init__()
        names = list(source.skill_names)
        index = {name: i for i, name in enumerate(names)}
        for key, group in (("skills.train", train_skills), ("skills.eval", eval_skills)):
            unknown = [s for s in group if s not in index]
            if unknown:
                raise SkillitError(f"{key} names unknown skills {unknown}; this source has {names}")
        self.source = source
        self.train_skills = list(train_skills)
        self.eval_skills = list(eval_skills)
        self.source_train_ids = np.array([index[s] for s in self.train_skills], dtype=np.int64)
        self.source_eval_ids = np.array([index[s] for s in self.eval_skills], dtype=np.int64)
        self.round_lengths = list(round_lengths)
        self.global_batch_size = global_batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.plan_block_steps = plan_block_steps  # None: a round's order drawn whole
        self._weights: np.ndarray | None = None  # the last mixture received
        self._pool_draw: PoolDraw | None = None  # set by a curriculum: it fixes every sample
        self.block_planner = block_planner  # a strategy's round_blocks (None: no strategy blocks)
        # the source writes training rows in place (its capability fixed_width: a RowWriter)
        self.fixed_width_rows = fixed_width_rows
        self.live: LiveMixtures | None = None  # the blocks of the round being trained
        self._planned_round = 0  # the round whose blocks the strategy planned into live (0: none)
        self._restored: dict[str, Any] | None = None  # published blocks of a checkpoint's round
        self._validation: SkillExamples | None = None

    # -- what the next round is drawn from ------------------------------------------------------
    @property
    def mixture(self) -> np.ndarray:
        if self._weights is None:
            raise RuntimeError("no mixture has been set (MixingCallback sets one at fit start)")
        return self._weights.copy()

    def set_mixture(self, weights: np.ndarray) -> None:
        """Mixture over `train_skills` for the next round (takes effect at the next train loader)."""
        self._weights = check_weights(weights, len(self.train_skills), key="the mixture")

    def set_pool(self, pool: SkillExamples, schedule: SampleSchedule) -> None:
        """Draw every later round from `pool` in the order `schedule` fixes (the curricula)."""
        labels = self.pool_labels(pool)
        self._pool_draw = PoolDraw(pool, labels, len(self.train_skills), schedule)

    @property
    def _draw(self) -> MixtureDraw | PoolDraw | BlockDraw | None:
        """What rounds are drawn from: the curriculum's pool once set, else the mixture (in the
        blocks of the running round, when a strategy plans blocks)."""
        if self._pool_draw is not None:
            return self._pool_draw
        if self._weights is None:
            return None
        if self.live is not None:
            planned = self._planned_round > 0  # a strategy's blocks: recorded in the history
            return BlockDraw(
                self.source, self.source_train_ids, self.live, planned, self.fixed_width_rows
            )
        return MixtureDraw(self.source, self.source_train_ids, self._weights, self.fixed_width_rows)

    def plan_blocks(self, round_number: int) -> LiveMixtures | None:
        """Fix the blocks of round `round_number` (before its loader is built): the strategy's,
        else data.plan_block_steps blocks of the mixture, else none (None)."""
        steps = self.round_lengths[round_number - 1]
        blocks = (
            self.block_planner(round_number, steps, self.mixture) if self.block_planner else None
        )
        self._planned_round = round_number if blocks is not None else 0
        if blocks is not None:
            if sum(b.steps for b in blocks) != steps or any(b.steps < 1 for b in blocks):
                raise RuntimeError(
                    f"the blocks of round {round_number} do not cover its {steps} steps"
                )
            saved, self._restored = self._restored, None
            if saved is not None and saved["round"] == round_number:  # published before a kill
                if len(saved["blocks"]) != len(blocks):
                    raise SkillitError(
                        f"the checkpoint holds {len(saved['blocks'])} blocks of round "
                        f"{round_number} but this run plans {len(blocks)}; resume with the same "
                        "trainer.max_steps, mixing.rounds and strategy options"
                    )
                blocks = [
                    Block(b.steps, tuple(w) if w is not None else b.weights)
                    for b, w in zip(blocks, saved["blocks"])
                ]
            self.live = LiveMixtures(blocks, len(self.train_skills))
        elif self.plan_block_steps is not None and self._pool_draw is None:
            self.live = LiveMixtures.fixed(steps, self.plan_block_steps, self.mixture)
        else:
            self.live = None
        return self.live

    @property
    def strategy_blocks(self) -> LiveMixtures | None:
        """The running round's blocks when the strategy planned them (else None)."""
        return self.live if self._planned_round else None

    def state_dict(self) -> dict[str, Any]:
        """The mixtures of the running round's strategy blocks (published ones; None: not yet).

        Nothing at the round's end: a resume from there plans the next round afresh (and the
        table is k floats per block: 4 MiB a round at 1,000 skills with ODM's per-step blocks).
        """
        if not self._planned_round or self.live is None:
            return {}
        trainer = self.trainer
        if trainer is not None:
            end = self.round_plan(self._planned_round, 0, 1).first_step + int(self.live.starts[-1])
            if trainer.global_step >= end:
                return {}
        return {"round": self._planned_round, "blocks": self.live.all_weights()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._restored = dict(state) if state else None

    def round_details(self, round_number: int) -> dict:
        """What round `round_number` draws from, for the history ({} for a mixture)."""
        if self._draw is None:
            return {}
        return self._draw.details(self.round_plan(round_number, 0, 1))

    def draw_pool(self, n: int, seed: int) -> SkillExamples:
        """A fixed pool of n training samples in the current mixture (for sample-level scoring)."""
        labels = round_skill_order(self.mixture, n, seed, 1)
        rng = derive_rng(seed, 0, 0)
        return draw_global_batch(
            self.source, self.source_train_ids, labels, rng, self.fixed_width_rows
        )

    def skill_lookup(self) -> torch.Tensor:
        """source skill id -> index into `train_skills` (-1: not a training skill), for batches
        (whose `skill` column carries source ids)."""
        lookup = torch.full((int(self.source_train_ids.max()) + 1,), -1, dtype=torch.long)
        lookup[torch.from_numpy(self.source_train_ids)] = torch.arange(len(self.train_skills))
        return lookup

    def pool_labels(self, pool: SkillExamples) -> np.ndarray:
        """Each pool row's index into `train_skills` (pool rows carry the source's skill ids)."""
        position = {int(sid): i for i, sid in enumerate(self.source_train_ids)}
        return np.array([position[int(s)] for s in pool.skill], dtype=np.int64)

    # -- loaders --------------------------------------------------------------------------------
    def _rank_world(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 0, 1
        return trainer.global_rank, trainer.world_size

    def setup(self, stage: str) -> None:
        _, world = self._rank_world()
        per_rank_batch_size(self.global_batch_size, world)  # refuse an uneven split before training

    def round_plan(self, round_number: int, rank: int, world_size: int) -> RoundPlan:
        if not 1 <= round_number <= len(self.round_lengths):
            raise ValueError(f"round {round_number} is outside 1..{len(self.round_lengths)}")
        return RoundPlan(
            round_number=round_number,
            first_step=sum(self.round_lengths[: round_number - 1]),
            num_batches=self.round_lengths[round_number - 1],
            global_batch_size=self.global_batch_size,
            rank=rank,
            world_size=world_size,
            seed=self.seed,
        )

    def train_stream(
        self, round_number: int, rank: int = 0, world_size: int = 1, start_batch: int = 0
    ) -> RoundStream:
        if self._draw is None:
            raise RuntimeError("no mixture has been set (MixingCallback sets one at fit start)")
        plan = self.round_plan(round_number, rank, world_size)
        return RoundStream(self._draw, plan, start_batch)

    def train_dataloader(self) -> DataLoader:
        rank, world = self._rank_world()
        round_number = self.trainer.current_epoch + 1 if self.trainer is not None else 1
        # a run resumed from a checkpoint inside this round continues after its last step
        done = 0
        if self.trainer is not None:
            done = self.trainer.global_step - self.round_plan(round_number, 0, 1).first_step
            done = done if 0 < done < self.round_lengths[round_number - 1] else 0
        if self._pool_draw is None:
            self.plan_blocks(round_number)
        return self._loader(self.train_stream(round_number, rank, world, done))

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
                skill = np.full(len(ex), j, dtype=np.int64)
                parts.append(SkillExamples(ex.input_ids, ex.loss_mask, skill))
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
