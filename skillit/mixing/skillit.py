"""Skill-It (Algorithm 1 of the paper) and its two ablations, with their options section.

- skillit: online mirror descent, p_{t+1}[i] ∝ exp(eta * sum over the last `window` rounds of
  (A @ L)[i]) from the skills graph A (k x m) and the eval losses L;
- static: the T = 1 ablation, the softmax over eta times A's row sums, never updated;
- no_graph: Skill-It with A = identity matched by name (p ∝ exp(eta * own loss)).

All three read `mixing.skillit.eta`; skillit and no_graph also `mixing.skillit.window`. The
variant for dense graphs (online only, not in the paper) normalises the graph's rows or columns
(`graph_norm`) and/or scores losses relative to the first ones seen (`relative_losses`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from skillit.errors import SkillitError, SkillitWarning
from skillit.mixing import updates
from skillit.mixing.base import BuildContext, MixingStrategy


@dataclass
class SkillItConfig:
    """Skill-It's options (mixing.skillit; also read by static and no_graph).

    Defaults are the paper's LEGO setting (eta 0.5, window 3 rounds); the experiment files set
    each paper setting's own.
    """

    eta: float = 0.5  # step size of the exponentiated update
    window: int = 3  # w: rounds of losses summed into each update
    # (1 - c) p + c / k on every mixture, so no skill falls below c / k and a learned skill is
    # still rehearsed; 0 is the paper's update (not in the paper: see docs/fidelity.md)
    smoothing: float = 0.0
    # The variant for dense graphs (not in the paper; docs/fidelity.md): "rows" or "columns"
    # normalises the graph before scoring; relative_losses scores each eval loss as a fraction
    # of its first value. "none" and false are the paper's update.
    graph_norm: str = "none"
    relative_losses: bool = False

    @property
    def is_paper_update(self) -> bool:
        return self.graph_norm == "none" and not self.relative_losses

    def __post_init__(self) -> None:
        if self.graph_norm not in updates.GRAPH_NORMS:
            raise SkillitError(
                f"mixing.skillit.graph_norm must be one of {list(updates.GRAPH_NORMS)}, got "
                f"{self.graph_norm!r}"
            )
        if not math.isfinite(self.eta) or self.eta < 0:
            raise SkillitError(f"mixing.skillit.eta must be a finite number >= 0, got {self.eta}")
        if isinstance(self.window, bool) or self.window < 1:
            raise SkillitError(
                f"mixing.skillit.window must be an integer >= 1 (rounds), got {self.window}"
            )
        if not 0.0 <= self.smoothing <= 1.0:
            raise SkillitError(
                f"mixing.skillit.smoothing must be in [0, 1] (share spread uniformly), got "
                f"{self.smoothing}"
            )


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
        smoothing: float = 0.0,
        graph_norm: str = "none",
        relative_losses: bool = False,
    ) -> None:
        self.graph = updates.normalise_graph(graph, graph_norm)
        self.relative = bool(relative_losses)
        self.eta = float(eta)
        self.window = int(window)
        self.smoothing = float(smoothing)
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
        self._first: np.ndarray | None = None  # the first losses seen (relative_losses)

    @property
    def num_eval(self) -> int:
        return self.graph.shape[1]

    def initial_weights(self) -> np.ndarray:
        return updates.mix_uniform(updates.skillit_initial(self.graph, self.eta), self.smoothing)

    def loss_window(self) -> np.ndarray:
        """The losses of the rounds inside the window (w', m), oldest first."""
        return np.array([losses for _, losses in self._history]).reshape(-1, self.num_eval)

    def _next(self, round_number: int, losses: np.ndarray) -> np.ndarray:
        # The window spans rounds (t - w, t]: a round is counted once, whatever the eval interval.
        kept = [(r, v) for r, v in self._history if round_number - self.window < r < round_number]
        if self.relative:
            if self._first is None:
                if not (losses > 0).all():
                    raise SkillitError(
                        f"mixing.skillit.relative_losses divides by the first eval losses, and "
                        f"one of them is not positive ({losses.tolist()}); set it to false"
                    )
                self._first = losses.copy()
            losses = updates.relative_losses(losses, self._first)
        self._history = kept + [(round_number, losses.copy())]
        p = updates.skillit_update(self.graph, self.loss_window(), self.eta)
        return updates.mix_uniform(p, self.smoothing)

    def _extra_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "window": [
                {"round": r, "losses": [float(v) for v in losses]} for r, losses in self._history
            ]
        }
        if self._first is not None:
            state["first_losses"] = [float(v) for v in self._first]
        return state

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
        first = state.get("first_losses")
        self._first = None if first is None else np.asarray(first, dtype=np.float64)


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
        smoothing: float = 0.0,
        relative_losses: bool = False,
    ) -> None:
        graph = identity_columns(train_skills, eval_skills)
        super().__init__(graph, eta, window, eval_skills, smoothing, "none", relative_losses)


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


# -- builds (see skillit.mixing.registry) ---------------------------------------------------------


def _run_graph(ctx: BuildContext, name: str) -> np.ndarray:
    graph = np.asarray(ctx.graph, dtype=np.float64)
    if graph.shape[0] != ctx.num_skills:
        raise SkillitError(
            f"the graph has {graph.shape[0]} rows but there are {ctx.num_skills} training skills "
            "(mixing.graph)"
        )
    if not (graph > 0).any():
        warnings.warn(
            f"the skills graph has no positive entry between skills.train and skills.eval, so "
            f"mixing.strategy={name} keeps a uniform mixture; check mixing.graph",
            SkillitWarning,
            stacklevel=3,
        )
    return graph


# The paper's online runs use eta 0.1-0.8; its static recipe (one update from the start model's
# losses) uses 100, which online puts nearly all weight on one skill from the first update on.
ONLINE_ETA_WARNING = 10.0


def build_skillit(ctx: BuildContext, options: SkillItConfig) -> SkillItStrategy:
    graph = _run_graph(ctx, "skillit")
    if options.eta >= ONLINE_ETA_WARNING:
        warnings.warn(
            f"mixing.skillit.eta={options.eta:g} is a static recipe's step size: online Skill-It "
            "(mixing.strategy=skillit) with it trains on nearly one skill from the first update "
            "on; the paper's online runs use 0.1-0.8 (or use mixing.strategy=static)",
            SkillitWarning,
            stacklevel=2,
        )
    return SkillItStrategy(
        graph,
        options.eta,
        options.window,
        ctx.eval_skills,
        options.smoothing,
        options.graph_norm,
        options.relative_losses,
    )


def build_static(ctx: BuildContext, options: SkillItConfig) -> StaticStrategy:
    if not options.is_paper_update:
        raise SkillitError(
            "mixing.skillit.graph_norm and mixing.skillit.relative_losses change the online "
            "update (mixing.strategy=skillit); the static ablation reads neither: leave them unset"
        )
    return StaticStrategy(_run_graph(ctx, "static"), options.eta, ctx.eval_skills)


def build_no_graph(ctx: BuildContext, options: SkillItConfig) -> NoGraphStrategy:
    return NoGraphStrategy(
        ctx.train_skills,
        ctx.eval_skills,
        options.eta,
        options.window,
        options.smoothing,
        options.relative_losses,  # graph_norm leaves the identity as it is
    )
