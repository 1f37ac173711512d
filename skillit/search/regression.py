"""Regressions of a target loss on the mixture, and how well they rank unseen mixtures.

- `linear`: L(w) = a + b . w (RegMix's linear regression), least squares with a tiny ridge (the
  weights sum to 1, so the intercept and the weights are collinear: the ridge picks one solution,
  every one predicts the same on the simplex);
- `loglinear`: L(w) = c + exp(a + b . w), c >= 0 (the Data Mixing Laws' per-domain law, and the
  log-linear fit Olmix uses when c = 0): for each c, log(L - c) is linear in w; c is chosen by the
  squared error of L on a grid refined by golden-section search;
- `lightgbm`: gradient-boosted trees (RegMix's main regressor), with its published settings,
  when the optional `lightgbm` package is installed (pip install 'skillit[search]').

Numpy only (LightGBM aside): the metrics (Spearman's rank correlation with average ranks for
ties, Pearson's r, mean squared error) are written here rather than taken from scipy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from skillit.errors import SkillitError

REGRESSORS = ("linear", "loglinear", "lightgbm")


class Regressor(Protocol):
    def fit(self, X: np.ndarray, y: np.ndarray) -> Regressor: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...


def _ridge(X: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    """[intercept, coefficients] of least squares with an L2 penalty on the coefficients only."""
    design = np.hstack([np.ones((len(X), 1)), X])
    penalty = ridge * len(X) * np.eye(design.shape[1])
    penalty[0, 0] = 0.0
    return np.linalg.solve(design.T @ design + penalty, design.T @ y)


@dataclass
class LinearRegressor:
    ridge: float = 1e-8
    coef: np.ndarray | None = None

    def fit(self, X, y) -> LinearRegressor:
        self.coef = _ridge(np.asarray(X, float), np.asarray(y, float), self.ridge)
        return self

    def predict(self, X) -> np.ndarray:
        return self.coef[0] + np.asarray(X, float) @ self.coef[1:]


@dataclass
class LogLinearRegressor:
    ridge: float = 1e-8
    offset: float = 0.0  # c, the loss no mixture removes
    coef: np.ndarray | None = None

    def _fit_at(self, X, y, c) -> tuple[float, np.ndarray]:
        coef = _ridge(X, np.log(y - c), self.ridge)
        predicted = c + np.exp(coef[0] + X @ coef[1:])
        return float(np.sum((predicted - y) ** 2)), coef

    def fit(self, X, y) -> LogLinearRegressor:
        X, y = np.asarray(X, float), np.asarray(y, float)
        if (y <= 0).any():
            raise SkillitError("the loglinear regressor needs positive losses")
        top = float(y.min()) * (1 - 1e-6)
        grid = np.concatenate([[0.0], top * (1 - np.geomspace(1.0, 1e-4, 40))])
        errors = [self._fit_at(X, y, c)[0] for c in grid]
        best = int(np.argmin(errors))
        lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
        golden = (np.sqrt(5) - 1) / 2
        for _ in range(40):  # golden-section search between the best point's neighbours
            a, b = hi - golden * (hi - lo), lo + golden * (hi - lo)
            if self._fit_at(X, y, a)[0] < self._fit_at(X, y, b)[0]:
                hi = b
            else:
                lo = a
        candidates = [grid[best], (lo + hi) / 2]
        self.offset = min(candidates, key=lambda c: self._fit_at(X, y, c)[0])
        self.coef = self._fit_at(X, y, self.offset)[1]
        return self

    def predict(self, X) -> np.ndarray:
        return self.offset + np.exp(self.coef[0] + np.asarray(X, float) @ self.coef[1:])


# RegMix's notebook: gbdt, lr 0.01, 1000 iterations, seed 42 (it stops early on its test set,
# which a fair check cannot do: all 1000 iterations are used here).
LIGHTGBM_PARAMS = {
    "boosting_type": "gbdt",
    "objective": "regression",
    "learning_rate": 1e-2,
    "seed": 42,
    "verbosity": -1,
}
LIGHTGBM_ROUNDS = 1000


@dataclass
class LightGBMRegressor:
    params: dict = field(default_factory=lambda: dict(LIGHTGBM_PARAMS))
    model: object = None

    def fit(self, X, y) -> LightGBMRegressor:
        try:
            import lightgbm
        except ImportError:
            raise SkillitError(
                "--regressor lightgbm needs the lightgbm package: pip install 'skillit[search]'"
            ) from None
        params = dict(self.params)
        # a small swarm cannot fill leaves of 20 runs (LightGBM's default)
        params.setdefault("min_data_in_leaf", max(2, min(20, len(y) // 10)))
        data = lightgbm.Dataset(np.asarray(X, float), np.asarray(y, float), params=params)
        self.model = lightgbm.train(params, data, num_boost_round=LIGHTGBM_ROUNDS)
        return self

    def predict(self, X) -> np.ndarray:
        return np.asarray(self.model.predict(np.asarray(X, float)), dtype=np.float64)


def make_regressor(name: str) -> Regressor:
    if name == "linear":
        return LinearRegressor()
    if name == "loglinear":
        return LogLinearRegressor()
    if name == "lightgbm":
        return LightGBMRegressor()
    raise SkillitError(f"--regressor must be one of {list(REGRESSORS)}, got {name!r}")


# -- how well a fit ranks mixtures ------------------------------------------------------------------
def ranks(values) -> np.ndarray:
    """Ranks from 1, ties sharing their average rank."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    out = np.empty(len(values))
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        out[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return out


def pearson(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x**2).sum() * (y**2).sum())
    return float((x * y).sum() / denominator) if denominator > 0 else float("nan")


def spearman(x, y) -> float:
    return pearson(ranks(x), ranks(y))


def fit_scores(predicted, observed) -> dict[str, float]:
    predicted, observed = np.asarray(predicted, float), np.asarray(observed, float)
    return {
        "spearman": spearman(predicted, observed),
        "pearson": pearson(predicted, observed),
        "mse": float(np.mean((predicted - observed) ** 2)),
    }


@dataclass
class CrossValidation:
    predicted: np.ndarray  # each run's prediction by the fold that held it out
    scores: dict[str, float]  # of those predictions against the observed losses
    models: list  # one fit per fold


def cross_validate(name: str, X, y, folds: int, rng: np.random.Generator) -> CrossValidation:
    """`folds`-fold cross-validation of regressor `name` (folds drawn with `rng`)."""
    X, y = np.asarray(X, float), np.asarray(y, float)
    folds = min(folds, len(y))
    if folds < 2:
        raise SkillitError(f"cross-validation needs 2 or more runs, got {len(y)}")
    assignment = rng.permutation(np.arange(len(y)) % folds)
    predicted = np.empty(len(y))
    models = []
    for fold in range(folds):
        held = assignment == fold
        model = make_regressor(name).fit(X[~held], y[~held])
        predicted[held] = model.predict(X[held])
        models.append(model)
    return CrossValidation(predicted, fit_scores(predicted, y), models)
