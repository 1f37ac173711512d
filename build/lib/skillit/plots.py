"""PNG plots of a run's mixture_history.jsonl: mixture trajectory and per-skill eval loss."""

from __future__ import annotations

import json
from pathlib import Path


def read_history(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def plot_run(history_path: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """Write mixture.png and eval_loss.png into out_dir; returns {name: path}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = read_history(history_path)
    out_dir = Path(out_dir)
    out: dict[str, Path] = {}
    if not history:
        return out
    rounds = [h["round"] for h in history]
    steps = [h["step"] for h in history]

    fig, ax = plt.subplots(figsize=(6, 3.5))
    skills = list(history[0]["weights"])
    bottom = [0.0] * len(rounds)
    for skill in skills:
        w = [h["weights"][skill] for h in history]
        ax.bar(rounds, w, bottom=bottom, label=skill)
        bottom = [b + x for b, x in zip(bottom, w)]
    ax.set_xlabel("round")
    ax.set_ylabel("mixture weight")
    ax.set_title("Training mixture per round")
    ax.legend(fontsize="small", bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    out["mixture"] = out_dir / "mixture.png"
    fig.savefig(out["mixture"], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for skill in history[0]["eval_loss"]:
        ax.plot(steps, [h["eval_loss"][skill] for h in history], marker="o", label=skill)
    ax.set_xlabel("step")
    ax.set_ylabel("eval loss (answer tokens)")
    ax.set_yscale("log")
    ax.set_title("Per-skill evaluation loss at round ends")
    ax.legend(fontsize="small", bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    out["eval_loss"] = out_dir / "eval_loss.png"
    fig.savefig(out["eval_loss"], dpi=110)
    plt.close(fig)
    return out
