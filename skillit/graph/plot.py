"""Heatmap of a skills graph: training skills down the side, evaluation skills along the top."""

from __future__ import annotations

import os
from pathlib import Path

from skillit.graph.io import SkillGraph
from skillit.utils.safe_paths import save_figure

ANNOTATE_UP_TO = 15  # write the value in each cell when neither side has more skills than this


def plot_graph(graph: SkillGraph, path: str | Path, title: str | None = None) -> Path:
    """Write a PNG heatmap of A (rows: training skills i, columns: evaluation skills j)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = graph.matrix
    k, m = a.shape
    cell = 0.45 if max(k, m) <= ANNOTATE_UP_TO else 0.25
    fig, ax = plt.subplots(figsize=(max(4.0, 2.5 + cell * m), max(3.0, 1.8 + cell * k)))
    image = ax.imshow(a, cmap="viridis", vmin=0.0, vmax=max(float(a.max(initial=0.0)), 1e-12))
    ax.set_xticks(range(m), graph.eval_skills, rotation=45, ha="right", fontsize="small")
    ax.set_yticks(range(k), graph.train_skills, fontsize="small")
    ax.set_xlabel("evaluation skill j")
    ax.set_ylabel("training skill i")
    if max(k, m) <= ANNOTATE_UP_TO:
        top = float(a.max(initial=0.0)) or 1.0
        for i in range(k):
            for j in range(m):
                dark = a[i, j] < 0.6 * top  # light text on the dark end of viridis
                ax.text(
                    j,
                    i,
                    f"{a[i, j]:.2g}",
                    ha="center",
                    va="center",
                    fontsize="x-small",
                    color="white" if dark else "black",
                )
    steps = f", {graph.steps} steps" if graph.steps is not None else ""
    seeds = f", {len(graph.seeds)} seed(s)" if graph.seeds else ""
    ax.set_title(title or f"Skills graph A[i, j] ({graph.method}{steps}{seeds})", fontsize="medium")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    path = Path(path)
    try:
        save_figure(fig, path, dpi=110)
    finally:
        plt.close(fig)
    return path


def log_heatmap_to_wandb(
    image: str | Path, mode: str, project: str, name: str, save_dir: str | Path, config: dict
) -> None:
    """Log the heatmap as a W&B image in a run of its own (mode: offline | online)."""
    import wandb  # optional: only a W&B-logging graph run loads it

    os.environ.setdefault("WANDB_SILENT", "true")
    run = wandb.init(project=project, name=name, dir=str(save_dir), mode=mode, config=config)
    try:
        run.log({"graph/heatmap": wandb.Image(str(image))})
    finally:
        run.finish()
