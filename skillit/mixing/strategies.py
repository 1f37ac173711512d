"""Mixing strategies: which mixture over the k training skills to sample from in each round.

A strategy knows weights, losses and the graph, nothing of models or Lightning. The caller asks
for :meth:`MixingStrategy.initial_weights` before round 1, and after each round t calls
:meth:`MixingStrategy.next_weights` with that round's end-of-round evaluation losses (one per
evaluation skill) to get the mixture of round t + 1. Every mixture is finite, >= 0 and sums to 1.

The state (last mixture, last round, Skill-It's loss window) is made of JSON types, so it can be
stored in a checkpoint and restored with :meth:`MixingStrategy.load_state_dict`.

The curricula act on the order of samples, not on a mixture: their strategy keeps a fixed mixture
(the pool is drawn from it) and carries a :class:`CurriculumSchedule`, which `CurriculumCallback`
turns into the pool row of every training sample (see skillit.mixing.curricula).
"""

from __future__ import annotations

import itertools
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from skillit.errors import SkillitError
from skillit.mixing import curricula, updates
from skillit.weights import check_weights

STRATEGY_NAMES = (
    "random",
    "stratified",
    "manual",
    "curriculum",
    "anticurriculum",
    "skill_curriculum",
    "skill_anticurriculum",
    "skillit",
    "static",
    "no_graph",
    "doremi",
)


# -- the interface ------------------------------------------------------------------------------


class MixingStrategy(ABC):
    """A policy for the per-round mixture over the k training skills."""

    name: ClassVar[str]
    uses_losses: ClassVar[bool] = False  # True: a non-finite loss freezes the mixture

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

    def signal(self) -> dict[str, list[float]]:
        """What the last update read besides the eval losses, per training skill (for the
        round's record in mixture_history.jsonl); empty for most strategies."""
        return {}

    def _eval_name(self, j: int) -> str:
        return repr(self.eval_skills[j]) if self.eval_skills is not None else f"#{j}"

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


# -- loss-free strategies -----------------------------------------------------------------------


class RandomStrategy(MixingStrategy):
    """Sample the data as it is: the source's natural proportions (or the given ones)."""

    name = "random"

    def __init__(self, proportions: Sequence[float], eval_skills: Sequence[str] | None = None):
        self._p = check_weights(proportions, None)
        super().__init__(self._p.size, eval_skills)

    def initial_weights(self) -> np.ndarray:
        return self._p.copy()


class StratifiedStrategy(MixingStrategy):
    """Uniform over the relevant skills (a boolean mask over the training skills), 0 elsewhere."""

    name = "stratified"

    def __init__(self, relevant: Sequence[bool], eval_skills: Sequence[str] | None = None):
        mask = np.asarray(relevant, dtype=bool)
        if mask.ndim != 1 or mask.size == 0:
            raise SkillitError("the stratified mask must be one flag per training skill")
        if not mask.any():
            raise SkillitError(
                "the stratified baseline has no skill to sample: no training skill is a target or "
                "a prerequisite (check skills.eval and the graph)"
            )
        self._p = mask / mask.sum()
        super().__init__(mask.size, eval_skills)

    def initial_weights(self) -> np.ndarray:
        return self._p.copy()


class ManualStrategy(MixingStrategy):
    """A fixed mixture, or a schedule of (start_round, weights) entries starting at round 1."""

    name = "manual"

    def __init__(
        self,
        weights: Sequence[float] | None = None,
        schedule: Sequence[tuple[int, Sequence[float]]] | None = None,
        eval_skills: Sequence[str] | None = None,
    ) -> None:
        if (weights is None) == (schedule is None):
            raise SkillitError(
                "the manual strategy needs exactly one of mixing.weights (a fixed mixture) or "
                "mixing.schedule (a list of [start_round, weights])"
            )
        entries = [(1, weights)] if schedule is None else list(schedule)
        key = "mixing.weights" if schedule is None else "mixing.schedule"
        if not entries:
            raise SkillitError("mixing.schedule is empty; give at least [1, weights]")
        starts = []
        mixtures = []
        num_skills = None
        for entry in entries:
            try:
                start, w = entry
            except (TypeError, ValueError):
                raise SkillitError(
                    f"{key} entries must be [start_round, weights], got {entry!r}"
                ) from None
            if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
                raise SkillitError(f"{key} start rounds must be integers, got {start!r}")
            mixtures.append(check_weights(w, num_skills, key))
            num_skills = mixtures[-1].size
            starts.append(start)
        if starts[0] != 1 or any(b <= a for a, b in itertools.pairwise(starts)):
            raise SkillitError(
                f"{key} start rounds must begin at 1 and increase strictly, got {starts}"
            )
        self._starts = [int(s) for s in starts]
        self._mixtures = mixtures
        super().__init__(mixtures[0].size, eval_skills)

    def weights_for_round(self, round_number: int) -> np.ndarray:
        """The scheduled mixture of `round_number`: the last entry starting at or before it."""
        pos = max(i for i, s in enumerate(self._starts) if s <= round_number)
        return self._mixtures[pos].copy()

    def initial_weights(self) -> np.ndarray:
        return self.weights_for_round(1)

    def _next(self, round_number: int, losses: np.ndarray) -> np.ndarray:
        # The schedule does not read losses, so it advances even when a loss is non-finite.
        return self.weights_for_round(round_number + 1)


