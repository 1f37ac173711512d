"""benchmarks/corpus_mixers.py's arithmetic: tokens to reach a baseline's final loss, with the
graph's probe steps counted only for methods that read a graph."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from corpus_mixers import steps_to_reach, tokens_to_reach  # noqa: E402


def run(curve, mean, reads_graph=False, steps=100):
    return {
        "curve": curve,
        "mean": mean,
        "steps": steps,
        "tokens_per_step": 10,
        "reads_graph": reads_graph,
    }


def test_the_first_evaluation_at_or_below_the_value_counts_and_never_is_the_budget():
    curve = [(50, 5.0), (100, 4.0)]
    assert steps_to_reach(curve, 4.5, 100) == (100, True)
    assert steps_to_reach(curve, 5.0, 100) == (50, True)
    assert steps_to_reach(curve, 3.0, 100) == (100, False)


def test_tokens_to_reach_the_baseline_amortised_and_with_the_graph_counted():
    baseline = {0: run([(50, 4.5), (100, 4.0)], 4.0), 1: run([(50, 4.2), (100, 4.0)], 4.0)}
    method = {
        0: run([(50, 4.0), (100, 3.9)], 3.9, reads_graph=True),
        1: run([(50, 4.1), (100, 3.8)], 3.8, reads_graph=True),
    }
    cost = {0: 40, 1: 60}  # probe steps of each seed's graph
    ratio = tokens_to_reach(method, baseline, cost)
    assert ratio["reached"] == 2 and ratio["n"] == 2
    assert ratio["amortised"] == pytest.approx((50 + 100) / (100 + 100))
    assert ratio["counted"] == pytest.approx((50 + 40 + 100 + 60) / (100 + 100))
