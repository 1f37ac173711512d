"""EpochCap: epochs seen per training skill, and the cap on them (a source's `epoch_cap`).

For a source that counts its train tokens (capability `token_counts`, a prepared corpus), every
round adds the tokens it delivered (skillit.callbacks.delivered) to each skill's total; epochs
seen = that total / the skill's train tokens, recorded in the round's history line. With a cap
(`data.tokens.max_epochs`) the callback is the run's mixture constraint: the mixing step passes
each next mixture through :meth:`EpochCap.constrain`, which cuts the skills that would go over the
cap in the next round (water-filling, skillit.mixing.repetition) and says so when it changes the
mixture or cannot honour the cap.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import numpy as np

from skillit.callbacks.delivered import DeliveredCounts
from skillit.callbacks.mixing import RoundOutcome
from skillit.mixing.repetition import cap_mixture, epochs_seen

log = logging.getLogger("skillit")


class EpochCap(L.Callback):
    def __init__(
        self,
        train_skills: list[str],
        train_tokens: np.ndarray,
        max_epochs: float | None,
        round_tokens: list[int],
        delivered: DeliveredCounts,
    ) -> None:
        self.train_skills = list(train_skills)
        self.train_tokens = np.asarray(train_tokens, dtype=np.float64)  # per training skill
        self.max_epochs = max_epochs  # None: epochs are recorded, nothing is capped
        self.round_tokens = list(round_tokens)  # tokens each round draws
        self.delivered = delivered
        self.tokens_seen = np.zeros(len(self.train_skills))  # delivered by the rounds counted
        self.rounds_counted = 0
        self.cap_hits: dict[str, int] = {}  # skill -> the round at whose end it reached the cap
        self._record: dict[str, Any] = {}  # this round's line of the history

    def state_dict(self) -> dict[str, Any]:
        return {
            "tokens_seen": self.tokens_seen.tolist(),
            "cap_hits": dict(self.cap_hits),
            "rounds_counted": self.rounds_counted,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("tokens_seen") is not None:
            self.tokens_seen = np.asarray(state["tokens_seen"], dtype=np.float64)
        self.cap_hits = {str(k): int(v) for k, v in (state.get("cap_hits") or {}).items()}
        self.rounds_counted = int(state.get("rounds_counted", 0))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        round_t = trainer.current_epoch + 1
        if trainer.sanity_checking or round_t <= self.rounds_counted:
            return  # a replayed round end (a resume from a round-end checkpoint)
        self.rounds_counted = round_t
        delivered = self.delivered.totals(trainer).get("delivered_tokens")
        self._record = {}
        if delivered is None:  # no training step ran in this process
            return
        self.tokens_seen = self.tokens_seen + [float(delivered[s]) for s in self.train_skills]
        epochs = epochs_seen(self.tokens_seen, self.train_tokens)
        self._record["epochs"] = dict(zip(self.train_skills, map(float, epochs)))
        if self.max_epochs is not None:
            for skill, e in zip(self.train_skills, epochs):
                if e >= self.max_epochs * (1 - 1e-9) and skill not in self.cap_hits:
                    self.cap_hits[skill] = round_t
            self._record["max_epochs"] = float(self.max_epochs)
            self._record["cap_hits"] = dict(self.cap_hits)

    def round_record(self, trainer: L.Trainer, outcome: RoundOutcome) -> dict[str, Any]:
        """The round's epochs (and the cap's record: hits, and the mixture it changed)."""
        record = dict(self._record)
        changed = not np.array_equal(outcome.requested, outcome.next_weights)
        if self.max_epochs is not None and record and changed:
            record["requested_next_weights"] = dict(
                zip(self.train_skills, map(float, outcome.requested))
            )
        return record

    def constrain(self, trainer: L.Trainer, round_number: int, weights: np.ndarray) -> np.ndarray:
        """`weights` under the cap for round `round_number` (unchanged without a cap, or after the
        last round); a changed or impossible mixture is reported."""
        if self.max_epochs is None or round_number > len(self.round_tokens):
            return weights
        round_tokens = self.round_tokens[round_number - 1]
        capped = cap_mixture(
            weights, self.tokens_seen, self.train_tokens, self.max_epochs, round_tokens
        )
        if capped.changed and trainer.is_global_zero:
            self._warn(round_number, weights, capped, round_tokens)
        return capped.weights

    def _warn(self, round_number: int, weights: np.ndarray, capped, round_tokens: int) -> None:
        epochs = epochs_seen(self.tokens_seen, self.train_tokens)
        moved = ", ".join(
            f"{s} {a:.3f} -> {b:.3f} (seen {e:.2f} epochs of {t:,.0f} tokens)"
            for s, a, b, e, t in zip(
                self.train_skills, weights, capped.weights, epochs, self.train_tokens
            )
            if abs(a - b) > 1e-12
        )
        if capped.honoured:
            log.warning(
                "round %d: data.tokens.max_epochs=%g changes the mixture: %s",
                round_number,
                self.max_epochs,
                moved,
            )
        else:
            log.warning(
                "round %d: the domains have %.0f tokens left under data.tokens.max_epochs=%g "
                "but the round draws %.0f: every domain goes over its cap (%s)",
                round_number,
                float(capped.room.sum() * round_tokens),
                self.max_epochs,
                float(round_tokens),
                moved,
            )
