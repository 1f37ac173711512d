"""Suite plots: per-skill evaluation curves per strategy and the mixture trajectory of each strategy.

Curves are every evaluation of a run (eval_history.jsonl; the round ends of mixture_history.jsonl
for older runs), averaged over seeds (band: ± std).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


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
    skills = records[0].skills
    panels = [*skills, None]  # None: the mean over skills
    colours = {s: plt.get_cmap("tab10")(i % 10) for i, s in enumerate(strategies)}
    written: dict[str, Path] = {}
    for key, label, log in (("eval_acc", "accuracy", False), ("eval_loss", "loss", True)):
        cols = min(len(panels), 3)
        nrows = -(-len(panels) // cols)
        fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3 * nrows), squeeze=False)
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
        for ax in list(axes.flat)[len(panels) :]:
            ax.axis("off")
        axes.flat[0].legend(fontsize="x-small")
        fig.tight_layout()
        name = "curves_acc" if key == "eval_acc" else "curves_loss"
        written[name] = out / f"{name}.png"
        fig.savefig(written[name], dpi=100)
        plt.close(fig)

    present = [s for s in strategies if any(r.strategy == s and r.history for r in records)]
    if present:
        cols = min(len(present), 4)
        nrows = -(-len(present) // cols)
        fig, axes = plt.subplots(nrows, cols, figsize=(3.5 * cols, 2.8 * nrows), squeeze=False)
        for ax, strategy in zip(axes.flat, present):
            runs = [r for r in records if r.strategy == strategy and r.history]
            length = min(len(r.history) for r in runs)
            train_skills = list(runs[0].history[0]["weights"])
            weights = np.mean(
                [
                    [[h["weights"][s] for s in train_skills] for h in r.history[:length]]
                    for r in runs
                ],
                axis=0,
            )
            rounds = np.arange(1, length + 1)
            ax.stackplot(rounds, weights.T, labels=train_skills, step="post")
            ax.set_title(strategy, fontsize="medium")
            ax.set_xlabel("round")
            ax.set_ylim(0, 1)
        for ax in list(axes.flat)[len(present) :]:
            ax.axis("off")
        axes.flat[0].set_ylabel("mixture (mean over seeds)")
        axes.flat[0].legend(fontsize="x-small", loc="lower left")
        fig.tight_layout()
        written["mixtures"] = out / "mixtures.png"
        fig.savefig(written["mixtures"], dpi=100)
        plt.close(fig)
    return written
