"""The strategy interface: which mixture over the k training skills to sample from in each round.

A strategy knows weights, losses and the graph, nothing of models or Lightning. The caller asks
for :meth:`MixingStrategy.initial_weights` before round 1, and after each round t calls
:meth:`MixingStrategy.next_weights` with that round's end-of-round evaluation losses (one per
evaluation skill) to get the mixture of round t + 1. Every mixture is finite, >= 0 and sums to 1.

Some strategies also act *inside* a round. They say so through optional capabilities, which the
training loop reads instead of asking what class a strategy is:

- :meth:`MixingStrategy.round_blocks`: the round drawn in blocks of steps, each from its own
  mixture (a block with `weights=None` is published while the round trains);
- :attr:`MixingStrategy.in_round`: what the loop must feed back inside the round, per-row training
  losses (:meth:`MixingStrategy.observe_training`, after every block) and/or an evaluation after
  every block but the last (:meth:`MixingStrategy.observe_block_eval`);
- :meth:`MixingStrategy.pool_schedule`: the curricula's order over a scored sample pool.

The state (last mixture, last round and a strategy's own) is made of JSON types, so it can be
stored in a checkpoint and restored with :meth:`MixingStrategy.load_state_dict`.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from skillit.errors import SkillitError

if TYPE_CHECKING:
    from skillit.mixing.curricula import CurriculumSchedule


@dataclass(frozen=True)
class Block:
    """Consecutive steps of a round drawn from one mixture.

    `weights` None: the mixture is published while the round trains (skillit.data.LiveMixtures).
    """

    steps: int
    weights: tuple[float, ...] | None = None


@dataclass(frozen=True)
class InRoundNeeds:
    """What a strategy asks of the training loop inside a round (nothing, for most)."""

    row_losses: bool = False  # each row's training loss, summed per skill: observe_training
    block_evals: bool = False  # an evaluation after every block but the last: observe_block_eval


@dataclass(frozen=True)
class BuildContext:
    """What the build layer knows of a run when it builds its strategy (numpy and names only).

    A strategy's registry entry says which of the optional parts it needs; the registry checks
    them before calling its build, so a build can rely on what it declared.
    """

    train_skills: list[str]
    eval_skills: list[str]
    setting: str = "continual_pretraining"
    rounds: int = 1
    round_lengths: tuple[int, ...] = ()
    seed: int = 0
    graph: np.ndarray | None = None  # k x m (rows: training skills, columns: eval skills)
    natural: np.ndarray | None = None  # the source's proportions over the training skills
    reference_losses: np.ndarray | None = None  # a reference model's loss per eval skill
    weights: np.ndarray | None = None  # mixing.weights (a fixed mixture, or a warm start)
    schedule: tuple[tuple[int, tuple[float, ...]], ...] | None = None  # mixing.schedule
    stages: int | None = None  # mixing.stages (sample-level curricula)
    # a source that counts tokens: train tokens per training skill, and the run's token budget
    train_tokens: np.ndarray | None = None
    budget_tokens: int | None = None

    @property
    def num_skills(self) -> int:
        return len(self.train_skills)


class MixingStrategy(ABC):
    """A policy for the per-round mixture over the k training skills."""

    name: ClassVar[str]
    uses_losses: ClassVar[bool] = False  # True: a non-finite loss freezes the mixture
    in_round: ClassVar[InRoundNeeds] = InRoundNeeds()

    def __init__(self, num_skills: int, eval_skills: Sequence[str] | None = None) -> None:
        self.num_skills = int(num_skills)
        self.eval_skills = list(eval_skills) if eval_skills is not None else None
        self._weights: np.ndarray | None = None  # the mixture in force; None until first update
        self._last_round = 0

    @property
    def num_eval(self) -> int | None:
        """How many eval losses next_weights expects (None: any number)."""
        return len(self.eval_skills) if self.eval_skills is not None else None

    @abstractmethod
    def initial_weights(self) -> np.ndarray:
        """p_1, the mixture of round 1 (pure: does not change the state)."""

    def _next(self, round_number: int, losses: np.ndarray) -> np.ndarray:
        """The mixture after `round_number`; `losses` may be non-finite if not uses_losses."""
        return self.current_weights

    @property
    def current_weights(self) -> np.ndarray:
        """The mixture in force now: p_1 before any update, else the last one returned."""
        w = self._weights if self._weights is not None else self.initial_weights()
        return w.copy()

    @property
    def last_round(self) -> int:
        return self._last_round

    def next_weights(self, round_number: int, eval_losses: np.ndarray) -> np.ndarray:
        """Called after round `round_number` (1-based) with its end-of-round eval losses (m,)."""
        if isinstance(round_number, bool) or int(round_number) != round_number or round_number < 1:
            raise ValueError(f"round_number must be an integer >= 1, got {round_number!r}")
        round_number = int(round_number)
        if round_number < self._last_round:
            raise ValueError(
                f"round {round_number} comes after round {self._last_round}; rounds must not go back"
            )
        losses = np.asarray(eval_losses, dtype=np.float64)
        expected = self.num_eval
        if losses.ndim != 1 or (expected is not None and losses.size != expected):
            raise ValueError(
                f"eval_losses must have shape ({expected if expected is not None else 'm'},), "
                f"got {losses.shape}"
            )
        bad = np.flatnonzero(~np.isfinite(losses))
        if bad.size:
            names = ", ".join(f"{self._eval_name(j)}={losses[j]}" for j in bad)
            action = "keeping the previous mixture" if self.uses_losses else "ignored"
            warnings.warn(
                f"round {round_number}: non-finite eval loss for skill {names}; {action}",
                RuntimeWarning,
                stacklevel=2,
            )
            if self.uses_losses:
                self._last_round = round_number
                return self.current_weights
        weights = np.asarray(self._next(round_number, losses), dtype=np.float64)
        self._weights = weights
        self._last_round = round_number
        return weights.copy()

    def signal(self) -> dict[str, list]:
        """What the last update read besides the eval losses, per training skill (for the
        round's record in mixture_history.jsonl); empty for most strategies."""
        return {}

    def _eval_name(self, j: int) -> str:
        return repr(self.eval_skills[j]) if self.eval_skills is not None else f"#{j}"

    # -- optional capabilities (the defaults: one mixture per round, nothing inside it) ----------

    def round_blocks(
        self, round_number: int, round_steps: int, mixture: np.ndarray
    ) -> list[Block] | None:
        """The blocks round `round_number` is drawn in, starting from `mixture` (None: the
        whole round from `mixture`)."""
        return None

    def observe_training(self, step: int, loss_sums, counts) -> np.ndarray:
        """Per training skill (loss sum, token count) of the steps since the last call, reduced
        over ranks (`step`: training steps done); returns the mixture of the next block.
        Called when :attr:`in_round` asks for row losses."""
        raise NotImplementedError(f"{self.name} does not read training losses")

    def observe_block_eval(self, round_number: int, block: int, losses: np.ndarray) -> None:
        """The eval losses after block `block` of the round (0: the first block). Called when
        :attr:`in_round` asks for block evaluations; the round-end evaluation closes the last."""
        raise NotImplementedError(f"{self.name} does not evaluate between blocks")

    def pool_schedule(self) -> CurriculumSchedule | None:
        """The order over a scored sample pool (the curricula); None: draw from the mixture."""
        return None

    # -- checkpoint state ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.name,
            "last_round": self._last_round,
            "weights": None if self._weights is None else [float(v) for v in self._weights],
            **self._extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("strategy") != self.name:
            raise SkillitError(
                f"the checkpoint's mixing state is for strategy {state.get('strategy')!r}, but "
                f"mixing.strategy is {self.name!r}; resume with the same strategy"
            )
        weights = state.get("weights")
        if weights is not None:
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != (self.num_skills,):
                raise SkillitError(
                    f"the checkpoint's mixture has {w.size} skills but this run has "
                    f"{self.num_skills}; resume with the same training skills"
                )
            self._weights = w
        else:
            self._weights = None
        self._last_round = int(state.get("last_round", 0))
        self._load_extra_state(state)

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:  # noqa: B027 (optional hook)
        """Restore what _extra_state saved (nothing, for stateless strategies)."""
