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
    "odm",
    "aioli",
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

    def signal(self) -> dict[str, list]:
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


# -- training-loss bandit -----------------------------------------------------------------------


class ODMStrategy(MixingStrategy):
    """Online Data Mixing (Albalak et al. 2023): EXP3 over the training skills.

    The reward of a skill is its mean training loss since the last update, importance-weighted by
    the probability it was sampled with and smoothed (:func:`updates.odm_reward_estimate`); the
    policy is the exponential-weights distribution mixed with a decaying exploration rate
    (:func:`updates.odm_policy`). It reads no evaluation losses: `observe_training` is called with
    per-skill (sum, count) of the training loss every `update_every` steps (0: once per round)
    after `warmup_steps` steps on the initial mixture.
    """

    name = "odm"

    def __init__(
        self,
        num_skills: int,
        alpha: float,
        update_every: int,
        warmup_steps: int,
        eval_skills: Sequence[str] | None = None,
    ) -> None:
        if num_skills < 2:
            raise SkillitError("mixing.strategy=odm needs at least 2 training skills")
        super().__init__(num_skills, eval_skills)
        self.alpha = float(alpha)
        self.update_every = int(update_every)
        self.warmup_steps = int(warmup_steps)
        self.estimate = np.zeros(num_skills)  # R̂: smoothed importance-weighted rewards
        self.eps = 1.0 / num_skills  # ε of the last update (ε_0 = 1/K, as the authors start)
        self.updates = 0
        self.last_reward: np.ndarray | None = None  # the mean losses of the last update

    def initial_weights(self) -> np.ndarray:
        return np.full(self.num_skills, 1.0 / self.num_skills)  # EXP3 starts uniform

    def observe_training(self, step: int, loss_sums, counts) -> np.ndarray:
        """One EXP3 update from the training losses of the steps since the last one (`step`:
        training steps done). Inside the warm-up nothing changes; a skill not drawn (count 0) or
        with a non-finite loss keeps its reward estimate."""
        sums = np.asarray(loss_sums, dtype=np.float64)
        n = np.asarray(counts, dtype=np.float64)
        if step <= self.warmup_steps:
            return self.current_weights
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, sums / np.maximum(n, 1), np.nan)
        seen = np.isfinite(mean)
        if ((n > 0) & ~seen).any():
            bad = [self._eval_name(i) for i in np.flatnonzero((n > 0) & ~seen)]
            warnings.warn(
                f"step {step}: non-finite training loss for skill {', '.join(bad)}; its reward "
                "estimate is kept",
                RuntimeWarning,
                stacklevel=2,
            )
        policy = self.current_weights
        self.estimate = updates.odm_reward_estimate(
            self.estimate, np.where(seen, mean, 0.0), seen, policy, self.alpha
        )
        eps = updates.odm_exploration(step, self.num_skills)
        self._weights = updates.odm_policy(self.estimate, self.eps, eps)
        self.eps = eps
        self.updates += 1
        self.last_reward = mean
        return self._weights.copy()

    def signal(self) -> dict[str, list[float]]:
        return {"reward_estimate": [float(v) for v in self.estimate]}

    def _extra_state(self) -> dict[str, Any]:
        return {
            "estimate": [float(v) for v in self.estimate],
            "eps": self.eps,
            "updates": self.updates,
        }

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        estimate = np.asarray(state.get("estimate", self.estimate), dtype=np.float64)
        if estimate.shape != (self.num_skills,):
            raise SkillitError(
                f"the checkpoint's ODM rewards are for {estimate.size} skills, this run has "
                f"{self.num_skills}; resume with the same training skills"
            )
        self.estimate = estimate
        self.eps = float(state.get("eps", self.eps))
        self.updates = int(state.get("updates", 0))


# -- probe-mixture interactions -----------------------------------------------------------------


@dataclass(frozen=True)
class ProbeBlock:
    """Steps of a round trained on one mixture; `probe` is the probed skill (None: main)."""

    steps: int
    weights: tuple[float, ...]
    probe: int | None = None


