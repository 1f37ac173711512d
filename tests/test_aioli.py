"""Aioli (interactions from probe mixtures inside rounds): the update by hand, its simplex and
determinism, its state, the probe blocks of a round, and runs end to end (replay, resume)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import kill_at, normalised_exp

from skillit.config import load_config
from skillit.errors import SkillitError
from skillit.export.mixture import load_run_history
from skillit.mixing import AioliConfig, AioliStrategy, BuildContext, build_strategy
from skillit.mixing.updates import aioli_interactions, aioli_normalise, aioli_update

NAMES = ["s1", "s2", "s3"]


def make(**kw) -> AioliStrategy:
    options = dict(
        eta=1.0,
        sweeps=1,
        probe_steps=2,
        one_hot_factor=1.0,
        ema=None,
        normalise=False,
        first_probe_round=1,
        rounds=4,
        seed=0,
    )
    options.update(kw)
    initial = options.pop("initial", [1, 1, 1])
    return AioliStrategy(initial, eval_skills=NAMES, **options)


def feed(strategy, round_number, before, after_each_probe):
    """Hand the strategy a round's probe evaluations: before the probes, then after each probe
    (the last one is the round-end evaluation, through next_weights)."""
    strategy.observe_block_eval(round_number, 0, before)
    for block, losses in enumerate(after_each_probe[:-1], start=1):
        strategy.observe_block_eval(round_number, block, losses)
    return strategy.next_weights(round_number, after_each_probe[-1])


def test_three_rounds_with_one_hot_probes_match_the_update_computed_by_hand():
    s = make()
    order = s.probe_order(1)
    assert sorted(order) == [0, 1, 2]
    # probe j lowers eval skill i's loss by drop[i][j]: losses after each probe in probe order
    drop = np.array([[0.3, 0.1, 0.0], [0.0, 0.2, 0.1], [0.1, 0.0, 0.4]])
    before = np.array([3.0, 3.0, 3.0])
    after, current = [], before.copy()
    for j in order:
        current = current - drop[:, j]
        after.append(current.copy())
    w1 = feed(s, 1, before, after)
    # A = drop (one sweep, one-hot); p ∝ 1 * exp(column sums) = exp([0.4, 0.3, 0.5])
    expected = normalised_exp([0.4, 0.3, 0.5])
    np.testing.assert_allclose(w1, expected, rtol=1e-12)
    assert s.signal()["interaction_score"] == pytest.approx([0.4, 0.3, 0.5])
    # round 2: the update is multiplicative on round 1's mixture
    order2 = s.probe_order(2)
    current, after = before.copy(), []
    for j in order2:
        current = current - 2 * drop[:, j]
        after.append(current.copy())
    w2 = feed(s, 2, before, after)
    raw = expected * np.exp([0.8, 0.6, 1.0])
    np.testing.assert_allclose(w2, raw / raw.sum(), rtol=1e-12)
    # round 3 probes nothing new into round 4 (the last round): hand-computed as well
    current, after = before.copy(), []
    for j in s.probe_order(3):
        current = current + drop[:, j]  # every probe made things worse
        after.append(current.copy())
    w3 = feed(s, 3, before, after)
    raw = raw * np.exp([-0.4, -0.3, -0.5])
    np.testing.assert_allclose(w3, raw / raw.sum(), rtol=1e-12)
    np.testing.assert_array_equal(s.next_weights(4, before), w3)  # the last round: unchanged


def test_smoothed_probes_are_unmixed_by_a_linear_solve():
    a = np.array([[0.5, 0.1, 0.0], [0.2, 0.3, 0.1], [0.0, 0.1, 0.6]])
    f = 0.5
    w = np.array(
        [[f, (1 - f) / 2, (1 - f) / 2], [(1 - f) / 2, f, (1 - f) / 2], [(1 - f) / 2] * 2 + [f]]
    )
    drops = a @ w.T  # probe j trains on mixture w[j]: eval i drops by sum_l A[i, l] w[j, l]
    np.testing.assert_allclose(aioli_interactions(2 * drops, 2, f), a, atol=1e-12)


def test_normalisation_shifts_negative_entries_and_sums_to_one():
    a = aioli_normalise(np.array([[-1.0, 1.0], [0.0, 2.0]]))
    np.testing.assert_allclose(a, np.array([[0.0, 2.0], [1.0, 3.0]]) / 6.0)


def test_the_ema_mixes_each_matrix_with_the_previous_smoothed_one_from_uniform():
    s = make(ema=0.5)
    before = np.full(3, 2.0)
    first = feed(s, 1, before, [before - [0.3, 0, 0], before - [0.3, 0.3, 0], before - 0.3])
    a1 = s.smoothed.copy()
    np.testing.assert_allclose(first, aioli_update(np.full(3, 1 / 3), a1, 1.0))
    second = feed(s, 2, before, [before, before, before])  # probes changed nothing: A^2 = 0
    np.testing.assert_allclose(s.smoothed, 0.5 * a1)
    np.testing.assert_allclose(second, aioli_update(np.full(3, 1 / 3), 0.5 * a1, 1.0))


def probe_round(strategy, round_number, drop, before):
    """Feed a round whose probe of skill j lowers eval skill i's loss by drop[i, j]."""
    after, current = [], before.copy()
    for j in strategy.probe_order(round_number):
        current = current - drop[:, j]
        after.append(current.copy())
    return feed(strategy, round_number, before, after)


