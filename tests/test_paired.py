"""Paired comparisons of a suite's strategies: curve metrics by hand, intervals, the report table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skillit.bench import load_suite
from skillit.bench.paired import (
    acc_at,
    area_under_curve,
    bootstrap_interval,
    paired_difference,
    steps_to,
)
from skillit.bench.report import RunRecord, paired_summary, paired_table
from skillit.callbacks.record import round_summary
from skillit.errors import SkillitError

CURVE = [
    {"step": 100, "eval_acc": {"a": 0.2, "b": 0.0}},
    {"step": 200, "eval_acc": {"a": 0.6, "b": 0.2}},
    {"step": 400, "eval_acc": {"a": 1.0, "b": 0.8}},
]


def test_accuracy_at_a_step_is_the_last_evaluation_at_or_before_it():
    assert acc_at(CURVE, 99, ["a"]) is None
    assert acc_at(CURVE, 100, ["a", "b"]) == pytest.approx(0.1)
    assert acc_at(CURVE, 399, ["a", "b"]) == pytest.approx(0.4)
    assert acc_at(CURVE, 400, ["b"]) == pytest.approx(0.8)


def test_area_under_curve_is_the_trapezoid_from_step_zero_over_the_budget():
    # mean acc 0.1 at 0 (held from the first evaluation) and 100, 0.4 at 200, 0.9 at 400 and 500:
    # 0.1*100 + (0.1+0.4)/2*100 + (0.4+0.9)/2*200 + 0.9*100 = 10 + 25 + 130 + 90 = 255
    assert area_under_curve(CURVE, ["a", "b"], 500) == pytest.approx(255 / 500)


def test_steps_to_is_the_first_evaluation_meeting_the_value():
    assert steps_to(CURVE, ["b"], 0.2) == 200
    assert steps_to(CURVE, ["a", "b"], 0.95) is None


def test_paired_difference_matches_seeds_and_counts_wins():
    d = paired_difference({1: 0.9, 2: 0.8, 3: 0.5, 9: 1.0}, {1: 0.7, 2: 0.8, 3: 0.6, 4: 0.1})
    assert d.seeds == [1, 2, 3]
    assert d.differences == pytest.approx([0.2, 0.0, -0.1])
    assert d.mean == pytest.approx(0.1 / 3)
    assert d.std == pytest.approx(np.std([0.2, 0.0, -0.1], ddof=1))
    assert (d.wins, d.ties) == (1, 1)
    assert d.low <= d.mean <= d.high


def test_bootstrap_interval_is_reproducible_and_covers_the_mean():
    values = [0.1, 0.3, -0.2, 0.4, 0.0, 0.25, 0.15, 0.05, 0.3, 0.2]
    low, high = bootstrap_interval(values)
    assert (low, high) == bootstrap_interval(values)
    assert low < np.mean(values) < high
    assert high - low < np.ptp(values)  # an interval of the mean, narrower than the data
    assert bootstrap_interval([0.5, 0.5, 0.5]) == (0.5, 0.5)


def _record(strategy: str, seed: int, final: float, early: float) -> RunRecord:
    curve = [
        {"step": 40, "eval_acc": {"a": early, "b": early}},
        {"step": 100, "eval_acc": {"a": final, "b": final}},
    ]
    return RunRecord(
        strategy, seed, Path("."), {"a": 0.0, "b": 0.0}, {"a": final, "b": final}, 100, [], curve
    )


def _suite(tmp_path: Path, extra: str = "") -> object:
    (tmp_path / "run.yaml").write_text("name: x\n")
    path = tmp_path / "s.yaml"
    path.write_text(
        "config: run.yaml\nsteps: 100\nseeds: 3\n"
        "target: {metric: acc, value: 0.95, skills: [b]}\n"
        "strategies: {new: [mixing.strategy=skillit], old: [mixing.strategy=random]}\n"
        "paired: {new: [old]}\nreport: {skills: [a, b], at: [0.4, 1.0]}\n" + extra
    )
    return load_suite(str(path))


def test_paired_summary_reports_each_metric_and_the_steps_ratio(tmp_path):
    suite = _suite(tmp_path)
    records = [
        _record("new", 0, 1.0, 0.5),
        _record("new", 1, 0.9, 0.6),
        _record("new", 2, 0.96, 0.4),
        _record("old", 0, 0.8, 0.5),
        _record("old", 1, 0.9, 0.3),
        _record("old", 2, 0.97, 0.1),
    ]
    summary = paired_summary(suite, records)
    pair = summary["pairs"]["new - old"]
    assert pair["acc@1"]["differences"] == pytest.approx([0.2, 0.0, -0.01])
    assert pair["acc@0.4"]["differences"] == pytest.approx([0.0, 0.3, 0.3])
    assert pair["acc@0.4"]["wins"] == 2
    # reached 0.95 on b at step 100: new seeds 0 and 2, old seed 2; the rest count as 100
    assert pair["steps_ratio"] == {
        "ratio": pytest.approx(1.0),
        "candidate_reached": 2,
        "baseline_reached": 1,
        "n": 3,
    }
    seeds = {"seeds": [0, 1, 2]}
    results = {"steps": 100, "paired": summary, "strategies": {"new": seeds, "old": seeds}}
    row = next(line for line in paired_table(results).splitlines() if line.startswith("| new -"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1].startswith("+20.0 [") and cells[1].endswith("2/3")  # at 40%: mean of 0, .3, .3
    assert cells[2].startswith("+6.3 [") and cells[2].endswith("1/3")  # at 100%


@pytest.mark.parametrize(
    ("body", "message"),
    [("paired: {a: [nope]}", r"paired names \['nope'\]"), ("report: {at: [0.0]}", "report.at")],
)
def test_paired_report_names_unknown_strategies_and_bad_fractions(tmp_path, body, message):
    (tmp_path / "run.yaml").write_text("name: x\n")
    path = tmp_path / "bad.yaml"
    path.write_text(
        f"config: run.yaml\nsteps: 10\nstrategies: {{a: [mixing.strategy=random]}}\n{body}\n"
    )
    with pytest.raises(SkillitError, match=message):
        load_suite(str(path))


def test_round_summary_shows_accuracy_and_the_next_mixture():
    record = {
        "round": 2,
        "step": 800,
        "eval_acc": {"depth1": 0.985, "depth2": 0.4},
        "eval_loss": {"depth1": 0.05, "depth2": 1.25},
        "weights": {"depth1": 0.5, "depth2": 0.5},
        "next_weights": {"depth1": 0.2, "depth2": 0.8},
    }
    line = round_summary(record, 6)
    assert line == (
        "round 2/6 (step 800): acc depth1 98%  depth2 40% | next mixture: depth1 0.20  depth2 0.80"
    )
    record["round"] = 6
    assert round_summary(record, 6).endswith("trained on: depth1 0.50  depth2 0.50")
    assert round_summary(record, 6, metric="perplexity").startswith(
        "round 6/6 (step 800): loss depth1 0.050  depth2 1.250 | trained on"
    )
