"""The curriculum baselines' sample orders (pure functions, no training)."""

from __future__ import annotations

import numpy as np
import pytest

from skillit.mixing.curricula import (
    ordered_rows,
    paced_schedule,
    skill_order,
    skill_schedule,
    stage_bounds,
)


def test_stage_bounds_follow_linear_pacing_with_exact_integer_boundaries():
    assert stage_bounds(10, 5).tolist() == [0, 2, 4, 6, 8, 10]
    assert stage_bounds(7, 3).tolist() == [0, 3, 5, 7]  # boundaries at 7/3 and 14/3


def test_rows_are_ordered_easiest_first_or_hardest_first_with_ties_by_index():
    scores = np.array([0.5, 0.1, 0.5, 0.9, 0.1, 0.3])
    assert ordered_rows(scores, hardest_first=False).tolist() == [1, 4, 5, 0, 2, 3]
    assert ordered_rows(scores, hardest_first=True).tolist() == [3, 0, 2, 5, 1, 4]


@pytest.mark.parametrize("hardest_first", [False, True])
def test_each_stage_draws_its_admitted_prefix_without_replacement(hardest_first):
    rng = np.random.default_rng(0)
    scores = rng.permutation(60).astype(float)  # distinct: row r has difficulty scores[r]
    sched = paced_schedule(
        scores, stages=3, total_steps=30, batch=2, seed=1, hardest_first=hardest_first
    )
    order = ordered_rows(scores, hardest_first)
    assert (
        sched.rows.shape == (60,) and sched.admitted.tolist() == [20] * 10 + [40] * 10 + [60] * 10
    )
    for stage, (first, end) in enumerate([(0, 10), (10, 20), (20, 30)]):
        rows = sched.rows[first * 2 : end * 2]
        assert set(rows) <= set(order[: 20 * (stage + 1)])  # only admitted rows
        assert len(set(rows)) == len(rows)  # no row twice within a stage
    # the first stage holds exactly the easiest (hardest) third
    assert set(sched.rows[:20]) == set(order[:20])
    easy = scores[sched.rows[:20]].mean() < scores[sched.rows[40:]].mean()
    assert easy != hardest_first


def test_a_stage_that_needs_more_rows_than_it_admits_cycles_through_fresh_permutations():
    sched = paced_schedule(
        np.arange(4.0), stages=2, total_steps=4, batch=3, seed=0, hardest_first=False
    )
    first = sched.rows[:6]  # 2 steps x 3 rows from an admitted prefix of 2 rows
    assert set(first) == {0, 1} and np.bincount(first, minlength=2).tolist() == [3, 3]


def test_the_schedule_is_a_function_of_its_seed():
    scores = np.random.default_rng(3).random(50)
    a = paced_schedule(scores, 5, 25, 2, seed=7, hardest_first=False)
    b = paced_schedule(scores, 5, 25, 2, seed=7, hardest_first=False)
    c = paced_schedule(scores, 5, 25, 2, seed=8, hardest_first=False)
    np.testing.assert_array_equal(a.rows, b.rows)
    assert not np.array_equal(a.rows, c.rows)


@pytest.mark.parametrize("hardest_first", [False, True])
def test_skill_curriculum_trains_each_skill_alone_by_mean_score_then_everything(hardest_first):
    skills = np.repeat([0, 1, 2], 40)  # 120 rows, stratified as the authors draw them
    scores = np.concatenate([np.full(40, 2.0), np.full(40, 0.5), np.full(40, 1.0)])
    sched = skill_schedule(
        scores, skills, total_steps=60, batch=2, seed=0, hardest_first=hardest_first
    )
    order = [1, 2, 0] if not hardest_first else [0, 2, 1]
    assert skill_order(scores, skills, hardest_first).tolist() == order
    phase = 120 // (2 * 3)  # 20 samples of each skill alone, then the last 60 over everything
    for j, skill in enumerate(order):
        part = sched.rows[j * phase : (j + 1) * phase]
        assert set(skills[part]) == {skill} and len(set(part)) == phase
    rest = sched.rows[3 * phase :]
    assert len(rest) == 60 and len(set(rest)) == 60 and set(skills[rest]) == {0, 1, 2}


def test_a_budget_smaller_than_two_samples_per_skill_trains_on_everything():
    sched = skill_schedule(
        np.arange(6.0), np.repeat([0, 1, 2], 2), total_steps=1, batch=4, seed=0, hardest_first=False
    )
    assert len(sched.rows) == 4 and len(set(sched.rows)) == 4  # no phase of its own: all rows