def by_hand_normalised(m):
    m = m - min(m.min(), 0.0)
    return m / m.sum()


def by_hand_softmax(log_p):
    e = np.exp(log_p - log_p.max())
    return e / e.sum()


def test_two_probing_rounds_with_ema_normalisation_and_a_warm_start_match_the_authors_order():
    # Asymmetric drops whose row sums differ from their column sums, an EMA weight other than
    # 0.5 and a non-uniform warm start: each of them changes the result if handled the other way.
    drop1 = np.array([[0.6, 0.0, 0.1], [0.2, 0.1, 0.0], [0.0, -0.3, 0.2]])
    drop2 = np.array([[0.0, 0.4, 0.0], [0.5, 0.0, 0.1], [0.1, 0.0, 0.0]])
    assert not np.allclose(drop1.sum(0), drop1.sum(1))
    s = make(ema=0.3, normalise=True, initial=[0.6, 0.3, 0.1])
    before = np.full(3, 4.0)
    w1 = probe_round(s, 1, drop1, before)
    a1 = by_hand_normalised(drop1)  # normalised first, then smoothed (nothing to smooth yet)
    np.testing.assert_allclose(w1, by_hand_softmax(np.log(np.full(3, 1 / 3)) + a1.sum(0)))
    w2 = probe_round(s, 2, drop2, before)
    a2 = 0.7 * by_hand_normalised(drop2) + 0.3 * a1  # the previous matrix keeps weight ema
    np.testing.assert_allclose(s.smoothed, a2, rtol=1e-12)
    # with the EMA every update starts again from uniform (the authors' weights_init)
    np.testing.assert_allclose(w2, by_hand_softmax(a2.sum(0)), rtol=1e-12)


def test_without_ema_the_first_update_starts_from_uniform_and_later_ones_from_the_last():
    drop1 = np.array([[0.6, 0.0, 0.1], [0.2, 0.1, 0.0], [0.0, 0.3, 0.2]])
    drop2 = np.array([[0.0, 0.4, 0.0], [0.5, 0.0, 0.1], [0.1, 0.0, 0.0]])
    s = make(initial=[0.7, 0.2, 0.1], first_probe_round=2, rounds=5)
    before = np.full(3, 4.0)
    np.testing.assert_allclose(s.next_weights(1, before), [0.7, 0.2, 0.1])  # the warm start
    w2 = probe_round(s, 2, drop1, before)
    np.testing.assert_allclose(w2, by_hand_softmax(drop1.sum(0)), rtol=1e-12)
    w3 = probe_round(s, 3, drop2, before)
    np.testing.assert_allclose(w3, by_hand_softmax(np.log(w2) + drop2.sum(0)), rtol=1e-12)


