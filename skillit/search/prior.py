"""Where the swarm's mixtures come from: a Dirichlet prior around the natural proportions.

RegMix's recipe, in our own words: each mixture is a Dirichlet draw with concentration
`strength x natural`, the strength log-uniform between 0.1 and 5. A small strength gives sparse,
extreme mixtures (most weight on one or two domains); a large one stays near the natural mix,
so one swarm covers both corners and the middle of the simplex. Weights under `floor` are set to
0 (a domain seen a handful of times says nothing), and a draw that asks a domain for more than
its limit (the repetition limit at the final budget) is rejected. The natural and the uniform
mixtures open every swarm: the two baselines a proposal is compared with are then measured, not
predicted.
"""

from __future__ import annotations

import numpy as np

from skillit.errors import SkillitError

STRENGTHS = (0.1, 5.0)  # RegMix's range of Dirichlet strengths (log-uniform)


def _anchors(natural: np.ndarray, upper: np.ndarray) -> list[np.ndarray]:
    k = len(natural)
    return [w for w in (natural, np.full(k, 1.0 / k)) if (w <= upper + 1e-12).all()]


def sample_mixtures(
    natural,
    n: int,
    rng: np.random.Generator,
    upper=None,
    floor: float = 1e-3,
    anchors: bool = True,
) -> np.ndarray:
    """n distinct mixtures (rows, each summing to 1) from the prior around `natural`; none gives a
    domain more than `upper` (per domain, default 1). The natural and uniform mixtures come
    first when `anchors` (and when they are within `upper`)."""
    natural = np.asarray(natural, dtype=np.float64)
    if natural.ndim != 1 or len(natural) < 2 or (natural < 0).any() or natural.sum() <= 0:
        raise SkillitError(f"the mixture search needs two or more domains with data, got {natural}")
    natural = natural / natural.sum()
    k = len(natural)
    upper = np.ones(k) if upper is None else np.minimum(np.asarray(upper, np.float64), 1.0)
    if upper.sum() < 1 - 1e-9:
        raise SkillitError(
            f"no mixture fits the repetition limit: the domains' largest weights {upper.round(4)} "
            "sum to less than 1 (raise --max-epochs or lower --final-tokens)"
        )
    rows = _anchors(natural, upper) if anchors else []
    seen = {tuple(np.round(r, 6)) for r in rows}
    for _ in range(100):  # batches of draws until n distinct ones fit the limit
        if len(rows) >= n:
            break
        for w in draw_prior(natural, max(2 * (n - len(rows)), 64), rng, floor):
            key = tuple(np.round(w, 6))
            if len(rows) < n and (w <= upper + 1e-12).all() and key not in seen:
                seen.add(key)
                rows.append(w)
    if len(rows) < n:
        raise SkillitError(
            f"could draw only {len(rows)} distinct mixtures within the repetition limit "
            f"{upper.round(4)}; ask for fewer runs or relax the limit"
        )
    return np.stack(rows[:n])


def draw_prior(natural: np.ndarray, n: int, rng: np.random.Generator, floor: float) -> np.ndarray:
    """n Dirichlet draws around `natural` (rows), each with its own log-uniform strength, weights
    under `floor` set to 0; draws left empty are dropped."""
    strength = np.exp(rng.uniform(*np.log(STRENGTHS), size=(n, 1)))
    alpha = np.maximum(natural, 1e-6)[None, :] * strength  # a domain with no tokens: tiny
    draws = rng.gamma(alpha)  # normalised gammas are Dirichlet draws
    draws = draws / np.maximum(draws.sum(axis=1, keepdims=True), 1e-300)
    draws = np.where(draws < floor, 0.0, draws)
    totals = draws.sum(axis=1)
    keep = totals > 0
    return draws[keep] / totals[keep, None]


def repetition_limit(train_tokens, final_tokens: float | None, max_epochs: float) -> np.ndarray:
    """Each domain's largest weight at a final budget: weight x final_tokens may not exceed
    max_epochs x the domain's train tokens (all 1 without a budget)."""
    tokens = np.asarray(train_tokens, dtype=np.float64)
    if final_tokens is None:
        return np.ones(len(tokens))
    if final_tokens <= 0 or max_epochs <= 0:
        raise SkillitError(
            f"--final-tokens and --max-epochs must be > 0, got {final_tokens} and {max_epochs}"
        )
    return np.minimum(max_epochs * tokens / final_tokens, 1.0)
