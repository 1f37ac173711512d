"""Suite plots: per-skill evaluation curves per strategy and the mixture trajectory of each strategy.

Curves are every evaluation of a run (eval_history.jsonl; the round ends of mixture_history.jsonl
for older runs), averaged over seeds (band: ± std).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skillit.utils.safe_paths import save_figure


def _curves(records, strategy: str, key: str, skill: str | None):
    """(steps, mean, std) over the seeds of `strategy`; skill None = mean over skills."""
    runs = [r for r in records if r.strategy == strategy and r.curve]
    if not runs:
        return None
    length = min(len(r.curve) for r in runs)
    steps = np.array([h["step"] for h in runs[0].curve[:length]])
    rows = []
    for r in runs:
        values = [
            h[key][skill] if skill else np.mean(list(h[key].values())) for h in r.curve[:length]
        ]
        rows.append(values)
    arr = np.asarray(rows, dtype=np.float64)
    return steps, arr.mean(axis=0), arr.std(axis=0)


def plot_suite(records, strategies: list[str], out: Path) -> dict[str, Path]:
    """Write curves_acc.png, curves_loss.png and mixtures.png into `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    panels = [*records[0].skills, None]  # None: the mean over skills
    colours = {s: plt.get_cmap("tab10")(i % 10) for i, s in enumerate(strategies)}
    written: dict[str, Path] = {}
    for key, label, log in (("eval_acc", "accuracy", False), ("eval_loss", "loss", True)):
        name = "curves_acc" if key == "eval_acc" else "curves_loss"
        written[name] = out / f"{name}.png"
        _plot_curves(plt, records, strategies, colours, panels, key, label, log, written[name])

    present = [s for s in strategies if any(r.strategy == s and r.history for r in records)]
    if present:
        written["mixtures"] = out / "mixtures.png"
        _plot_mixtures(plt, records, present, written["mixtures"])
    return written


def _grid(plt, panels: int, max_cols: int, width: float, height: float):
    """(figure, axes) of a grid of `panels` subplots, at most `max_cols` wide, each width x height
    inches; the cells left over are blank."""
    cols = min(panels, max_cols)
    nrows = -(-panels // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(width * cols, height * nrows), squeeze=False)
    for ax in list(axes.flat)[panels:]:
        ax.axis("off")
    return fig, axes


def _save(plt, fig, path: Path) -> None:
    fig.tight_layout()
    try:
        save_figure(fig, path, dpi=100)
    finally:
        plt.close(fig)


def _plot_curves(
    plt, records, strategies, colours, panels, key: str, label: str, log: bool, path: Path
) -> None:
    """One figure of evaluation curves of `key`: a panel per skill and one for their mean, a line
    per strategy (mean over seeds, band ± std)."""
    fig, axes = _grid(plt, len(panels), 3, 4, 3)
    for ax, skill in zip(axes.flat, panels):
        for strategy in strategies:
            curve = _curves(records, strategy, key, skill)
            if curve is None:
                continue
            steps, mean, std = curve
            ax.plot(steps, mean, marker=".", color=colours[strategy], label=strategy)
            ax.fill_between(steps, mean - std, mean + std, color=colours[strategy], alpha=0.15)
        ax.set_title(skill or "mean over skills", fontsize="medium")
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        if log:
            ax.set_yscale("log")
    axes.flat[0].legend(fontsize="x-small")
    _save(plt, fig, path)


def _mean_mixture(records, strategy: str) -> tuple[list[str], np.ndarray]:
    """(training skills, weights per round x skill) of `strategy`, averaged over its seeds up to
    the round count of the shortest."""
    runs = [r for r in records if r.strategy == strategy and r.history]
    length = min(len(r.history) for r in runs)
    train_skills = list(runs[0].history[0]["weights"])
    weights = np.mean(
        [[[h["weights"][s] for s in train_skills] for h in r.history[:length]] for r in runs],
        axis=0,
    )
    return train_skills, weights


def _plot_mixtures(plt, records, present: list[str], path: Path) -> None:
    """One figure of mixture weights over rounds (stacked), a panel per strategy."""
    fig, axes = _grid(plt, len(present), 4, 3.5, 2.8)
    for ax, strategy in zip(axes.flat, present):
        train_skills, weights = _mean_mixture(records, strategy)
        rounds = np.arange(1, len(weights) + 1)
        ax.stackplot(rounds, weights.T, labels=train_skills, step="post")
        ax.set_title(strategy, fontsize="medium")
        ax.set_xlabel("round")
        ax.set_ylim(0, 1)
    axes.flat[0].set_ylabel("mixture (mean over seeds)")
    axes.flat[0].legend(fontsize="x-small", loc="lower left")
    _save(plt, fig, path)