def test_the_diagonal_option_reads_each_skill_on_its_own_probe_without_the_solve():
    drops = np.array([[0.4, 0.1, 0.2], [0.3, 0.6, 0.0], [0.1, 0.2, 0.8]])
    np.testing.assert_allclose(
        aioli_interactions(2 * drops, 2, 0.5, diagonal=True), np.diag([0.8, 1.2, 1.6])
    )
    # with one-hot probes there is nothing to unmix and the authors' option changes nothing
    np.testing.assert_allclose(aioli_interactions(drops, 1, 1.0, diagonal=True), drops)


@pytest.mark.parametrize("seed", range(20))
def test_every_update_is_a_distribution_and_the_same_inputs_give_the_same_weights(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    weights = rng.dirichlet(np.ones(k))
    a = rng.normal(0, rng.choice([1e-3, 1.0, 100.0]), size=(k, k))
    eta = float(rng.uniform(0, 10))
    if rng.random() < 0.5:
        a = aioli_normalise(a)
    w = aioli_update(weights, a, eta)
    assert np.isfinite(w).all() and (w >= 0).all()
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_array_equal(w, aioli_update(weights.copy(), a.copy(), eta))


def test_a_round_is_the_mixture_then_seeded_probes_and_the_last_round_has_none():
    s = make(sweeps=2, probe_steps=3, one_hot_factor=0.5, rounds=3, seed=7)
    blocks = s.round_blocks(1, 40, [0.2, 0.3, 0.5])
    assert [b.steps for b in blocks] == [22] + [3] * 6
    assert blocks[0].weights == pytest.approx((0.2, 0.3, 0.5))
    probes = [int(np.argmax(b.weights)) for b in blocks[1:]]
    assert sorted(probes[:3]) == sorted(probes[3:]) == [0, 1, 2]
    assert probes == s.probe_order(1) == make(sweeps=2, seed=7).probe_order(1)
    assert blocks[1].weights[probes[0]] == 0.5 and sum(blocks[1].weights) == pytest.approx(1)
    assert [b.steps for b in s.round_blocks(3, 40)] == [40]  # the last round trains only
    with pytest.raises(SkillitError, match="mixing.aioli.probe_steps"):
        s.round_blocks(1, 18)


def test_the_restricted_variant_trains_its_warm_start_until_the_first_probe_round():
    s = make(initial=[0.7, 0.2, 0.1], first_probe_round=3, rounds=5)
    np.testing.assert_allclose(s.initial_weights(), [0.7, 0.2, 0.1])
    for t in (1, 2):
        assert not s.probes_in(t) and len(s.round_blocks(t, 20)) == 1
        np.testing.assert_allclose(s.next_weights(t, [1.0, 1.0, 1.0]), [0.7, 0.2, 0.1])
    assert s.probes_in(3)


def test_state_round_trips_through_json_and_the_resumed_strategy_continues_identically():
    def rounds(s, ts):
        out = []
        for t in ts:
            before = np.array([2.0, 2.5, 3.0]) / t
            out.append(feed(s, t, before, [before - 0.1 * (i + 1) for i in range(3)]))
        return out

    whole, first = make(ema=0.3, normalise=True), make(ema=0.3, normalise=True)
    rounds(whole, [1, 2])
    rounds(first, [1, 2])
    resumed = make(ema=0.3, normalise=True)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    np.testing.assert_array_equal(rounds(resumed, [3]), rounds(whole, [3]))


def test_the_factory_refuses_eval_skills_other_than_the_training_skills():
    opts = AioliConfig(eta=0.1, sweeps=1, probe_steps=1, ema=None, normalise=False)
    with pytest.raises(SkillitError, match="skills.eval must equal skills.train"):
        build_strategy("aioli", BuildContext(NAMES, ["s1"]), opts)
    s = build_strategy("aioli", BuildContext(NAMES, NAMES, rounds=3), opts)
    assert s.probe_total == 3


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("mixing.aioli.one_hot_factor=0", "mixing.aioli.one_hot_factor"),
        ("mixing.aioli.sweeps=0", "mixing.aioli.sweeps"),
        ("mixing.aioli.ema=1.0", "mixing.aioli.ema"),
        ("mixing.aioli.eta=-1", "mixing.aioli.eta"),
    ],
)
def test_bad_hyperparameters_are_refused_naming_the_key(override, message):
    with pytest.raises(SkillitError, match=message):
        load_config(overrides=[override])


