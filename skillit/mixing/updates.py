"""Pure math of the mixing strategies: numpy arrays in, numpy arrays out, no state.

Skill-It (online mirror descent with an entropic regulariser) turns a skills graph A (k x m) and
per-evaluation-skill losses into a distribution over the k training skills:

    p[i] ∝ exp(eta * sum over the window's rounds of sum_j A[i, j] * L[j])

The window holds the losses of the last w *rounds* and is summed, not averaged: averaging would
shrink the update as the window fills up.

Every function here returns a valid simplex (finite, >= 0, sums to 1) for any finite input, even
values near the float64 limit: the products are computed on power-of-two-rescaled operands, which
is exact, and only score differences are exponentiated.
"""

from __future__ import annotations

import math

import numpy as np


def softmax_weights(scores: np.ndarray) -> np.ndarray:
    """exp(scores) normalised to sum to 1, computed by subtracting the maximum first.

    +inf scores share all the mass equally; -inf scores get none. NaN is rejected.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"scores must be a non-empty 1-D array, got shape {s.shape}")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    top = s.max()
    if np.isposinf(top):
        w = np.isposinf(s).astype(np.float64)
    elif np.isneginf(top):
        w = np.ones_like(s)
    else:
        with np.errstate(over="ignore", under="ignore"):
            w = np.exp(s - top)  # the maximum maps to exp(0) = 1, so the sum is >= 1
    return w / w.sum()


def _split_scale(x: np.ndarray) -> tuple[np.ndarray, int]:
    """(y, e) with x == y * 2**e exactly and max |y| in [0.5, 1) (or y == 0)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak == 0.0:
        return x.astype(np.float64), 0
    exponent = math.frexp(peak)[1]
    return np.ldexp(x, -exponent), exponent


