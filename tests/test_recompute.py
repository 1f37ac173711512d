"""Every Skill-It mixture of a real run, recomputed from its mixture_history.jsonl by hand.

The recomputation is written here in plain Python (math.exp, loops), not with skillit's update
functions, so a wrong update or a wrong wiring of graph, window or setting shows up as a mismatch.
"""

from __future__ import annotations

import math

import pytest
from conftest import run_history

from skillit.training import train

pytestmark = pytest.mark.slow  # trains three tiny runs

ETA, WINDOW = 2.0, 2


def by_hand(graph: list[list[float]], window_losses: list[list[float]]) -> list[float]:
    """p[i] ∝ exp(eta * sum over rounds in the window of sum_j A[i][j] * L_j)."""
    scores = [
        ETA * sum(row[j] * losses[j] for losses in window_losses for j in range(len(row)))
        for row in graph
    ]
    top = max(scores)
    weights = [math.exp(s - top) for s in scores]
    return [w / sum(weights) for w in weights]


SETTINGS = {
    # setting: (train skills, eval skills, graph rows over the eval skills)
    "continual_pretraining": (
        ["lego1", "lego2", "lego3"],
        ["lego1", "lego2", "lego3"],
        [[1.0, 0.0, 0.0], [0.5, 1.0, 0.0], [0.0, 0.5, 1.0]],
    ),
    "fine_tuning": (["lego1", "lego2", "lego3"], ["lego3"], [[0.0], [0.5], [1.0]]),
    "out_of_domain": (["lego1", "lego2"], ["lego3"], [[0.2], [0.9]]),
}


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_every_round_of_a_run_recomputes_by_hand(tiny_config, setting):
    train_skills, eval_skills, graph = SETTINGS[setting]
    cfg = tiny_config(
        f"skills.train=[{','.join(train_skills)}]",
        f"skills.eval=[{','.join(eval_skills)}]",
        "mixing.strategy=skillit",
        f"mixing.setting={setting}",
        f"mixing.graph.matrix={graph}",
        f"mixing.graph.train_skills=[{','.join(train_skills)}]",
        f"mixing.graph.eval_skills=[{','.join(eval_skills)}]",
        f"mixing.skillit.eta={ETA}",
        f"mixing.skillit.window={WINDOW}",
        "mixing.rounds=4",
        "trainer.max_steps=16",
        "mixing.plots=false",
    )
    result = train(cfg)
    rows = run_history(result.run_dir)
    assert [r["round"] for r in rows] == [1, 2, 3, 4]
    first = by_hand(graph, [[1.0] * len(eval_skills)])  # p_1: the losses taken as 1
    assert [rows[0]["weights"][s] for s in train_skills] == pytest.approx(first, rel=1e-9)
    for t, row in enumerate(rows):
        window = [
            [r["eval_loss"][s] for s in eval_skills] for r in rows[max(0, t - WINDOW + 1) : t + 1]
        ]
        expected = by_hand(graph, window)
        assert [row["next_weights"][s] for s in train_skills] == pytest.approx(expected, rel=1e-9)
        if t + 1 < len(rows):
            assert rows[t + 1]["weights"] == row["next_weights"]


@pytest.mark.parametrize("graph_norm", ["rows", "columns"])
def test_the_dense_graph_variant_recomputes_by_hand(tiny_config, graph_norm):
    """The variant: the graph's rows (or columns) divided by their sums, and each eval loss
    divided by its value at the end of round 1, then the paper's update."""
    train_skills, eval_skills, graph = SETTINGS["continual_pretraining"]
    cfg = tiny_config(
        "mixing.strategy=skillit",
        f"mixing.graph.matrix={graph}",
        "mixing.graph.train_skills=[lego1,lego2,lego3]",
        "mixing.graph.eval_skills=[lego1,lego2,lego3]",
        f"mixing.skillit.eta={ETA}",
        f"mixing.skillit.window={WINDOW}",
        f"mixing.skillit.graph_norm={graph_norm}",
        "mixing.skillit.relative_losses=true",
        "mixing.rounds=4",
        "trainer.max_steps=16",
        "mixing.plots=false",
    )
    rows = run_history(train(cfg).run_dir)
    if graph_norm == "rows":
        normed = [[a / sum(row) for a in row] for row in graph]
    else:
        sums = [sum(row[j] for row in graph) for j in range(3)]
        normed = [[a / sums[j] for j, a in enumerate(row)] for row in graph]
    first = [rows[0]["eval_loss"][s] for s in eval_skills]
    relative = [[r["eval_loss"][s] / f for s, f in zip(eval_skills, first)] for r in rows]
    assert [rows[0]["weights"][s] for s in train_skills] == pytest.approx(
        by_hand(normed, [[1.0] * 3]), rel=1e-9
    )
    for t, row in enumerate(rows):
        expected = by_hand(normed, relative[max(0, t - WINDOW + 1) : t + 1])
        assert [row["next_weights"][s] for s in train_skills] == pytest.approx(expected, rel=1e-9)
    paper = by_hand(graph, [[r["eval_loss"][s] for s in eval_skills] for r in rows[-WINDOW:]])
    assert [rows[-1]["next_weights"][s] for s in train_skills] != pytest.approx(paper, rel=1e-3)


@pytest.mark.parametrize(
    "setting, expected",
    [("fine_tuning", [0.0, 0.5, 0.5]), ("out_of_domain", [0.5, 0.5])],
)
def test_the_stratified_baseline_samples_prerequisites_and_targets_end_to_end(
    tiny_config, setting, expected
):
    train_skills, eval_skills, graph = SETTINGS[setting]  # an inline k x m matrix: eval columns
    cfg = tiny_config(
        f"skills.train=[{','.join(train_skills)}]",
        f"skills.eval=[{','.join(eval_skills)}]",
        "mixing.strategy=stratified",
        f"mixing.setting={setting}",
        f"mixing.graph.matrix={graph}",
        "mixing.rounds=2",
        "trainer.max_steps=4",
        "mixing.plots=false",
    )
    result = train(cfg)
    rows = run_history(result.run_dir)
    for row in rows:
        assert [row["weights"][s] for s in train_skills] == pytest.approx(expected)
