"""From probe losses to a skills graph: loss drops per seed, their mean and spread, normalisation.

Raw drops, one (k, m) matrix per seed (rows: training skills, columns: evaluation skills):

- linear: raw[i, j] = L_j(start) - L_j(after h steps on i) = d_j^i;
- brute force: raw[i, j] = d_j^{i,j} - d_j^j = L_j(after H steps on j) - L_j(after H steps on i and
  j) for i != j (the start loss cancels), and on the skill's own entry raw[j, j] = d_j^j, the drop
  from training on j alone, which is what the edges are compared with.
- transfer: raw[i, j] = L_j(control mixture without i, j's share kept) - L_j(control mixture) for
  i != j: how much j loses when i is taken out; on the own entry raw[j, j] = L_j(control without
  j) - L_j(control), what j's own data is worth.

Only positive drops are edges. The matrix A keeps their mean over seeds, normalised by one of:

- ``diag`` (the shape of the paper's graphs): every evaluation skill that is also a training skill
  gets A[j, j] = 1 and its other entries are divided by its own drop d_j^j and capped at 1 (an edge
  is at most as strong as the skill itself). A column without an own entry (out-of-domain) or whose
  own drop is not positive is divided by its largest entry instead.
- ``paper``: own entries 1 and the strongest edge 0.5, the other edges in proportion: the scale of
  the paper's synthetic graphs (diagonal 1, edges 0.5) whatever the size of the drops, for graphs
  whose edges are real but small next to the skills' own drops.
- ``max``: everything divided by the largest entry, so A is in [0, 1] and columns stay comparable.
- ``raw``: the drops in loss units (nats), unscaled.

Two optional filters act on edges (entries other than a skill's own): `min_edge` drops those below
it after normalising; `min_z` drops those whose mean drop is not above `min_z` standard errors of the
mean over seeds (std / sqrt(seeds)), i.e. edges the seeds do not agree on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from skillit.errors import SkillitError
from skillit.graphlearn.probes import (
    Probe,
    baseline,
    control_probe,
    skill_pairs,
    transfer_cells,
)

NORMALIZATIONS = ("diag", "paper", "max", "raw")
PAPER_EDGE = 0.5  # edge weight of the paper's synthetic graphs


def own_rows(train_skills: Sequence[str], eval_skills: Sequence[str]) -> list[int | None]:
    """For each evaluation skill, its row among the training skills (None if it is not one)."""
    index = {name: i for i, name in enumerate(train_skills)}
    return [index.get(name) for name in eval_skills]


def _loss(losses: Mapping[Probe, np.ndarray], probe: Probe) -> np.ndarray:
    try:
        return losses[probe]
    except KeyError:
        raise KeyError(f"no result for probe {probe.key}") from None


def linear_deltas(
    losses: Mapping[Probe, np.ndarray],
    train_skills: Sequence[str],
    eval_skills: Sequence[str],
    seeds: Sequence[int],
    steps: int,
) -> np.ndarray:
    """(seeds, k, m): d_j^i, the drop of eval skill j after `steps` steps on training skill i."""
    raw = np.empty((len(seeds), len(train_skills), len(eval_skills)))
    for s, seed in enumerate(seeds):
        start = _loss(losses, baseline(seed))
        for i, name in enumerate(train_skills):
            raw[s, i] = start - _loss(losses, Probe(seed, (name,), steps))
    return raw


def brute_deltas(
    losses: Mapping[Probe, np.ndarray],
    train_skills: Sequence[str],
    eval_skills: Sequence[str],
    seeds: Sequence[int],
    steps: int,
) -> np.ndarray:
    """(seeds, k, m): d_j^{i,j} - d_j^j off the own entries, d_j^j on them."""
    rows = own_rows(train_skills, eval_skills)
    pair_of = {frozenset(p): p for p in skill_pairs(train_skills, eval_skills)}
    raw = np.full((len(seeds), len(train_skills), len(eval_skills)), np.nan)
    for s, seed in enumerate(seeds):
        start = _loss(losses, baseline(seed))
        for c, (name, own) in enumerate(zip(eval_skills, rows)):
            alone = _loss(losses, Probe(seed, (name,), steps))[c]
            raw[s, own, c] = start[c] - alone
            for i, other in enumerate(train_skills):
                if i != own:
                    pair = pair_of[frozenset((name, other))]
                    raw[s, i, c] = alone - _loss(losses, Probe(seed, pair, steps))[c]
    return raw


def transfer_deltas(
    losses: Mapping[Probe, np.ndarray],
    train_skills: Sequence[str],
    eval_skills: Sequence[str],
    seeds: Sequence[int],
    steps: int,
) -> np.ndarray:
    """(seeds, k, m): how much higher eval skill j's loss ends when training skill i is removed
    from the control mixture (j's own share kept), against the control."""
    raw = np.empty((len(seeds), len(train_skills), len(eval_skills)))
    for s, seed in enumerate(seeds):
        control = _loss(losses, control_probe(seed, train_skills, steps))
        for i, c, probe in transfer_cells(seed, train_skills, eval_skills, steps):
            raw[s, i, c] = _loss(losses, probe)[c] - control[c]
    return raw


DELTAS = {"linear": linear_deltas, "brute": brute_deltas, "transfer": transfer_deltas}


def normalise(
    mean: np.ndarray,
    train_skills: Sequence[str],
    eval_skills: Sequence[str],
    mode: str,
) -> np.ndarray:
    """The (k, m) graph from mean drops; see the module docstring for the modes."""
    if mode not in NORMALIZATIONS:
        raise SkillitError(f"--normalize must be one of {', '.join(NORMALIZATIONS)}, got {mode!r}")
    pos = np.nan_to_num(np.maximum(np.asarray(mean, dtype=np.float64), 0.0), nan=0.0)
    if mode == "raw":
        return pos
    if mode == "max":
        top = pos.max(initial=0.0)
        return pos / top if top > 0 else pos
    rows = own_rows(train_skills, eval_skills)
    if mode == "paper":
        own = np.zeros(pos.shape, dtype=bool)
        for c, r in enumerate(rows):
            if r is not None:
                own[r, c] = True
        top = pos[~own].max(initial=0.0)
        out = pos * (PAPER_EDGE / top) if top > 0 else np.zeros_like(pos)
        out[own] = 1.0
        return out
    out = np.zeros_like(pos)
    for c, own in enumerate(rows):
        col = pos[:, c]
        scale = col[own] if own is not None and col[own] > 0 else col.max(initial=0.0)
        if scale > 0:
            out[:, c] = np.minimum(col / scale, 1.0)
        if own is not None:
            out[own, c] = 1.0
    return out


def keep_edges(
    matrix: np.ndarray, keep: np.ndarray, train_skills: Sequence[str], eval_skills: Sequence[str]
) -> np.ndarray:
    """Zero the entries where `keep` is False, except each skill's own entry."""
    out = np.where(keep, matrix, 0.0)
    for c, own in enumerate(own_rows(train_skills, eval_skills)):
        if own is not None:
            out[own, c] = matrix[own, c]
    return out


def significant(mean: np.ndarray, std: np.ndarray, seeds: int, min_z: float) -> np.ndarray:
    """True where the mean drop exceeds `min_z` standard errors over `seeds` seeds."""
    return np.nan_to_num(mean, nan=0.0) > min_z * np.nan_to_num(std, nan=0.0) / np.sqrt(seeds)


@dataclass
class GraphEstimate:
    matrix: np.ndarray  # (k, m) the graph A
    raw: np.ndarray  # (seeds, k, m) signed drops per seed
    raw_mean: np.ndarray  # (k, m)
    raw_std: np.ndarray  # (k, m) sample standard deviation over seeds (0 with one seed)
    per_seed: np.ndarray  # (seeds, k, m) each seed's drops normalised on their own: A's spread


def estimate_graph(
    raw: np.ndarray,
    train_skills: Sequence[str],
    eval_skills: Sequence[str],
    normalize: str = "diag",
    min_edge: float = 0.0,
    min_z: float = 0.0,
) -> GraphEstimate:
    raw = np.asarray(raw, dtype=np.float64)
    mean = np.nanmean(raw, axis=0)
    std = np.nanstd(raw, axis=0, ddof=1) if raw.shape[0] > 1 else np.zeros_like(mean)

    def graph(drops: np.ndarray, agreed: np.ndarray | bool = True) -> np.ndarray:
        a = normalise(drops, train_skills, eval_skills, normalize)
        return keep_edges(a, (a >= min_edge) & agreed, train_skills, eval_skills)

    per_seed = np.stack([graph(r) for r in raw])
    matrix = graph(mean, significant(mean, std, raw.shape[0], min_z) if min_z > 0 else True)
    return GraphEstimate(matrix, raw, mean, std, per_seed)
