"""Aioli (Chen et al. 2024, arXiv 2411.05735): interactions estimated by probe mixtures inside
each round, then p_{t+1} ∝ p_t exp(eta * column sums of A^t); with its options section.

A probing round ends with `sweeps` x k probe blocks of `probe_steps` steps each (smoothed one-hot
mixtures, in a seeded order); the eval losses before and after each block give its loss drops,
the round-end evaluation closing the last block. The probe steps are training steps of the
round, so they count against the budget. Rounds before `first_probe_round` and the last round
train on their mixture only (the restricted variant warm-starts from another strategy's mixture
through `mixing.weights` and `first_probe_round`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from skillit.errors import SkillitError
from skillit.mixing import updates
from skillit.mixing.base import Block, BuildContext, InRoundNeeds, MixingStrategy
from skillit.sampling import check_weights


@dataclass
class AioliConfig:
    """Aioli (mixing.aioli).

    Defaults are the authors' 3-domain SlimPajama script (HazyResearch/aioli,
    scripts/arxiv_books_stackexchange/aioli/run.sh): eta 0.1, 4 sweeps of 6 steps per skill,
    smoothed one-hot probes 0.5, EMA 0.5 of A^t, A normalised; a round there is 250 steps.
    `diagonal: true` is the authors' `aioli_diagonal` option (each skill's effect on its own
    loss only, read off the probes without the solve; see updates.aioli_interactions).
    """

    eta: float = 0.1
    sweeps: int = 4  # LearnParams rounds: passes over the k probe mixtures per round
    probe_steps: int = 6  # steps per probe mixture
    one_hot_factor: float = 0.5  # probe weight on its skill (1: one-hot)
    ema: float | None = 0.5  # A^t <- (1 - ema) A^t + ema A^{t-1}; null: none
    normalise: bool = True  # shift A^t to >= 0 and scale it to sum 1
    first_probe_round: int = 1  # rounds before it train on mixing.weights (the warm start)
    diagonal: bool = False  # A^t diagonal, without the solve (the authors' aioli_diagonal)

    def __post_init__(self) -> None:
        if not math.isfinite(self.eta) or self.eta < 0:
            raise SkillitError(f"mixing.aioli.eta must be a finite number >= 0, got {self.eta}")
        for key in ("sweeps", "probe_steps", "first_probe_round"):
            value = getattr(self, key)
            if isinstance(value, bool) or value < 1:
                raise SkillitError(f"mixing.aioli.{key} must be an integer >= 1, got {value}")
        if not 0.0 < self.one_hot_factor <= 1.0:
            raise SkillitError(
                f"mixing.aioli.one_hot_factor must be in (0, 1], got {self.one_hot_factor}"
            )
        if self.ema is not None and not 0.0 <= self.ema < 1.0:
            raise SkillitError(f"mixing.aioli.ema must be in [0, 1) or null, got {self.ema}")


class AioliStrategy(MixingStrategy):
    """Aioli: probe mixtures at the end of each probing round estimate A^t; an exponentiated
    step on its column sums gives the next mixture."""

    name = "aioli"
    uses_losses = True
    in_round = InRoundNeeds(block_evals=True)

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
        diagonal: bool = False,
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
        self.diagonal = bool(diagonal)
        self.first_probe_round = int(first_probe_round)
        self.rounds = int(rounds)
        self.seed = int(seed)
        self.smoothed: np.ndarray | None = None  # the EMA of A^t (when ema is set)
        self.probing_rounds_done = 0
        self.last_interactions: np.ndarray | None = None
        self._drops: dict[int, np.ndarray] = {}  # round -> summed loss drops of its probes so far
        self._before: dict[int, np.ndarray] = {}  # round -> eval losses before the next probe
        self._order_cache: tuple[int, list[int]] = (0, [])  # (round, its probe order)

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

    def _cached_probe_order(self, round_number: int) -> list[int]:
        """probe_order, computed once a round (it is asked for after every probe block)."""
        if self._order_cache[0] != round_number:
            self._order_cache = (round_number, self.probe_order(round_number))
        return self._order_cache[1]

    def round_blocks(
        self, round_number: int, round_steps: int, mixture: Sequence[float] | None = None
    ) -> list[Block]:
        """The round's blocks: `mixture` (default: the one in force), then the probes in
        :meth:`probe_order` (if the round probes)."""
        main = tuple(float(v) for v in (self.current_weights if mixture is None else mixture))
        if not self.probes_in(round_number):
            return [Block(round_steps, main)]
        if round_steps <= self.probe_total:
            raise SkillitError(
                f"round {round_number} has {round_steps} steps but Aioli's probes take "
                f"{self.probe_total} (mixing.aioli.sweeps x skills x mixing.aioli.probe_steps); "
                "use fewer probe steps or fewer, longer rounds (mixing.rounds)"
            )
        blocks = [Block(round_steps - self.probe_total, main)]
        for j in self.probe_order(round_number):
            w = updates.probe_mixture(self.num_skills, j, self.one_hot_factor)
            blocks.append(Block(self.probe_steps, tuple(float(v) for v in w)))
        return blocks

    def check_rounds(self, round_lengths: Sequence[int]) -> None:
        """Refuse, before training, a probing round too short for its probes."""
        for t, steps in enumerate(round_lengths, start=1):
            if self.probes_in(t):
                self.round_blocks(t, steps, self._p)

    def observe_block_eval(self, round_number: int, block: int, losses: np.ndarray) -> None:
        """The eval losses after block `block` of the round (0: the main block, before any
        probe); after a probe block they close its loss drop."""
        losses = np.asarray(losses, dtype=np.float64)
        if block > 0:
            j = self._cached_probe_order(round_number)[block - 1]
            drops = self._drops.get(round_number)
            if drops is None:
                drops = self._drops[round_number] = np.zeros((self.num_skills,) * 2)
            drops[:, j] += self._before[round_number] - losses
        self._before[round_number] = losses

    def _next(self, round_number: int, losses: np.ndarray) -> np.ndarray:
        if not self.probes_in(round_number):
            self.last_interactions = None  # nothing measured this round
            return self.current_weights
        self.observe_block_eval(round_number, self.sweeps * self.num_skills, losses)
        drops = self._drops.pop(round_number)
        self._before.pop(round_number, None)
        a = updates.aioli_interactions(drops, self.sweeps, self.one_hot_factor, self.diagonal)
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


def build_aioli(ctx: BuildContext, options: AioliConfig) -> AioliStrategy:
    """From uniform (or the warm start mixing.weights); refuses rounds too short to probe."""
    if options.first_probe_round >= ctx.rounds:
        raise SkillitError(
            f"mixing.aioli.first_probe_round={options.first_probe_round} leaves no round to probe "
            f"in (mixing.rounds={ctx.rounds}; the last round never probes): use a first probe "
            f"round below {ctx.rounds}"
        )
    start = ctx.weights if ctx.weights is not None else np.ones(ctx.num_skills)
    strategy = AioliStrategy(
        check_weights(start, ctx.num_skills),
        eta=options.eta,
        sweeps=options.sweeps,
        probe_steps=options.probe_steps,
        one_hot_factor=options.one_hot_factor,
        ema=options.ema,
        normalise=options.normalise,
        first_probe_round=options.first_probe_round,
        rounds=ctx.rounds,
        seed=ctx.seed,
        eval_skills=ctx.eval_skills,
        diagonal=options.diagonal,
    )
    if ctx.round_lengths:
        strategy.check_rounds(ctx.round_lengths)
    return strategy
