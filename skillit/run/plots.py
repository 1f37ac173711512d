"""PNG plots of a run's mixture_history.jsonl: mixture trajectory, per-skill eval loss and
(where the source reports it) per-skill eval accuracy."""

from __future__ import annotations

from pathlib import Path

from skillit.utils import jsonio
from skillit.utils.safe_paths import save_figure


def read_history(path: str | Path) -> list[dict]:
    return [
        jsonio.loads(line, path) for line in Path(path).read_text().splitlines() if line.strip()
    ]


def plot_run(
    history_path: str | Path,
    out_dir: str | Path,
    loss_of: str = "answer tokens",
    metric: str = "accuracy",
) -> dict[str, Path]:
    """Write mixture.png, eval_loss.png and, where the source reports accuracy, eval_acc.png
    into out_dir; returns {name: path}.

    `loss_of` names what the evaluation loss is over (the y label): the answer tokens of a
    sample, or for a corpus every token of a window. `metric` is the source's
    (SourceCapabilities.metric): a corpus records an exact-match accuracy of whole windows,
    which means nothing, so only `accuracy` draws it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = read_history(history_path)
    out_dir = Path(out_dir)
    out: dict[str, Path] = {}
    if not history:
        return out

    fig, ax = plt.subplots(figsize=(6, 3.5))
    _stacked_mixture(ax, history)
    out["mixture"] = _finish(
        fig, ax, "round", "mixture weight", "Training mixture per round", out_dir / "mixture.png"
    )

    fig, ax = plt.subplots(figsize=(6, 3.5))
    draw_eval_loss(ax, history)
    title = "Evaluation loss per skill at round ends"
    out["eval_loss"] = _finish(
        fig, ax, "step", f"eval loss ({loss_of})", title, out_dir / "eval_loss.png"
    )

    if reports_accuracy(history, metric):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        draw_eval_acc(ax, history)
        title = "Evaluation accuracy per skill at round ends"
        out["eval_acc"] = _finish(
            fig, ax, "step", "eval accuracy (exact match)", title, out_dir / "eval_acc.png"
        )
    return out


def reports_accuracy(history: list[dict], metric: str) -> bool:
    """Whether the run's accuracy is worth a plot: a source that reports it, and a history that
    records it (older runs have no eval_acc)."""
    return metric == "accuracy" and all(h.get("eval_acc") for h in history)


def draw_eval_loss(ax, history: list[dict]) -> None:
    """The eval loss of every skill per round end; a log axis only where it spans decades."""
    import matplotlib.ticker

    values = []
    for skill in history[0]["eval_loss"]:
        losses = [h["eval_loss"][skill] for h in history]
        values += [v for v in losses if v is not None and v > 0]
        ax.plot(_steps(history), losses, marker="o", label=skill)
    span = max(values) / min(values) if values else 1.0
    if span > 10:
        ax.set_yscale("log")
        # a range of one or two decades holds one or two powers of ten: label 1, 2 and 5 per
        # decade there, or the axis says almost nothing about the values
        subs = (1.0, 2.0, 5.0) if span < 1000 else (1.0,)
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=subs))
        ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    _step_axis(ax, _steps(history))


def draw_eval_acc(ax, history: list[dict]) -> None:
    """The eval accuracy of every skill per round end, on a fixed 0-100% axis (comparable
    between runs)."""
    import matplotlib.ticker

    for skill in history[0]["eval_acc"]:
        ax.plot(_steps(history), [h["eval_acc"][skill] for h in history], marker="o", label=skill)
    ax.set_ylim(-0.02, 1.02)  # a margin: a skill at 0% or 100% stays visible
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(xmax=1.0))
    _step_axis(ax, _steps(history))


def _steps(history: list[dict]) -> list[int]:
    return [h["step"] for h in history]


def _step_axis(ax, steps: list[int]) -> None:
    import matplotlib.ticker

    if len(steps) <= 12:
        ax.set_xticks(steps)  # the steps of the round ends
    else:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))


def _finish(fig, ax, xlabel: str, ylabel: str, title: str, path: Path) -> Path:
    """Label, save whole and close."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize="small", bbox_to_anchor=(1.02, 1), loc="upper left")
    return _save(fig, path)


def _stacked_mixture(ax, history: list[dict], colours: dict[str, str] | None = None) -> None:
    """One stacked bar per round: the weight of every skill (in `colours`' colour, if given)."""
    rounds = [h["round"] for h in history]
    bottom = [0.0] * len(rounds)
    for skill in history[0]["weights"]:
        w = [h["weights"][skill] for h in history]
        colour = colours[skill] if colours else None
        ax.bar(rounds, w, bottom=bottom, label=skill, color=colour)
        bottom = [b + x for b, x in zip(bottom, w)]
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # rounds are whole: no half-round ticks


def _save(fig, path: str | Path) -> Path:
    """Save whole (a temporary file renamed into place: never a partial PNG) and close."""
    import matplotlib.pyplot as plt

    path = Path(path)
    fig.tight_layout()
    try:
        save_figure(fig, path, dpi=110)
    finally:
        plt.close(fig)
    return path


def plot_mixtures(runs: dict[str, list[dict]], path: str | Path) -> Path:
    """The mixture trajectories of several runs side by side (one panel per run), as a PNG."""
    return _save(mixtures_figure(runs), path)


def mixtures_figure(runs: dict[str, list[dict]]):
    """One panel per run, each with the legend of its own skills (runs may train different
    ones); a skill has one colour in every panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = skill_colours(runs.values())
    fig, axes = plt.subplots(1, len(runs), figsize=(5.5 * len(runs), 3.5), squeeze=False)
    for ax, (label, history) in zip(axes[0], runs.items()):
        _stacked_mixture(ax, history, colours)
        ax.set_title(label, fontsize="small")
        ax.set_xlabel("round")
        ax.legend(fontsize="small", bbox_to_anchor=(1.02, 1), loc="upper left")
    axes[0][0].set_ylabel("mixture weight")
    return fig


def skill_colours(histories) -> dict[str, str]:
    """A colour of the property cycle per skill, in the order the runs first name them."""
    skills = dict.fromkeys(skill for history in histories for skill in history[0]["weights"])
    return {skill: f"C{i}" for i, skill in enumerate(skills)}