@dataclass(frozen=True)
class CurriculumSchedule:
    """How a curriculum orders a scored pool (see skillit.mixing.curricula).

    `level="sample"`: linear pacing over the samples' scores in `stages` stages (M);
    `level="skill"`: the skills one after the other by mean score, then everything.
    `hardest_first` turns either into its anticurriculum.
    """

    stages: int = 5
    hardest_first: bool = False
    level: str = "sample"

    def __post_init__(self) -> None:
        if isinstance(self.stages, bool) or not isinstance(self.stages, int) or self.stages < 1:
            raise SkillitError(f"mixing.stages must be an integer >= 1, got {self.stages!r}")
        if self.level not in ("sample", "skill"):
            raise ValueError(f"level must be 'sample' or 'skill', got {self.level!r}")

    def plan(
        self, scores: np.ndarray, skills: np.ndarray, total_steps: int, batch: int, seed: int
    ) -> curricula.SampleSchedule:
        """The pool row of every training sample of the run (`skills`: each row's skill)."""
        if self.level == "skill":
            return curricula.skill_schedule(
                scores, skills, total_steps, batch, seed, self.hardest_first
            )
        if self.stages > total_steps:
            raise SkillitError(
                f"mixing.stages={self.stages} is larger than trainer.max_steps={total_steps}"
            )
        return curricula.paced_schedule(
            scores, self.stages, total_steps, batch, seed, self.hardest_first
        )


CURRICULA = {
    "curriculum": ("sample", False),
    "anticurriculum": ("sample", True),
    "skill_curriculum": ("skill", False),
    "skill_anticurriculum": ("skill", True),
}


class CurriculumStrategy(RandomStrategy):
    """A fixed skill mixture to draw the pool from; :attr:`schedule` orders the pool's samples."""

    name = "curriculum"

    def __init__(
        self,
        proportions: Sequence[float],
        schedule: CurriculumSchedule,
        eval_skills: Sequence[str] | None = None,
    ) -> None:
        super().__init__(proportions, eval_skills)
        self.schedule = schedule
        self.name = next(
            name
            for name, (level, hardest) in CURRICULA.items()
            if (level, hardest) == (schedule.level, schedule.hardest_first)
        )


# -- graph-driven strategies --------------------------------------------------------------------


class SkillItStrategy(MixingStrategy):
    """Skill-It: p_{t+1}[i] ∝ exp(eta * sum over the last `window` rounds of (A @ L)[i])."""

    name = "skillit"
    uses_losses = True

    def __init__(
        self,
        graph: np.ndarray,
        eta: float,
        window: int,
        eval_skills: Sequence[str] | None = None,
    ) -> None:
        # The config validated these for the user (naming the key); here they are a contract.
        self.graph = np.asarray(graph, dtype=np.float64)
        self.eta = float(eta)
        self.window = int(window)
        if self.window != window or self.window < 1:
            raise ValueError(f"window must be an integer >= 1 (rounds), got {window!r}")
        updates.skillit_initial(self.graph, self.eta)  # fails fast on a bad graph or eta
        if eval_skills is not None and len(eval_skills) != self.graph.shape[1]:
            raise SkillitError(
                f"the graph has {self.graph.shape[1]} columns but skills.eval names "
                f"{len(eval_skills)} skills; give one column per evaluation skill"
            )
        super().__init__(self.graph.shape[0], eval_skills)
        self._history: list[tuple[int, np.ndarray]] = []  # (round, losses), oldest first

    @property
    def num_eval(self) -> int:
        return self.graph.shape[1]

    def initial_weights(self) -> np.ndarray:
        return updates.skillit_initial(self.graph, self.eta)

    def loss_window(self) -> np.ndarray:
        """The losses of the rounds inside the window (w', m), oldest first."""
        return np.array([losses for _, losses in self._history]).reshape(-1, self.num_eval)

    def _next(self, round_number: int, losses: np.ndarray) -> np.ndarray:
        # The window spans rounds (t - w, t]: a round is counted once, whatever the eval interval.
        kept = [(r, v) for r, v in self._history if round_number - self.window < r < round_number]
        self._history = kept + [(round_number, losses.copy())]
        return updates.skillit_update(self.graph, self.loss_window(), self.eta)

    def _extra_state(self) -> dict[str, Any]:
        return {
            "window": [
                {"round": r, "losses": [float(v) for v in losses]} for r, losses in self._history
            ]
        }

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        history = []
        for item in state.get("window", []):
            losses = np.asarray(item["losses"], dtype=np.float64)
            if losses.shape != (self.num_eval,):
                raise SkillitError(
                    f"the checkpoint's loss window has {losses.size} eval skills but this run has "
                    f"{self.num_eval}; resume with the same skills.eval"
                )
            history.append((int(item["round"]), losses))
        self._history = history