def _check_graph(graph: np.ndarray) -> np.ndarray:
    a = np.asarray(graph, dtype=np.float64)
    if a.ndim != 2 or 0 in a.shape:
        raise ValueError(f"the graph must be a non-empty k x m matrix, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("the graph has non-finite entries")
    return a


def _check_eta(eta: float) -> float:
    eta = float(eta)
    if not math.isfinite(eta) or eta < 0:
        raise ValueError(f"eta must be a finite number >= 0, got {eta}")
    return eta


def exponentiated_gradient(graph: np.ndarray, loss_window: np.ndarray, eta: float) -> np.ndarray:
    """p[i] ∝ exp(eta * sum_rows sum_j A[i, j] * L[row, j]) for a window L of shape (w', m)."""
    a = _check_graph(graph)
    window = np.asarray(loss_window, dtype=np.float64)
    if window.ndim != 2 or window.shape[0] == 0 or window.shape[1] != a.shape[1]:
        raise ValueError(
            f"loss_window must have shape (w', {a.shape[1]}) with w' >= 1, got {window.shape}"
        )
    if not np.isfinite(window).all():
        raise ValueError("loss_window has non-finite entries")
    eta = _check_eta(eta)
    a_small, a_exp = _split_scale(a)
    l_small, l_exp = _split_scale(window)
    # |a_small @ l_small.sum(0)| <= m * w', so no overflow; scale back only the differences.
    x = a_small @ l_small.sum(axis=0)
    diff = x - x.max()  # <= 0; the softmax depends on differences only
    with np.errstate(over="ignore", under="ignore"):
        scores = np.ldexp(eta * diff, a_exp + l_exp)
    return softmax_weights(scores)


def skillit_initial(graph: np.ndarray, eta: float) -> np.ndarray:
    """p_1[i] ∝ exp(eta * sum_j A[i, j]): the first Skill-It mixture, before any loss is seen."""
    a = _check_graph(graph)
    return exponentiated_gradient(a, np.ones((1, a.shape[1])), eta)


def skillit_update(graph: np.ndarray, loss_window: np.ndarray, eta: float) -> np.ndarray:
    """The next Skill-It mixture from the eval losses of the last w' <= w rounds (w', m).

    Rows are rounds (most recent last), columns are evaluation skills. The caller keeps the
    window; the rounds are summed, not averaged.
    """
    return exponentiated_gradient(graph, loss_window, eta)


GRAPH_NORMS = ("none", "rows", "columns")


def normalise_graph(graph: np.ndarray, how: str) -> np.ndarray:
    """The graph Skill-It scores with: as it is ("none", the paper's), each row divided by its sum
    ("rows": a skill's score becomes a weighted mean of the losses it helps, so a skill that helps
    many no longer wins on its row sum alone), or each column by its sum ("columns": a target's
    loss is shared among its prerequisites). A row or column summing to 0 stays 0."""
    a = _check_graph(graph)
    if how == "none":
        return a.copy()
    if how not in GRAPH_NORMS:
        raise ValueError(f"graph normalisation must be one of {GRAPH_NORMS}, got {how!r}")
    axis = 1 if how == "rows" else 0
    sums = a.sum(axis=axis, keepdims=True)
    return np.divide(a, sums, out=np.zeros_like(a), where=sums != 0)


def relative_losses(losses: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Losses as fractions of the first ones a run saw (1 = no progress since): skills whose
    losses differ in scale (a table against prose) are scored by how far they have come."""
    first = np.asarray(first, dtype=np.float64)
    if not (np.isfinite(first).all() and (first > 0).all()):
        raise ValueError(f"relative losses need finite positive first losses, got {first}")
    return np.asarray(losses, dtype=np.float64) / first


def mix_uniform(weights: np.ndarray, smoothing: float) -> np.ndarray:
    """(1 - c) p + c / k: every skill keeps at least c / k of the mixture (c = `smoothing`)."""
    p = np.asarray(weights, dtype=np.float64)
    c = float(smoothing)
    if not 0.0 <= c <= 1.0:
        raise ValueError(f"smoothing must be in [0, 1], got {smoothing}")
    if c == 0.0:
        return p.copy()
    return (1.0 - c) * p + c / p.size


def static_weights(graph: np.ndarray, eta: float) -> np.ndarray:
    """The T = 1 ablation: the softmax over eta times A's row sums (identical to p_1)."""
    return skillit_initial(graph, eta)


def doremi_update(
    weights: np.ndarray, excess: np.ndarray, eta: float, smoothing: float
) -> np.ndarray:
    """DoReMi's domain-weight step: a' = w * exp(eta * excess), then (1 - c) a'/sum(a') + c/k.

    `excess` is each domain's excess loss over the reference model, already clipped at 0 by
    the caller's rule; `smoothing` (c) mixes in the uniform distribution so no domain dies.
    """
    w = np.asarray(weights, dtype=np.float64)
    lam = np.asarray(excess, dtype=np.float64)
    if w.ndim != 1 or lam.shape != w.shape or not np.isfinite(lam).all():
        raise ValueError(f"excess must be {w.shape[0]} finite values, got {lam}")
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"smoothing must be in [0, 1], got {smoothing}")
    with np.errstate(divide="ignore"):
        log_w = np.log(w)  # a zero weight stays zero before smoothing
    moved = softmax_weights(log_w + _check_eta(eta) * lam)
    return (1.0 - smoothing) * moved + smoothing / w.size


# -- ODM (Albalak et al. 2023): EXP3 over domains, rewarded by their training loss ---------------


def odm_exploration(step: int, num_skills: int) -> float:
    """ε_t = min(1/K, sqrt(ln K / (K t))): the exploration rate after `step` >= 1 training steps."""
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    k = int(num_skills)
    return min(1.0 / k, math.sqrt(math.log(k) / (k * step)))


def odm_reward_estimate(
    estimate: np.ndarray,
    mean_losses: np.ndarray,
    observed: np.ndarray,
    policy: np.ndarray,
    alpha: float,
) -> np.ndarray:
    """R̂_i <- α R̂_i + (1 - α) L_i / π_i for every observed domain i; the others keep R̂_i.

    L_i is domain i's mean training loss since the last update and π_i the probability it was
    sampled with: dividing by π_i is EXP3's importance weight (rarely drawn domains count more).
    """
    r = np.asarray(estimate, dtype=np.float64)
    seen = np.asarray(observed, dtype=bool)
    losses = np.asarray(mean_losses, dtype=np.float64)
    pi = np.asarray(policy, dtype=np.float64)
    if not (r.shape == seen.shape == losses.shape == pi.shape) or r.ndim != 1:
        raise ValueError("estimate, mean_losses, observed and policy must be k values each")
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha must be in [0, 1), got {alpha}")
    if not np.isfinite(losses[seen]).all() or (pi[seen] <= 0).any():
        raise ValueError("an observed domain needs a finite loss and a policy value > 0")
    out = r.copy()
    out[seen] = alpha * r[seen] + (1.0 - alpha) * losses[seen] / pi[seen]
    return out


def odm_policy(estimate: np.ndarray, previous_eps: float, eps: float) -> np.ndarray:
    """π_i = (1 - K ε_t) exp(ε_{t-1} R̂_i) / Σ_j exp(ε_{t-1} R̂_j) + ε_t (sums to 1 exactly
    in exact arithmetic; renormalised for the last bit)."""
    r = np.asarray(estimate, dtype=np.float64)
    k = r.size
    if not 0.0 <= eps <= 1.0 / k:
        raise ValueError(f"eps must be in [0, 1/K], got {eps}")
    pi = (1.0 - k * eps) * softmax_weights(previous_eps * r) + eps
    return pi / pi.sum()


def odm_smoothed_mean_reward(
    estimate: np.ndarray, mean_losses: np.ndarray, observed: np.ndarray, alpha: float
) -> np.ndarray:
    """The authors' smoothed-mean reward: R_i <- α R_i + (1 - α) exp(L_i) for every observed
    domain i (R starts at 0; no importance weight), the others keep R_i."""
    r = np.asarray(estimate, dtype=np.float64)
    seen = np.asarray(observed, dtype=bool)
    losses = np.asarray(mean_losses, dtype=np.float64)
    if not (r.shape == seen.shape == losses.shape) or r.ndim != 1:
        raise ValueError("estimate, mean_losses and observed must be k values each")
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha must be in [0, 1), got {alpha}")
    if not np.isfinite(losses[seen]).all():
        raise ValueError("an observed domain needs a finite loss")
    out = r.copy()
    out[seen] = alpha * r[seen] + (1.0 - alpha) * np.exp(losses[seen])
    return out


def odm_linear_policy(estimate: np.ndarray, eps: float) -> np.ndarray:
    """π = (1 - K ε) R / Σ R + ε: the smoothed-mean updater's policy, proportional to the
    rewards (uniform while every reward is 0)."""
    r = np.asarray(estimate, dtype=np.float64)
    k = r.size
    if not 0.0 <= eps <= 1.0 / k:
        raise ValueError(f"eps must be in [0, 1/K], got {eps}")
    if (r < 0).any() or not np.isfinite(r).all():
        raise ValueError(f"rewards must be finite and >= 0, got {r}")
    share = r / r.sum() if r.sum() > 0 else np.full(k, 1.0 / k)
    pi = (1.0 - k * eps) * share + eps
    return pi / pi.sum()


# -- Aioli (Chen et al. 2024): interactions estimated by probe mixtures inside the run -----------


def probe_mixture(num_skills: int, skill: int, one_hot_factor: float) -> np.ndarray:
    """The smoothed one-hot probe: `one_hot_factor` on `skill`, the rest shared equally."""
    k = int(num_skills)
    if k < 2 or not 0.0 < one_hot_factor <= 1.0:
        raise ValueError(f"need k >= 2 and one_hot_factor in (0, 1], got {k}, {one_hot_factor}")
    w = np.full(k, (1.0 - one_hot_factor) / (k - 1))
    w[skill] = one_hot_factor
    return w


def aioli_interactions(
    loss_drops: np.ndarray, sweeps: int, one_hot_factor: float, diagonal: bool = False
) -> np.ndarray:
    """A^t (eval skill x train skill) from the summed loss drops of the probes.

    `loss_drops[i, j]` is the drop of eval skill i's loss over the probes of training skill j,
    summed over `sweeps`. With one-hot probes that average is A^t; with smoothed probes (mixture
    rows W) the drops are D = A W^T, so A = D W^{-T} (in closed form below).

    `diagonal` is the authors' `aioli_diagonal`: with smoothed probes, no solve, A[i, i] =
    D[i, i] / one_hot_factor and 0 off the diagonal; with one-hot probes it changes nothing.
    """
    d = np.asarray(loss_drops, dtype=np.float64) / int(sweeps)
    k = d.shape[1]
    if one_hot_factor == 1.0:
        return d
    if diagonal:
        return np.diag(np.diag(d) / one_hot_factor)
    # The probe rows are W = c I + b 11^T (b off the diagonal, c = f - b) and c + b k = 1, so
    # W^{-1} = (I - b 11^T) / c (Sherman-Morrison): O(k^2), not a solve's O(k^3) (97 ms at
    # k = 1,000). W is symmetric, so A = D W^{-1}; f = 1/k makes every probe uniform.
    b = (1.0 - one_hot_factor) / (k - 1)
    c = one_hot_factor - b
    if abs(c) < 1e-12:
        raise ValueError(
            f"one_hot_factor={one_hot_factor} = 1/k makes every probe the uniform mixture: "
            "the interactions cannot be told apart"
        )
    return (d - b * d.sum(axis=1, keepdims=True)) / c


def aioli_normalise(interactions: np.ndarray) -> np.ndarray:
    """The authors' optional normalisation: shift so the minimum is 0 (if negative), sum to 1."""
    a = np.asarray(interactions, dtype=np.float64)
    low = a.min()
    if low < 0:
        a = a - low
    total = a.sum()
    return a / total if total > 0 else np.full_like(a, 1.0 / a.size)


def aioli_update(weights: np.ndarray, interactions: np.ndarray, eta: float) -> np.ndarray:
    """p' ∝ p * exp(eta * Σ_i A[i, j]): each training skill scored by its summed loss drops."""
    w = np.asarray(weights, dtype=np.float64)
    a = np.asarray(interactions, dtype=np.float64)
    if a.shape != (a.shape[0], w.size) or not np.isfinite(a).all():
        raise ValueError(f"interactions must be finite with {w.size} columns, got {a.shape}")
    with np.errstate(divide="ignore"):
        log_w = np.log(w)
    return softmax_weights(log_w + _check_eta(eta) * a.sum(axis=0))
