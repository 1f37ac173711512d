"""Strategies: the per-round mixtures, their checkpoint state, and the factory's errors."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from conftest import normalised_exp

from skillit.config import load_config
from skillit.errors import SkillitError
from skillit.mixing import (
    BuildContext,
    CurriculumSchedule,
    CurriculumStrategy,
    ManualStrategy,
    NoGraphStrategy,
    RandomStrategy,
    SkillItStrategy,
    StaticStrategy,
    StratifiedStrategy,
    build_strategy,
    names,
)

A = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.5, 1.0]])
NAMES = ["s1", "s2", "s3"]
LOSSES = {  # end-of-round eval losses of rounds 1..4
    1: np.array([2.0, 1.0, 3.0]),
    2: np.array([1.5, 0.8, 2.5]),
    3: np.array([1.0, 0.6, 2.0]),
    4: np.array([0.5, 0.4, 1.2]),
}


def test_skillit_strategy_matches_hand_computation_over_four_rounds_with_window_two():
    s = SkillItStrategy(A, eta=0.5, window=2, eval_skills=NAMES)
    # p1: eta * row sums [1.5, 1.0, 1.5].
    np.testing.assert_allclose(s.initial_weights(), normalised_exp([0.75, 0.5, 0.75]))
    # After round 1, window {1}: A @ [2, 1, 3] = [2.5, 1.0, 3.5].
    np.testing.assert_allclose(s.next_weights(1, LOSSES[1]), normalised_exp([1.25, 0.5, 1.75]))
    # After round 2, window {1, 2}: sum [3.5, 1.8, 5.5]; A @ it = [4.4, 1.8, 6.4].
    np.testing.assert_allclose(s.next_weights(2, LOSSES[2]), normalised_exp([2.2, 0.9, 3.2]))
    # After round 3, window {2, 3}: sum [2.5, 1.4, 4.5]; A @ it = [3.2, 1.4, 5.2].
    np.testing.assert_allclose(s.next_weights(3, LOSSES[3]), normalised_exp([1.6, 0.7, 2.6]))
    # After round 4, window {3, 4}: sum [1.5, 1.0, 3.2]; A @ it = [2.0, 1.0, 3.7].
    np.testing.assert_allclose(s.next_weights(4, LOSSES[4]), normalised_exp([1.0, 0.5, 1.85]))


def test_skillit_round_four_ignores_the_losses_of_rounds_one_and_two():
    s = SkillItStrategy(A, eta=0.5, window=2)
    s.next_weights(1, np.array([50.0, 0.0, 9.0]))
    s.next_weights(2, np.array([0.0, 70.0, 0.0]))
    s.next_weights(3, LOSSES[3])
    np.testing.assert_allclose(s.next_weights(4, LOSSES[4]), normalised_exp([1.0, 0.5, 1.85]))


def test_skillit_window_spans_rounds_not_calls():
    # Round 3 has no usable losses; with w = 2 the update after round 4 covers rounds 3..4,
    # so only round 4's losses count (not round 2's).
    s = SkillItStrategy(A, eta=0.5, window=2)
    s.next_weights(1, LOSSES[1])
    s.next_weights(2, LOSSES[2])
    with pytest.warns(RuntimeWarning):
        s.next_weights(3, np.array([np.nan, 1.0, 1.0]))
    # A @ [0.5, 0.4, 1.2] = [0.7, 0.4, 1.4].
    np.testing.assert_allclose(s.next_weights(4, LOSSES[4]), normalised_exp([0.35, 0.2, 0.7]))


def test_nan_loss_keeps_the_previous_mixture_and_warns_naming_the_skill():
    s = SkillItStrategy(A, eta=0.5, window=2, eval_skills=NAMES)
    before = s.next_weights(1, LOSSES[1])
    with pytest.warns(RuntimeWarning, match="'s2'"):
        after = s.next_weights(2, np.array([1.0, np.nan, 2.0]))
    np.testing.assert_array_equal(after, before)


def test_infinite_loss_keeps_the_previous_mixture():
    s = SkillItStrategy(A, eta=0.5, window=2, eval_skills=NAMES)
    before = s.initial_weights()
    with pytest.warns(RuntimeWarning, match="'s3'"):
        after = s.next_weights(1, np.array([1.0, 1.0, np.inf]))
    np.testing.assert_array_equal(after, before)


def test_skillit_state_round_trips_through_json_and_resumes_identically():
    uninterrupted = SkillItStrategy(A, eta=0.5, window=2)
    first = SkillItStrategy(A, eta=0.5, window=2)
    for t in (1, 2, 3):
        uninterrupted.next_weights(t, LOSSES[t])
        first.next_weights(t, LOSSES[t])
    state = json.loads(json.dumps(first.state_dict()))
    restored = SkillItStrategy(A, eta=0.5, window=2)
    restored.load_state_dict(state)
    np.testing.assert_array_equal(restored.current_weights, first.current_weights)
    np.testing.assert_array_equal(
        restored.next_weights(4, LOSSES[4]), uninterrupted.next_weights(4, LOSSES[4])
    )


def test_manual_schedule_state_round_trips_through_json():
    s = ManualStrategy(schedule=[(1, [1, 0]), (3, [0, 1])])
    s.next_weights(2, np.array([0.1]))
    restored = ManualStrategy(schedule=[(1, [1, 0]), (3, [0, 1])])
    restored.load_state_dict(json.loads(json.dumps(s.state_dict())))
    assert restored.last_round == 2
    np.testing.assert_array_equal(restored.current_weights, [0.0, 1.0])


def test_loading_another_strategys_state_names_the_key():
    state = RandomStrategy([1, 1, 1]).state_dict()
    with pytest.raises(SkillitError, match="mixing.strategy"):
        SkillItStrategy(A, eta=0.5, window=2).load_state_dict(state)


def test_static_strategy_is_the_softmax_over_row_sums_and_never_changes():
    s = StaticStrategy(A, eta=2.0)
    expected = normalised_exp([3.0, 2.0, 3.0])
    np.testing.assert_allclose(s.initial_weights(), expected)
    for t in (1, 2, 3):
        np.testing.assert_allclose(s.next_weights(t, LOSSES[t]), expected)


def test_no_graph_strategy_weights_each_skill_by_its_own_loss_matched_by_name():
    # Eval skills listed in another order: the identity is matched by name.
    s = NoGraphStrategy(["a", "b", "c"], ["c", "a", "b"], eta=0.5, window=3)
    w = s.next_weights(1, np.array([3.0, 1.0, 2.0]))  # losses of c, a, b
    np.testing.assert_allclose(w, normalised_exp([0.5, 1.0, 1.5]))  # a, b, c


def test_no_graph_strategy_requires_eval_skills_to_be_trained_and_names_the_key():
    with pytest.raises(SkillitError, match="skills.eval"):
        NoGraphStrategy(["a", "b"], ["a", "z"], eta=0.5, window=3)


def test_no_graph_strategy_in_fine_tuning_uses_the_identity_columns_of_the_targets():
    s = NoGraphStrategy(["a", "b", "c"], ["c"], eta=0.5, window=3)
    np.testing.assert_array_equal(s.graph, [[0.0], [0.0], [1.0]])
    w = s.next_weights(1, np.array([2.0]))  # only the target's own loss raises its weight
    np.testing.assert_allclose(w, normalised_exp([0.0, 0.0, 1.0]))


def test_random_strategy_uses_the_natural_proportions():
    s = RandomStrategy([1, 1, 1, 3, 5])
    np.testing.assert_allclose(s.initial_weights(), np.array([1, 1, 1, 3, 5]) / 11)
    np.testing.assert_allclose(s.next_weights(1, np.ones(5)), np.array([1, 1, 1, 3, 5]) / 11)


def test_stratified_strategy_is_uniform_over_the_mask_and_zero_elsewhere():
    s = StratifiedStrategy([True, False, True, True])
    np.testing.assert_allclose(s.initial_weights(), [1 / 3, 0.0, 1 / 3, 1 / 3])


def test_manual_schedule_switches_mixture_at_its_start_round():
    s = ManualStrategy(schedule=[(1, [1, 0]), (3, [1, 3])])
    np.testing.assert_allclose(s.initial_weights(), [1.0, 0.0])
    np.testing.assert_allclose(s.next_weights(1, np.array([0.5])), [1.0, 0.0])  # round 2
    np.testing.assert_allclose(s.next_weights(2, np.array([0.5])), [0.25, 0.75])  # round 3


def test_manual_schedule_must_start_at_round_one():
    with pytest.raises(SkillitError, match="mixing.schedule"):
        ManualStrategy(schedule=[(2, [1, 0])])


def test_curriculum_schedule_admits_the_easiest_half_first_then_everything():
    plan = CurriculumSchedule(stages=2, hardest_first=False)
    scores = np.array([0.9, 0.1, 0.5, 0.3])
    order = plan.plan(scores, np.zeros(4, dtype=int), total_steps=10, batch=2, seed=0)
    assert set(order.rows[:10]) == {1, 3} and set(order.rows[10:]) == {0, 1, 2, 3}
    assert order.admitted.tolist() == [2] * 5 + [4] * 5


@pytest.mark.parametrize("name", ["skill_curriculum", "skill_anticurriculum"])
def test_the_skill_curricula_draw_a_stratified_pool_ordered_by_skill(name):
    s = build_strategy(name, BuildContext(NAMES, NAMES, natural=np.array([1.0, 2, 3]) / 6))
    np.testing.assert_allclose(s.initial_weights(), [1 / 3] * 3)
    assert s.schedule.level == "skill" and s.schedule.hardest_first == (
        name == "skill_anticurriculum"
    )
    assert s.name == name


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("random", RandomStrategy),
        ("stratified", StratifiedStrategy),
        ("manual", ManualStrategy),
        ("curriculum", CurriculumStrategy),
        ("anticurriculum", CurriculumStrategy),
        ("skillit", SkillItStrategy),
        ("static", StaticStrategy),
        ("no_graph", NoGraphStrategy),
    ],
)
def test_build_strategy_builds_each_named_strategy(name, cls):
    context = BuildContext(
        NAMES,
        NAMES,
        graph=A,
        weights=np.array([1.0, 2, 1]) if name == "manual" else None,
        natural=np.array([0.5, 0.25, 0.25]),
    )
    s = build_strategy(name, context)
    assert type(s) is cls
    assert s.state_dict()["strategy"] == name
    assert s.initial_weights().sum() == pytest.approx(1.0)


def test_build_strategy_anticurriculum_admits_hardest_first():
    s = build_strategy(
        "anticurriculum",
        BuildContext(["a", "b"], ["a", "b"], rounds=5, natural=np.array([0.5, 0.5])),
    )
    assert s.schedule.hardest_first and s.schedule.stages == 5


def test_build_strategy_unknown_name_lists_the_valid_names():
    with pytest.raises(SkillitError, match="mixing.strategy") as err:
        build_strategy("skill-it", BuildContext(NAMES, NAMES, graph=A))
    assert all(name in str(err.value) for name in names())


@pytest.mark.parametrize("value", ["-0.1", "inf", "nan"])
def test_a_bad_eta_is_refused_by_the_config_naming_mixing_skillit_eta(value):
    with pytest.raises(SkillitError, match="mixing.skillit.eta"):
        load_config([], [f"mixing.skillit.eta={value}"])


@pytest.mark.parametrize("window", ["0", "-2", "1.5"])
def test_a_window_below_one_is_refused_by_the_config_naming_mixing_skillit_window(window):
    with pytest.raises(SkillitError, match="mixing.skillit.window"):
        load_config([], [f"mixing.skillit.window={window}"])


@pytest.mark.parametrize("eta, window", [(-0.1, 2), (float("nan"), 2), (0.5, 0), (0.5, 1.5)])
def test_the_strategy_itself_refuses_what_the_config_would_have(eta, window):
    with pytest.raises(ValueError):
        SkillItStrategy(A, eta=eta, window=window)


@pytest.mark.parametrize("weights", [[1, 1], [1, -1, 1], [0, 0, 0], [1, float("nan"), 1]])
def test_bad_manual_weights_error_names_mixing_weights(weights):
    with pytest.raises(SkillitError, match="mixing.weights"):
        build_strategy("manual", BuildContext(NAMES, NAMES, weights=np.array(weights, dtype=float)))


def test_graph_with_wrong_row_count_is_rejected():
    with pytest.raises(SkillitError, match="mixing.graph"):
        build_strategy("skillit", BuildContext(["a", "b"], NAMES, graph=A))


def test_loss_free_strategies_warn_on_nan_but_keep_their_mixture():
    s = StratifiedStrategy([True, True])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        w = s.next_weights(1, np.array([np.nan]))
    assert len(caught) == 1 and "#0" in str(caught[0].message)
    np.testing.assert_allclose(w, [0.5, 0.5])


def test_online_skillit_with_a_static_recipes_eta_warns_and_the_papers_does_not():
    import warnings

    from skillit.errors import SkillitWarning
    from skillit.mixing.base import BuildContext
    from skillit.mixing.registry import build_strategy
    from skillit.mixing.skillit import SkillItConfig

    ctx = BuildContext(["a", "b"], ["a", "b"], graph=np.eye(2))
    with pytest.warns(SkillitWarning, match=r"eta=100 is a static recipe's step size"):
        build_strategy("skillit", ctx, SkillItConfig(eta=100.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkillitWarning)
        build_strategy("skillit", ctx, SkillItConfig(eta=0.5))
        build_strategy("static", ctx, SkillItConfig(eta=100.0))  # the static recipe's own eta
