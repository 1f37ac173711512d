import numpy as np
import pytest

from skillit.sampling import (
    derive_rng,
    mixture_counts,
    rank_slice,
    round_lengths,
    round_skill_order,
)


@pytest.mark.parametrize("total", [0, 1, 7, 32, 1000, 4097])
def test_mixture_counts_sum_to_total_and_stay_within_one_of_the_target(total):
    weights = np.array([0.5, 0.25, 0.15, 0.1])
    for seed in range(20):
        counts = mixture_counts(weights, total, derive_rng(seed))
        assert counts.sum() == total
        assert np.all(np.abs(counts - weights * total) < 1.0)


def test_mixture_counts_leftovers_follow_the_fractional_parts_on_average():
    weights = np.array([0.55, 0.3, 0.15])  # 10 samples: exact 5.5, 3, 1.5
    draws = np.array([mixture_counts(weights, 10, derive_rng(s)) for s in range(4000)])
    np.testing.assert_allclose(draws.mean(axis=0), weights * 10, atol=0.05)
    assert set(draws[:, 1]) == {3}


@pytest.mark.parametrize(
    "weights, total",
    [([2.9, 1.5, 0.6], 5), ([0.3, 0.3, 0.2, 0.1, 0.1], 7), ([1.7, 1.6, 1.5, 1.2], 6)],
)
def test_expected_counts_are_exactly_weight_times_total_with_several_leftovers(weights, total):
    # Several leftovers at once is where a sequential proportional draw is biased towards the
    # largest fractions; systematic sampling is not. 40k seeds: standard error ~0.0025.
    w = np.asarray(weights) / np.sum(weights)
    draws = np.array([mixture_counts(w, total, derive_rng(s)) for s in range(40_000)])
    assert np.all(draws.sum(axis=1) == total)
    assert np.all(np.abs(draws - w * total) < 1.0)
    np.testing.assert_allclose(draws.mean(axis=0), w * total, atol=0.012)


def test_zero_weight_skills_are_never_drawn():
    counts = mixture_counts(np.array([0.0, 0.7, 0.3, 0.0]), 99, derive_rng(1))
    assert counts[0] == 0 and counts[3] == 0


def test_round_order_is_deterministic_per_seed_and_round():
    w = np.array([0.2, 0.3, 0.5])
    a = round_skill_order(w, 640, seed=3, round_number=2)
    np.testing.assert_array_equal(a, round_skill_order(w, 640, seed=3, round_number=2))
    assert not np.array_equal(a, round_skill_order(w, 640, seed=3, round_number=3))
    assert not np.array_equal(a, round_skill_order(w, 640, seed=4, round_number=2))
    np.testing.assert_array_equal(np.bincount(a, minlength=3), [128, 192, 320])


@pytest.mark.parametrize("weights", [[0.0, 0.0], [-0.1, 1.1], [np.nan, 1.0]])
def test_invalid_weights_are_rejected(weights):
    with pytest.raises(ValueError):
        mixture_counts(np.array(weights), 10, derive_rng(0))


def test_weights_that_are_not_a_vector_are_rejected():
    with pytest.raises(ValueError):
        mixture_counts(np.array([[1.0]]), 10, derive_rng(0))


def test_rank_slices_partition_the_global_batch():
    rows = [np.arange(64)[rank_slice(64, r, 4)] for r in range(4)]
    np.testing.assert_array_equal(np.concatenate(rows), np.arange(64))
    with pytest.raises(ValueError):
        rank_slice(10, 0, 3)


def test_round_lengths_split_the_budget_evenly():
    assert round_lengths(10, 3) == [4, 3, 3]
    assert sum(round_lengths(6000, 7)) == 6000
    with pytest.raises(ValueError):
        round_lengths(3, 4)
