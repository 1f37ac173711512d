"""MixingCallback: the one place that connects evaluation to the mixture.

A run is T rounds, numbered from 1; one round is one Lightning epoch. At fit start the callback
hands the strategy's mixture (p_1 on a fresh run, the restored one on a resume) to the data module.
At the end of round t the module has just evaluated every eval skill on its fixed validation set
(losses reduced across ranks as sums). The callback then asks the strategy for the next mixture,
makes every rank hold rank 0's copy, passes it through the run's mixture constraint (the epoch cap
of a corpus, skillit.callbacks.repetition) and sets it on the data module, where it takes effect
when the next round's loader is built. What the round was and what comes next is kept as
:class:`RoundOutcome` for the run record (skillit.callbacks.record), which writes it.

The strategy owns the mixture and its state; the callback saves that state in every checkpoint
with the rounds done, so a killed run continues the same trajectory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import lightning as L
import numpy as np

from skillit.errors import SkillitError
from skillit.mixing.base import MixingStrategy
from skillit.sampling import check_weights

# Before the run record and the epoch cap had callbacks of their own, this callback's checkpoint
# entry (named after its old class) held their state too: split on load (see on_load_checkpoint).
STATE_KEY = "SkillItCallback"
LEGACY_KEYS = {
    "DeliveredCounts": ("delivered_round", "delivered"),
    "EpochCap": ("tokens_seen", "cap_hits"),
}


class MixtureConstraint(Protocol):
    """What may change a strategy's mixture before the data module draws it (the epoch cap)."""

    def constrain(self, trainer: L.Trainer, round_number: int, weights: np.ndarray) -> np.ndarray:
        """The mixture round `round_number` draws, given the one the strategy asked for."""


@dataclass
class RoundOutcome:
    """One round as the mixing step saw it: what it trained on, its evaluation, the next mixture."""

    round: int
    step: int
    weights: np.ndarray  # the mixture the round drew (a curriculum: the skill mix it drew)
    eval_loss: np.ndarray
    eval_acc: np.ndarray
    requested: np.ndarray  # the strategy's next mixture
    next_weights: np.ndarray  # as the next round draws it (after the constraint)
    signal: dict[str, Any]  # the strategy's own per-skill values (skillit.mixing.base.signal)
    details: dict[str, Any]  # the data module's record of the round (blocks, pool)


class MixingCallback(L.Callback):
    def __init__(
        self,
        strategy: MixingStrategy,
        train_skills: list[str],
        constraint: MixtureConstraint | None = None,
    ) -> None:
        self.strategy = strategy
        self.train_skills = list(train_skills)
        self.constraint = constraint
        self.rounds_done = 0
        self.last_round: RoundOutcome | None = None  # set at each round end that is not replayed

    @property
    def state_key(self) -> str:
        return STATE_KEY

    def state_dict(self) -> dict[str, Any]:
        return {
            "rounds_done": self.rounds_done,
            "train_skills": self.train_skills,
            "strategy": self.strategy.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state.get("train_skills")
        if saved is not None and list(saved) != self.train_skills:
            raise SkillitError(
                f"checkpoint was trained on skills {saved}, this run has "
                f"skills.train={self.train_skills}"
            )
        self.rounds_done = int(state["rounds_done"])
        if state.get("strategy") is not None:
            self.strategy.load_state_dict(state["strategy"])

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        """A checkpoint of an older skillit keeps the counts and the cap in this entry: give
        them to their own callbacks' entries (Lightning loads the entries after this hook)."""
        entries = checkpoint.get("callbacks", {})
        mine = entries.get(STATE_KEY, {})
        for key, fields in LEGACY_KEYS.items():
            if key not in entries and any(f in mine for f in fields):
                entries[key] = {f: mine.get(f) for f in fields}
                entries[key]["rounds_counted"] = mine.get("rounds_done", 0)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # The first mixture reaches the data module the way every later one does.
        first = self._constrained(trainer, self.rounds_done + 1, self.strategy.current_weights)
        trainer.datamodule.set_mixture(first)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        round_t = trainer.current_epoch + 1
        if trainer.sanity_checking or round_t <= self.rounds_done:
            # Resuming from a round-end checkpoint replays that round's end hook: already done.
            return
        dm = trainer.datamodule
        result = pl_module.last_eval
        if result is None or result.step != trainer.global_step:
            raise RuntimeError(
                "MixingCallback needs an evaluation at the end of every round; got "
                f"{'none' if result is None else f'one at step {result.step}'} "
                f"at step {trainer.global_step}"
            )
        details = dm.round_details(round_t)
        # A curriculum round draws its skill mix from the pool: record that, not the pool's source.
        used = np.asarray(details.pop("drawn", dm.mixture), dtype=np.float64)
        losses = np.asarray(result.loss, dtype=np.float64)
        # A non-finite loss makes the strategy keep the previous mixture (and warn).
        requested = np.asarray(self.strategy.next_weights(round_t, losses), dtype=np.float64)
        # Every rank must hold the same mixture: take rank 0's (identical in exact arithmetic).
        requested = np.asarray(
            trainer.strategy.broadcast(requested.tolist(), src=0), dtype=np.float64
        )
        check_mixture(requested, len(self.train_skills), self.strategy.name)
        dm.set_mixture(self._constrained(trainer, round_t + 1, requested))
        self.rounds_done = round_t
        self.last_round = RoundOutcome(
            round=round_t,
            step=trainer.global_step,
            weights=used,
            eval_loss=losses,
            eval_acc=np.asarray(result.acc, dtype=np.float64),
            requested=requested,
            # as the next round draws it (renormalised: may differ in the last bit)
            next_weights=dm.mixture,
            signal=self.strategy.signal(),
            details=details,
        )

    def _constrained(self, trainer: L.Trainer, round_number: int, weights) -> np.ndarray:
        weights = np.asarray(weights, dtype=np.float64)
        if self.constraint is None:
            return weights
        return self.constraint.constrain(trainer, round_number, weights)


def check_mixture(weights: np.ndarray, num_skills: int, strategy: str) -> None:
    """A strategy's output must already be a distribution: anything else is a bug, not input."""
    try:
        check_weights(weights, num_skills, key=f"the mixture of strategy {strategy!r}")
    except SkillitError as exc:
        raise RuntimeError(str(exc)) from None
    if not math.isclose(float(np.sum(weights)), 1.0, abs_tol=1e-6):
        raise RuntimeError(
            f"strategy {strategy!r} returned weights summing to {np.sum(weights)}, not 1"
        )