class AioliStrategy(MixingStrategy):
    """Aioli (Chen et al. 2024): per round, estimate the interaction matrix A^t by short probe
    mixtures, then p_{t+1} ∝ p_t exp(eta * column sums of A^t).

    A probing round ends with `sweeps` x k probe blocks of `probe_steps` steps each (smoothed
    one-hot mixtures, in a seeded order); the eval losses before and after each block give its
    loss drops, the round-end evaluation closing the last block. The probe steps are training
    steps of the round, so they count against the budget. Rounds before `first_probe_round` and
    the last round train on their mixture only (the restricted variant warm-starts from another
    strategy's mixture through `initial` and `first_probe_round`).
    """

    name = "aioli"
    uses_losses = True

    def __init__(
        self,
        initial: Sequence[float],
        eta: float,
        sweeps: int,
        probe_steps: int,
        one_hot_factor: float,
        ema: float | None,
        normalise: bool,
        first_probe_round: int,
        rounds: int,
        seed: int,
        eval_skills: Sequence[str] | None = None,
    ) -> None:
        self._p = check_weights(initial, None)
        super().__init__(self._p.size, eval_skills)
        if self.num_skills < 2:
            raise SkillitError("mixing.strategy=aioli needs at least 2 training skills")
        self.eta = float(eta)
        self.sweeps = int(sweeps)
        self.probe_steps = int(probe_steps)
        self.one_hot_factor = float(one_hot_factor)
        updates.probe_mixture(self.num_skills, 0, self.one_hot_factor)  # checks the factor
        self.ema = ema
        self.normalise = bool(normalise)
        self.first_probe_round = int(first_probe_round)
        self.rounds = int(rounds)
        self.seed = int(seed)
        self.smoothed: np.ndarray | None = None  # the EMA of A^t (when ema is set)
        self.probing_rounds_done = 0
        self.last_interactions: np.ndarray | None = None
        self._drops: dict[int, np.ndarray] = {}  # round -> summed loss drops of its probes so far
        self._before: dict[int, np.ndarray] = {}  # round -> eval losses before the next probe

    @property
    def num_eval(self) -> int:
        return self.num_skills

    @property
    def probe_total(self) -> int:
        """Probe steps of a probing round: sweeps x k x probe_steps."""
        return self.sweeps * self.num_skills * self.probe_steps

    def initial_weights(self) -> np.ndarray:
        return self._p.copy()

    def probes_in(self, round_number: int) -> bool:
        return self.first_probe_round <= round_number < self.rounds

    def probe_order(self, round_number: int) -> list[int]:
        """The probed skill of each probe block of a round: `sweeps` seeded permutations."""
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, round_number, 0xA101]))
        return [int(j) for _ in range(self.sweeps) for j in rng.permutation(self.num_skills)]

    def round_blocks(
        self, round_number: int, round_steps: int, mixture: Sequence[float] | None = None
    ) -> list[ProbeBlock]:
        """The round's mixture blocks: `mixture` (default: the one in force), then the probes
        (if the round probes)."""
        main = tuple(float(v) for v in (self.current_weights if mixture is None else mixture))
        if not self.probes_in(round_number):
            return [ProbeBlock(round_steps, main)]
        if round_steps <= self.probe_total:
            raise SkillitError(
                f"round {round_number} has {round_steps} steps but Aioli's probes take "
                f"{self.probe_total} (mixing.aioli.sweeps x skills x mixing.aioli.probe_steps); "
                "use fewer probe steps or fewer, longer rounds (mixing.rounds)"
            )
        blocks = [ProbeBlock(round_steps - self.probe_total, main)]
        for j in self.probe_order(round_number):
            w = updates.probe_mixture(self.num_skills, j, self.one_hot_factor)
            blocks.append(ProbeBlock(self.probe_steps, tuple(float(v) for v in w), j))
        return blocks

    def check_rounds(self, round_lengths: Sequence[int]) -> None:
        """Refuse, before training, a probing round too short for its probes."""
        for t, steps in enumerate(round_lengths, start=1):
            if self.probes_in(t):
                self.round_blocks(t, steps, self._p)

    def record_probe_eval(self, round_number: int, block: int, losses: np.ndarray) -> None:
        """The eval losses after block `block` of the round (0: the main block, before any
        probe); after a probe block they close its loss drop."""
        losses = np.asarray(losses, dtype=np.float64)
        if block > 0:
            j = self.probe_order(round_number)[block - 1]
            drops = self._drops.setdefault(round_number, np.zeros((self.num_skills,) * 2))
            drops[:, j] += self._before[round_number] - losses
        self._before[round_number] = losses

    def _next(self, round_number: int, losses: np.ndarray) -> np.ndarray:
        if not self.probes_in(round_number):
            self.last_interactions = None  # nothing measured this round
            return self.current_weights
        self.record_probe_eval(round_number, self.sweeps * self.num_skills, losses)
        drops = self._drops.pop(round_number)
        self._before.pop(round_number, None)
        a = updates.aioli_interactions(drops, self.sweeps, self.one_hot_factor)
        if self.normalise:
            a = updates.aioli_normalise(a)
        if self.ema is not None:
            if self.smoothed is not None:
                a = (1.0 - self.ema) * a + self.ema * self.smoothed
            self.smoothed = a
        self.last_interactions = a
        # The first update starts from uniform, as the authors' code does (a warm start only
        # decides what the rounds before the first probes train on).
        if self.probing_rounds_done == 0 or self.ema is not None:
            base = np.full(self.num_skills, 1.0 / self.num_skills)
        else:
            base = self.current_weights
        self.probing_rounds_done += 1
        return updates.aioli_update(base, a, self.eta)

    def signal(self) -> dict[str, list[float]]:
        if self.last_interactions is None:
            return {}
        a = self.last_interactions
        # per training skill j: A[:, j] (its effect on each eval skill's loss) and its column sum
        return {
            "interactions": [[float(v) for v in a[:, j]] for j in range(a.shape[1])],
            "interaction_score": [float(v) for v in a.sum(axis=0)],
        }

    def _extra_state(self) -> dict[str, Any]:
        def listed(a):
            return None if a is None else np.asarray(a).tolist()

        return {
            "smoothed": listed(self.smoothed),
            "probing_rounds_done": self.probing_rounds_done,
            "last_interactions": listed(self.last_interactions),
            # a checkpoint inside a probing round: the probes measured so far
            "drops": {str(t): listed(d) for t, d in self._drops.items()},
            "before": {str(t): listed(b) for t, b in self._before.items()},
        }

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        k = self.num_skills
        for key in ("smoothed", "last_interactions"):
            value = state.get(key)
            arr = None if value is None else np.asarray(value, dtype=np.float64)
            if arr is not None and arr.shape != (k, k):
                raise SkillitError(
                    f"the checkpoint's Aioli matrix has shape {arr.shape}, this run needs "
                    f"({k}, {k}); resume with the same skills"
                )
            setattr(self, key, arr)
        self.probing_rounds_done = int(state.get("probing_rounds_done", 0))
        self._drops = {
            int(t): np.asarray(d, dtype=np.float64) for t, d in state.get("drops", {}).items()
        }
        self._before = {
            int(t): np.asarray(b, dtype=np.float64) for t, b in state.get("before", {}).items()
        }


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
    odm: dict[str, Any] | None = None,
    aioli: dict[str, Any] | None = None,
    rounds: int = 1,
    seed: int = 0,
) -> MixingStrategy:
    """Build the strategy called `name` (the value of mixing.strategy) from what it needs.

    random: `weights` if given, else `natural_proportions`; stratified: `relevant` (default all
    training skills); manual: `weights` or `schedule`; curriculum/anticurriculum:
    `natural_proportions` and `stages`; skillit: `graph`, `eta`, `window`; static: `graph`, `eta`;
    no_graph: `train_skills`, `eval_skills`, `eta`, `window`; doremi: `reference_losses`, `eta`,
    `smoothing`; odm: the `odm` options (alpha, update_every, warmup_steps); aioli: the `aioli`
    options (eta, sweeps, probe_steps, one_hot_factor, ema, normalise, first_probe_round),
    `rounds`, `seed` and `weights` (its warm start; default uniform).
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
    if name in ("odm", "aioli"):
        if train_skills is None:
            raise SkillitError(f"the {name} strategy needs the training skills")
        if eval_skills is not None and list(eval_skills) != list(train_skills) and name == "aioli":
            raise SkillitError(
                "mixing.strategy=aioli measures each training skill's effect on every skill's "
                "loss, so skills.eval must equal skills.train in the same order; got "
                f"{list(eval_skills)} and {list(train_skills)}"
            )
        options = odm if name == "odm" else aioli
        if options is None:
            raise SkillitError(f"the {name} strategy needs its options (mixing.{name}.*)")
        if name == "odm":
            return ODMStrategy(len(train_skills), eval_skills=eval_skills, **options)
        start = weights if weights is not None else np.full(len(train_skills), 1.0)
        return AioliStrategy(
            check_weights(start, k),
            rounds=rounds,
            seed=seed,
            eval_skills=eval_skills,
            **options,
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
