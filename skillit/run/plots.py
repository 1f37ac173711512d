"""PNG plots of a run's mixture_history.jsonl: mixture trajectory and per-skill eval loss."""

from __future__ import annotations

import json
import os
from pathlib import Path


def read_history(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def plot_run(
    history_path: str | Path, out_dir: str | Path, loss_of: str = "answer tokens"
) -> dict[str, Path]:
    """Write mixture.png and eval_loss.png into out_dir; returns {name: path}.

    `loss_of` names what the evaluation loss is over (the y label): the answer tokens of a
    sample, or for a corpus every token of a window.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    history = read_history(history_path)
    out_dir = Path(out_dir)
    out: dict[str, Path] = {}
    if not history:
        return out
    steps = [h["step"] for h in history]

    fig, ax = plt.subplots(figsize=(6, 3.5))
    _stacked_mixture(ax, history)
    out["mixture"] = _finish(
        fig, ax, "round", "mixture weight", "Training mixture per round", out_dir / "mixture.png"
    )

    fig, ax = plt.subplots(figsize=(6, 3.5))
    values = []
    for skill in history[0]["eval_loss"]:
        losses = [h["eval_loss"][skill] for h in history]
        values += [v for v in losses if v is not None and v > 0]
        ax.plot(steps, losses, marker="o", label=skill)
    if values and max(values) / min(values) > 10:  # a log axis only where it spans decades
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # one label per tick
    if len(steps) <= 12:
        ax.set_xticks(steps)  # the steps of the round ends
    else:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    title = "Evaluation loss per skill at round ends"
    out["eval_loss"] = _finish(
        fig, ax, "step", f"eval loss ({loss_of})", title, out_dir / "eval_loss.png"
    )
    return out


def _finish(fig, ax, xlabel: str, ylabel: str, title: str, path: Path) -> Path:
    """Label, save whole and close."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize="small", bbox_to_anchor=(1.02, 1), loc="upper left")
    return _save(fig, path)


def _stacked_mixture(ax, history: list[dict]) -> None:
    """One stacked bar per round: the weight of every skill."""
    rounds = [h["round"] for h in history]
    bottom = [0.0] * len(rounds)
    for skill in history[0]["weights"]:
        w = [h["weights"][skill] for h in history]
        ax.bar(rounds, w, bottom=bottom, label=skill)
        bottom = [b + x for b, x in zip(bottom, w)]
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # rounds are whole: no half-round ticks


def _save(fig, path: str | Path) -> Path:
    """Save whole (a temporary file renamed into place: never a partial PNG) and close."""
    import matplotlib.pyplot as plt

    path = Path(path)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        plt.close(fig)
    return path


def plot_mixtures(runs: dict[str, list[dict]], path: str | Path) -> Path:
    """The mixture trajectories of several runs side by side (one panel per run), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(4 * len(runs) + 1.5, 3.5), squeeze=False)
    for ax, (label, history) in zip(axes[0], runs.items()):
        _stacked_mixture(ax, history)
        ax.set_title(label, fontsize="small")
        ax.set_xlabel("round")
    axes[0][0].set_ylabel("mixture weight")
    axes[0][-1].legend(fontsize="small", bbox_to_anchor=(1.02, 1), loc="upper left")
    return _save(fig, path)