def identity_columns(train_skills: Sequence[str], eval_skills: Sequence[str]) -> np.ndarray:
    """The identity over the training skills, restricted to the eval skills' columns (by name).

    A[i, j] = 1 when training skill i is eval skill j. In fine-tuning (eval skills a subset of the
    training skills) this keeps the targets' columns, as the authors' ablation does.
    """
    train, evals = list(train_skills), list(eval_skills)
    missing = [e for e in evals if e not in train]
    if missing:
        raise SkillitError(
            f"mixing.strategy=no_graph weights each skill by its own loss, so every skill of "
            f"skills.eval must be a training skill; {missing} are not in skills.train {train}"
        )
    return np.array([[float(t == e) for e in evals] for t in train])


class NoGraphStrategy(SkillItStrategy):
    """The 'no graph' ablation: Skill-It with A = identity matched by name (p ∝ exp(eta * L))."""

    name = "no_graph"

    def __init__(
        self,
        train_skills: Sequence[str],
        eval_skills: Sequence[str],
        eta: float,
        window: int,
    ) -> None:
        super().__init__(identity_columns(train_skills, eval_skills), eta, window, eval_skills)


class StaticStrategy(MixingStrategy):
    """The T = 1 ablation: softmax over eta times A's row sums, never updated."""

    name = "static"

    def __init__(
        self, graph: np.ndarray, eta: float, eval_skills: Sequence[str] | None = None
    ) -> None:
        self.graph = np.asarray(graph, dtype=np.float64)
        self.eta = float(eta)
        self._p = updates.static_weights(self.graph, self.eta)  # checks graph and eta
        super().__init__(self.graph.shape[0], eval_skills)

    def initial_weights(self) -> np.ndarray:
        return self._p.copy()


# -- reference-model strategies -------------------------------------------------------------------


class DoReMiStrategy(MixingStrategy):
    """DoReMi-style online reweighting (Xie et al. 2023) by a round's excess eval loss.

    After round t, with L_t the model's and R the reference model's per-skill eval losses:
    w_{t+1} = (1 - c) normalise(w_t * exp(eta * max(L_t - R, 0))) + c / k. The weights are the
    mixture the next round samples from; their step-weighted average over the run (what
    `skillit mixture export` writes as mixture_average.yaml) is DoReMi's output.
    """

    name = "doremi"
    uses_losses = True

    def __init__(
        self,
        initial: Sequence[float],
        reference_losses: Sequence[float],
        eta: float,
        smoothing: float,
        eval_skills: Sequence[str] | None = None,
    ) -> None:
        self._p = check_weights(initial, None)
        self.reference = np.asarray(reference_losses, dtype=np.float64)
        if self.reference.shape != self._p.shape or not np.isfinite(self.reference).all():
            raise SkillitError(
                f"doremi needs one finite reference loss per training skill ({self._p.size}), "
                f"got {list(self.reference)}"
            )
        self.eta = float(eta)
        self.smoothing = float(smoothing)
        updates.doremi_update(self._p, np.zeros_like(self._p), self.eta, self.smoothing)
        super().__init__(self._p.size, eval_skills)
        self.last_excess: np.ndarray | None = None  # the signal of the last update (for the record)

    @property
    def num_eval(self) -> int:
        return self.num_skills  # one eval loss per training skill, in the same order

    def initial_weights(self) -> np.ndarray:
        return self._p.copy()

    def excess(self, losses: np.ndarray) -> np.ndarray:
        return np.maximum(np.asarray(losses, dtype=np.float64) - self.reference, 0.0)

    def signal(self) -> dict[str, list[float]]:
        if self.last_excess is None:
            return {}
        return {"excess_loss": [float(v) for v in self.last_excess]}

    def _next(self, round_number: int, losses: np.ndarray) -> np.ndarray:
        self.last_excess = self.excess(losses)
        return updates.doremi_update(
            self.current_weights, self.last_excess, self.eta, self.smoothing
        )


