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
