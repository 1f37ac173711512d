"""A run's plots (skillit.run.plots) drawn from small synthetic histories: no training."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from skillit.callbacks.mixing import MixingCallback
from skillit.callbacks.record import RunRecord
from skillit.cli import main
from skillit.export.mixture import load_run_history
from skillit.mixing import ManualStrategy
from skillit.run.directory import HISTORY_FILE
from skillit.run.plots import draw_eval_acc, draw_eval_loss, mixtures_figure, plot_run

plt = pytest.importorskip("matplotlib.pyplot", reason="the plots extra is not installed")


def history_of(skills: list[str], losses: list[list[float]], accs=None) -> list[dict]:
    """One history line per round (10 steps each): losses[t][i] is skill i's loss after round
    t+1, accs the same for accuracy (None: the line records none, as an older run's)."""
    rows = []
    for t, round_losses in enumerate(losses):
        row = {
            "round": t + 1,
            "step": 10 * (t + 1),
            "weights": {s: 1 / len(skills) for s in skills},
            "eval_loss": dict(zip(skills, round_losses)),
        }
        if accs is not None:
            row["eval_acc"] = dict(zip(skills, accs[t]))
        rows.append(row)
    return rows


def write_history(run_dir, history: list[dict]):
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / HISTORY_FILE
    path.write_text("".join(json.dumps(row) + "\n" for row in history))
    return path


def labelled_y_ticks(fig, ax) -> list[str]:
    """The texts of the y tick labels (major and minor) that are drawn inside the y limits."""
    fig.canvas.draw()  # the formatters write the label texts at draw time
    low, high = sorted(ax.get_ylim())
    return [
        label.get_text()
        for minor in (False, True)
        for label in ax.yaxis.get_ticklabels(minor=minor)
        if label.get_text() and low <= label.get_position()[1] <= high
    ]


def legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    return [text.get_text() for text in legend.get_texts()] if legend else []


@pytest.mark.parametrize(
    "low, high",
    [
        (0.3, 0.9),  # under a decade: a linear axis
        (0.15, 2.5),  # over 10x, yet one power of ten (1) inside: a log axis
        (0.3, 25.0),  # two powers of ten inside
    ],
)
def test_the_eval_loss_axis_labels_several_values_within_the_data(low, high):
    history = history_of(["a", "b"], [[high, high * 0.8], [low * 1.5, low * 2], [low, low * 1.2]])
    fig, ax = plt.subplots()
    try:
        draw_eval_loss(ax, history)
        labels = labelled_y_ticks(fig, ax)
    finally:
        plt.close(fig)
    assert len(labels) >= 3, labels


def test_a_source_that_reports_accuracy_gets_an_accuracy_plot_per_skill(tmp_path):
    history = history_of(["a", "b"], [[0.9, 0.8], [0.5, 0.6]], accs=[[0.1, 0.0], [0.75, 1.0]])
    written = plot_run(write_history(tmp_path, history), tmp_path, metric="accuracy")
    assert written["eval_acc"] == tmp_path / "eval_acc.png" and written["eval_acc"].is_file()
    fig, ax = plt.subplots()
    try:
        draw_eval_acc(ax, history)
        fig.canvas.draw()
        assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
        low, high = ax.get_ylim()
        assert low <= 0.0 and 1.0 <= high < 1.1  # the whole 0-100% range, and no more
        assert "100%" in labelled_y_ticks(fig, ax)
    finally:
        plt.close(fig)


@pytest.mark.parametrize(
    "metric, accs",
    [
        ("perplexity", [[0.0, 0.0], [0.0, 0.0]]),  # a corpus: exact match of windows
        ("accuracy", None),  # a history that records no accuracy
    ],
)
def test_no_accuracy_plot_where_the_run_has_no_accuracy_to_show(tmp_path, metric, accs):
    history = history_of(["a", "b"], [[0.9, 0.8], [0.5, 0.6]], accs=accs)
    written = plot_run(write_history(tmp_path, history), tmp_path, metric=metric)
    assert set(written) == {"mixture", "eval_loss"}
    assert not (tmp_path / "eval_acc.png").exists()


@pytest.mark.parametrize(
    "metric, plots",
    [
        ("accuracy", {"mixture.png", "eval_loss.png", "eval_acc.png"}),
        ("perplexity", {"mixture.png", "eval_loss.png"}),
    ],
)
def test_the_run_record_draws_accuracy_only_for_a_source_that_reports_it(tmp_path, metric, plots):
    skills = ["a", "b"]
    history = history_of(skills, [[0.9, 0.8], [0.5, 0.6]], accs=[[0.1, 0.2], [0.5, 0.4]])
    write_history(tmp_path, history)
    mixing = MixingCallback(ManualStrategy(weights=[1, 1]), skills)
    record = RunRecord(mixing, skills, tmp_path, rounds=2, metric=metric, plots=True)
    record.draw_plots(SimpleNamespace(is_global_zero=True, loggers=[]))
    assert {p.name for p in tmp_path.glob("*.png")} == plots


def test_each_mixture_panel_has_the_legend_of_its_own_skills(tmp_path, capsys):
    first = write_history(tmp_path / "r1", history_of(["lego1", "lego2"], [[1.0, 1.0]])).parent
    second = write_history(
        tmp_path / "r2", history_of(["lego2", "add1", "add2"], [[1.0, 1.0, 1.0]])
    ).parent
    runs = {str(r): load_run_history(r) for r in (first, second)}
    fig = mixtures_figure(runs)
    try:
        legends = [legend_texts(ax) for ax in fig.axes]
        colours = [
            {c.get_label(): c.patches[0].get_facecolor() for c in ax.containers} for ax in fig.axes
        ]
    finally:
        plt.close(fig)
    assert legends == [["lego1", "lego2"], ["lego2", "add1", "add2"]]
    assert colours[0]["lego2"] == colours[1]["lego2"]  # a shared skill keeps its colour
    out = tmp_path / "mixtures.png"
    assert main(["mixture", "plot", str(first), str(second), "--out", str(out)]) == 0
    assert out.is_file()