# -- factory ------------------------------------------------------------------------------------


def build_strategy(
    name: str,
    *,
    train_skills: Sequence[str] | None = None,
    eval_skills: Sequence[str] | None = None,
    graph: np.ndarray | None = None,
    eta: float = 0.5,
    window: int = 3,
    weights: Sequence[float] | None = None,
    schedule: Sequence[tuple[int, Sequence[float]]] | None = None,
    natural_proportions: Sequence[float] | None = None,
    relevant: Sequence[bool] | None = None,
    stages: int = 5,
    reference_losses: Sequence[float] | None = None,
    smoothing: float = 1e-3,
) -> MixingStrategy:
    """Build the strategy called `name` (the value of mixing.strategy) from what it needs.

    random: `weights` if given, else `natural_proportions`; stratified: `relevant` (default all
    training skills); manual: `weights` or `schedule`; curriculum/anticurriculum:
    `natural_proportions` and `stages`; skillit: `graph`, `eta`, `window`; static: `graph`, `eta`;
    no_graph: `train_skills`, `eval_skills`, `eta`, `window`.
    """
    if name not in STRATEGY_NAMES:
        raise SkillitError(
            f"mixing.strategy {name!r} is unknown; valid strategies: {', '.join(STRATEGY_NAMES)}"
        )
    k = len(train_skills) if train_skills is not None else None
    if name == "random":
        source = weights if weights is not None else natural_proportions
        if source is None:
            raise SkillitError("the random strategy needs the source's natural proportions")
        return RandomStrategy(check_weights(source, k), eval_skills)
    if name == "stratified":
        if relevant is None:
            if k is None:
                raise SkillitError("the stratified strategy needs the training skills")
            relevant = [True] * k
        return StratifiedStrategy(relevant, eval_skills)
    if name == "manual":
        if weights is not None:
            weights = check_weights(weights, k)
        return ManualStrategy(weights=weights, schedule=schedule, eval_skills=eval_skills)
    if name in CURRICULA:
        level, hardest_first = CURRICULA[name]
        plan = CurriculumSchedule(stages=stages, hardest_first=hardest_first, level=level)
        if level == "skill":  # the authors draw a skill-stratified pool for the skill curricula
            if k is None:
                raise SkillitError(f"the {name} strategy needs the training skills")
            return CurriculumStrategy(np.full(k, 1.0 / k), plan, eval_skills)
        if natural_proportions is None:
            raise SkillitError(f"the {name} strategy needs the source's natural proportions")
        return CurriculumStrategy(check_weights(natural_proportions, k), plan, eval_skills)
    if name == "doremi":
        if reference_losses is None:
            raise SkillitError(
                "mixing.strategy=doremi needs the reference model's losses "
                "(mixing.doremi.reference: a skillit checkpoint)"
            )
        if (
            train_skills is not None
            and eval_skills is not None
            and list(eval_skills) != list(train_skills)
        ):
            raise SkillitError(
                "mixing.strategy=doremi reweights each training skill by its own excess loss, so "
                f"skills.eval must equal skills.train in the same order; got {list(eval_skills)} "
                f"and {list(train_skills)}"
            )
        start = weights if weights is not None else np.full(len(reference_losses), 1.0)
        return DoReMiStrategy(
            check_weights(start, k), reference_losses, eta, smoothing, eval_skills
        )
    if name == "no_graph":
        if train_skills is None or eval_skills is None:
            raise SkillitError("the no_graph strategy needs skills.train and skills.eval")
        return NoGraphStrategy(train_skills, eval_skills, eta, window)
    if graph is None:
        raise SkillitError(f"mixing.strategy {name!r} needs a skills graph (mixing.graph)")
    a = np.asarray(graph, dtype=np.float64)
    if k is not None and a.shape[0] != k:
        raise SkillitError(
            f"the graph has {a.shape[0]} rows but there are {k} training skills (mixing.graph)"
        )
    if name == "skillit":
        return SkillItStrategy(a, eta, window, eval_skills)
    return StaticStrategy(a, eta, eval_skills)
