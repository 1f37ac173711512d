"""The pure Skill-It, static and curriculum maths, checked against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import normalised_exp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skillit.mixing import updates
from skillit.mixing.updates import (
    mix_uniform,
    skillit_initial,
    skillit_update,
    softmax_weights,
    static_weights,
)

# Skill 1 feeds skill 0 and skill 2 (0.5); every skill feeds itself (1).
A = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.5, 1.0]])
ETA = 0.5


def test_softmax_weights_is_finite_for_huge_scores():
    w = softmax_weights(np.array([1e308, 1e308 - 1e292, -1e308]))
    assert np.isfinite(w).all()
    assert w.sum() == pytest.approx(1.0, abs=1e-12)


def test_softmax_weights_gives_infinite_scores_all_the_mass():
    w = softmax_weights(np.array([np.inf, 3.0, np.inf]))
    np.testing.assert_array_equal(w, [0.5, 0.0, 0.5])


def test_skillit_initial_matches_hand_computation():
    # Row sums 1.5, 1.0, 1.5, times eta 0.5.
    np.testing.assert_allclose(skillit_initial(A, ETA), normalised_exp([0.75, 0.5, 0.75]))


def test_skillit_update_sums_the_window_rather_than_averaging():
    losses = np.array([2.0, 1.0, 3.0])
    # A @ L = [2.5, 1.0, 3.5]; two identical rounds sum to twice that.
    summed = normalised_exp(ETA * 2 * np.array([2.5, 1.0, 3.5]))
    np.testing.assert_allclose(skillit_update(A, np.stack([losses, losses]), ETA), summed)


def test_skillit_update_over_the_last_two_rounds_matches_hand_computation():
    # Rounds 3 and 4: L3 + L4 = [1.0+0.5, 0.6+0.4, 2.0+1.2] = [1.5, 1.0, 3.2].
    # A @ [1.5, 1.0, 3.2] = [1.5 + 0.5, 1.0, 0.5 + 3.2] = [2.0, 1.0, 3.7]; eta * that:
    window = np.array([[1.0, 0.6, 2.0], [0.5, 0.4, 1.2]])
    np.testing.assert_allclose(skillit_update(A, window, ETA), normalised_exp([1.0, 0.5, 1.85]))


def test_complete_graph_gives_uniform_weights():
    window = np.array([[0.3, 2.0, 9.0, 0.1], [4.0, 0.0, 1.0, 7.0]])
    np.testing.assert_allclose(skillit_update(np.ones((4, 4)), window, 3.0), np.full(4, 0.25))


def test_identity_graph_gives_softmax_of_eta_times_own_loss():
    losses = np.array([0.2, 1.4, 0.9])
    np.testing.assert_allclose(
        skillit_update(np.eye(3), losses[None, :], 0.8), normalised_exp(0.8 * losses)
    )


def test_static_weights_are_the_softmax_over_row_sums():
    graph = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 0.0]])
    np.testing.assert_allclose(static_weights(graph, 2.0), normalised_exp([2.0, 2.0, 0.0]))


def test_static_weights_do_not_crash_on_a_zero_graph_or_zero_eta():
    np.testing.assert_allclose(static_weights(np.zeros((3, 2)), 1.0), np.full(3, 1 / 3))
    np.testing.assert_allclose(static_weights(A, 0.0), np.full(3, 1 / 3))


finite = st.floats(allow_nan=False, allow_infinity=False)
non_negative = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    k=st.integers(1, 6),
    m=st.integers(1, 6),
    rounds=st.integers(1, 4),
    eta=st.floats(min_value=0.0, max_value=1e6),
)
def test_weights_are_a_simplex_for_any_finite_losses_and_non_negative_graph(
    data, k, m, rounds, eta
):
    graph = data.draw(arrays(np.float64, (k, m), elements=non_negative))
    window = data.draw(arrays(np.float64, (rounds, m), elements=finite))
    for w in (skillit_update(graph, window, eta), skillit_initial(graph, eta)):
        assert w.shape == (k,)
        assert np.isfinite(w).all()
        assert (w >= 0).all()
        assert abs(w.sum() - 1.0) <= 1e-9


def test_mix_uniform_matches_hand_values_and_keeps_a_floor():
    p = np.array([0.9, 0.07, 0.03])
    np.testing.assert_allclose(mix_uniform(p, 0.3), [0.73, 0.149, 0.121])
    np.testing.assert_array_equal(mix_uniform(p, 0.0), p)
    np.testing.assert_allclose(mix_uniform(p, 1.0), [1 / 3] * 3)
    with pytest.raises(ValueError, match="smoothing"):
        mix_uniform(p, 1.5)


def test_skillit_with_smoothing_matches_hand_computation():
    from skillit.mixing.skillit import SkillItStrategy

    s = SkillItStrategy(np.eye(2), eta=1.0, window=1, smoothing=0.2)
    np.testing.assert_allclose(s.initial_weights(), [0.5, 0.5])
    e = math.e
    # p ∝ exp([1, 0]) = [e, 1] / (e + 1); then 0.8 p + 0.1
    expected = 0.8 * np.array([e, 1.0]) / (e + 1) + 0.1
    np.testing.assert_allclose(s.next_weights(1, np.array([1.0, 0.0])), expected)
    assert np.isclose(expected[0], 0.684847, atol=1e-6)


def test_graph_normalisation_divides_rows_or_columns_by_their_sums_and_keeps_zero_ones():
    graph = np.array([[1.0, 3.0], [0.0, 0.0], [2.0, 1.0]])
    np.testing.assert_allclose(
        updates.normalise_graph(graph, "rows"), [[0.25, 0.75], [0.0, 0.0], [2 / 3, 1 / 3]]
    )
    np.testing.assert_allclose(
        updates.normalise_graph(graph, "columns"), [[1 / 3, 0.75], [0.0, 0.0], [2 / 3, 0.25]]
    )
    np.testing.assert_array_equal(updates.normalise_graph(graph, "none"), graph)
    with pytest.raises(ValueError, match="one of"):
        updates.normalise_graph(graph, "both")


def test_relative_losses_are_fractions_of_the_first_and_refuse_a_zero_start():
    np.testing.assert_allclose(updates.relative_losses([2.0, 1.0], [4.0, 1.0]), [0.5, 1.0])
    with pytest.raises(ValueError, match="positive"):
        updates.relative_losses([1.0], [0.0])


def test_a_normalised_graph_that_keeps_negative_entries_is_refused_by_key():
    from skillit.config import load_config
    from skillit.errors import SkillitError

    with pytest.raises(SkillitError, match="mixing.graph.negative=clip"):
        load_config([], ["mixing.skillit.graph_norm=rows", "mixing.graph.negative=authors"])