AIOLI_RUN = (
    "trainer.max_steps=30",
    "mixing.rounds=3",
    "mixing.plots=false",
    "mixing.strategy=aioli",
    "mixing.aioli.sweeps=1",
    "mixing.aioli.probe_steps=2",
    "mixing.aioli.eta=20.0",  # large steps, so a wrong replay or restore would show
    "mixing.aioli.ema=null",
    "mixing.aioli.normalise=false",
)


@pytest.mark.slow  # one short run
def test_a_run_probes_each_round_but_the_last_and_its_history_replays(run_config, tmp_path):
    from skillit.training import train

    train(run_config(tmp_path / "run", *AIOLI_RUN))
    records = load_run_history(tmp_path / "run")
    assert [r["block_steps"] for r in records] == [[4, 2, 2, 2], [4, 2, 2, 2], [10]]
    for r in records[:2]:
        probes = r["block_weights"][1:]
        assert sorted(int(np.argmax(w)) for w in probes) == [0, 1, 2]  # one-hot-ish, each once
        a = np.array(list(r["interactions"].values())).T  # rows: eval skills
        start = np.full(3, 1 / 3) if r["round"] == 1 else list(records[0]["next_weights"].values())
        np.testing.assert_allclose(
            list(r["next_weights"].values()), aioli_update(np.asarray(start), a, 20.0), rtol=1e-9
        )
    assert "interactions" not in records[2]
    assert records[2]["block_weights"][0] == pytest.approx(
        list(records[1]["next_weights"].values())
    )


@pytest.mark.slow  # two short runs, one interrupted and resumed
def test_an_aioli_run_interrupted_mid_run_resumes_onto_the_same_trajectory(run_config, tmp_path):
    from skillit.training import train

    full_dir, cut_dir = tmp_path / "full", tmp_path / "cut"
    train(run_config(full_dir, *AIOLI_RUN))
    cfg = run_config(cut_dir, *AIOLI_RUN)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, extra_callbacks=[kill_at(round_number=2, batch_idx=6)])  # in round 2's probes
    train(cfg, resume=cut_dir / "checkpoints" / "last.ckpt")
    full, resumed = load_run_history(full_dir), load_run_history(cut_dir)
    assert [h["round"] for h in resumed] == [1, 2, 3]
    assert len({tuple(h["next_weights"].values()) for h in full}) >= 2  # it did move
    for a, b in zip(full, resumed):
        assert a["block_steps"] == b["block_steps"]
        np.testing.assert_allclose(
            np.array(a["block_weights"]), np.array(b["block_weights"]), rtol=1e-6
        )
        np.testing.assert_allclose(
            list(a["next_weights"].values()), list(b["next_weights"].values()), rtol=1e-6
        )


def test_rounds_too_short_for_the_probes_are_refused_before_training(run_config, tmp_path):
    from skillit.build import build_run

    cfg = run_config(tmp_path, "mixing.strategy=aioli", "trainer.max_steps=60", "mixing.rounds=3")
    with pytest.raises(SkillitError, match="round 1 has 20 steps but Aioli's probes take 72"):
        build_run(cfg, network=False)


def test_probes_that_are_all_uniform_are_refused_rather_than_divided_by_zero():
    with pytest.raises(ValueError, match="uniform"):
        aioli_interactions(np.ones((4, 4)), 1, 0.25)  # f = 1/k: every probe is uniform
