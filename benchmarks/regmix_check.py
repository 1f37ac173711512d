"""The mixture regressions of `skillit mixture search` on RegMix's published proxy runs.

    python benchmarks/regmix_check.py [DATA_DIR]     # default ../shared/regmix (sail-sg/regmix data/)

Each regressor is fitted on the 512 training runs (1M-parameter models, 1B tokens, 17 Pile
domains) with RegMix's target, the Pile-CC validation loss, and scored on the held-out mixtures
trained at 1M, 60M (1B tokens) and 1B parameters (25B tokens): Spearman's rank correlation,
Pearson's r and the mean squared error of the predictions, beside the paper's numbers for the
same setting. No training: the data are the authors' logs. Prints a table; writes
benchmarks/results/regmix_check.json.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from bench_io import write_result  # this folder: benchmarks run as scripts

from skillit.search.regression import REGRESSORS, fit_scores, make_regressor

TARGET = "metric/the_pile_pile_cc_val_loss"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "regmix"
SETS = {"1M": "1m", "60M": "60m", "1B": "1B"}
# RegMix (Liu et al., ICLR 2025), Table 2: Spearman's rho (%) of each regressor fitted on the 512
# 1M-model runs, evaluated on the unseen mixtures at each size (the linear model there is a ridge
# regression with 5-fold CV over its penalty; LightGBM 1000 iterations at learning rate 1e-2).
# The paper has no log-linear row: None.
PAPER_RHO: dict[str, dict[str, float | None]] = {
    "linear": {"1M": 90.08, "60M": 89.26, "1B": 88.01},
    "lightgbm": {"1M": 98.45, "60M": 98.64, "1B": 97.12},
    "loglinear": {"1M": None, "60M": None, "1B": None},
}


def read_table(path: Path) -> dict[int, dict[str, float]]:
    """Rows of a RegMix CSV by their `index` column."""
    with path.open(newline="") as fh:
        return {
            int(r["index"]): {k: float(v) for k, v in r.items() if k != "index"}
            for r in csv.DictReader(fh)
        }


def load_set(folder: Path, kind: str, size: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(mixtures, Pile-CC losses, domain columns) of the runs present in both files."""
    mixtures = read_table(folder / f"{kind}_mixture_{size}.csv")
    losses = read_table(folder / f"{kind}_pile_loss_{size}.csv")
    shared = sorted(set(mixtures) & set(losses))
    domains = list(next(iter(mixtures.values())))
    X = np.array([[mixtures[i][d] for d in domains] for i in shared])
    y = np.array([losses[i][TARGET] for i in shared])
    return X, y, domains


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "regmix_check.json"
    )
    args = parser.parse_args(argv)
    if not (args.data / "train_mixture_1m.csv").is_file():
        print(
            f"regmix_check: no RegMix data in {args.data} (train_mixture_1m.csv)", file=sys.stderr
        )
        return 2
    X, y, domains = load_set(args.data, "train", "1m")
    tests = {name: load_set(args.data, "test", size) for name, size in SETS.items()}
    for name, (_, _, cols) in tests.items():
        if cols != domains:
            raise SystemExit(f"the {name} test mixtures name other domains than the training ones")
    results: dict[str, dict] = {}
    print(f"fitted on {len(y)} runs at 1M; target Pile-CC validation loss")
    print(
        f"{'regressor':<10} {'test':>4} {'runs':>5} {'spearman':>9} {'paper':>7} {'pearson':>8} {'mse':>9}"
    )
    for regressor in REGRESSORS:
        try:
            model = make_regressor(regressor).fit(X, y)
        except Exception as exc:  # lightgbm not installed: say so, check the others
            print(f"{regressor:<10} skipped: {exc}")
            continue
        results[regressor] = {}
        for name, (Xt, yt, _) in tests.items():
            scores = fit_scores(model.predict(Xt), yt)
            paper = PAPER_RHO[regressor][name]
            results[regressor][name] = {"runs": len(yt), **scores, "paper_spearman": paper}
            shown = f"{paper / 100:.4f}" if paper is not None else "-"
            if paper is not None:
                results[regressor][name]["difference"] = scores["spearman"] - paper / 100
            print(
                f"{regressor:<10} {name:>4} {len(yt):>5} {scores['spearman']:>9.4f} {shown:>7} "
                f"{scores['pearson']:>8.4f} {scores['mse']:>9.5f}"
            )
    write_result(
        args.out,
        {"data": str(args.data), "train_runs": len(y), "target": TARGET, "results": results},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
