"""DoReMi-style online reweighting: the update by hand, its simplex and determinism, its state,
its configuration errors, and a run end to end from a reference checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import kill_at, run_history

from skillit.config import load_config
from skillit.errors import SkillitError
from skillit.mixing import BuildContext, DoReMiStrategy, build_strategy
from skillit.mixing.updates import doremi_update

NAMES = ["s1", "s2", "s3"]
REFERENCE = np.array([1.0, 0.5, 2.0])
LOSSES = {1: [2.0, 0.4, 3.0], 2: [1.5, 0.7, 2.0], 3: [1.2, 0.9, 2.5], 4: [0.9, 0.5, 2.1]}


def by_hand(weights, losses, eta=1.0, c=1e-3):
    excess = [max(loss - ref, 0.0) for loss, ref in zip(losses, REFERENCE)]
    raw = [w * np.exp(eta * e) for w, e in zip(weights, excess)]
    return [(1 - c) * v / sum(raw) + c / 3 for v in raw]


def test_four_rounds_match_the_update_computed_by_hand():
    strategy = DoReMiStrategy([1, 1, 1], REFERENCE, eta=1.0, smoothing=1e-3, eval_skills=NAMES)
    expected = [1 / 3] * 3
    np.testing.assert_allclose(strategy.initial_weights(), expected)
    # round 1: excess [1, 0, 1] -> weights [e, 1, e] / (2e + 1), smoothed
    e = np.e
    first = [(1 - 1e-3) * v / (2 * e + 1) + 1e-3 / 3 for v in (e, 1.0, e)]
    np.testing.assert_allclose(strategy.next_weights(1, LOSSES[1]), first, rtol=1e-12)
    expected = first
    for t in (2, 3, 4):
        expected = by_hand(expected, LOSSES[t])
        np.testing.assert_allclose(strategy.next_weights(t, LOSSES[t]), expected, rtol=1e-12)
    # round 4's signal: the excess over the reference, clipped at 0
    assert strategy.signal() == {"excess_loss": pytest.approx([0.0, 0.0, 0.1])}


def test_a_skill_at_or_below_the_reference_keeps_only_its_share_of_the_smoothing():
    w = doremi_update(np.array([0.0, 0.5, 0.5]), np.array([0.0, 3.0, 0.0]), 1.0, 0.1)
    assert w[0] == pytest.approx(0.1 / 3)  # a dead domain comes back through smoothing only
    assert w.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(20))
def test_every_update_is_a_distribution_and_the_same_inputs_give_the_same_weights(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    weights = rng.dirichlet(np.ones(k))
    excess = rng.exponential(rng.choice([1e-3, 1.0, 50.0, 700.0]), size=k)
    eta, c = float(rng.uniform(0, 5)), float(rng.uniform(0, 0.2))
    w = doremi_update(weights, excess, eta, c)
    assert np.isfinite(w).all() and (w >= c / k - 1e-15).all()
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_array_equal(w, doremi_update(weights.copy(), excess.copy(), eta, c))


def test_state_round_trips_through_json_and_the_resumed_strategy_continues_identically():
    whole = DoReMiStrategy([1, 2, 1], REFERENCE, 1.0, 1e-3, NAMES)
    first = DoReMiStrategy([1, 2, 1], REFERENCE, 1.0, 1e-3, NAMES)
    for t in (1, 2):
        whole.next_weights(t, LOSSES[t])
        first.next_weights(t, LOSSES[t])
    resumed = DoReMiStrategy([1, 2, 1], REFERENCE, 1.0, 1e-3, NAMES)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    for t in (3, 4):
        np.testing.assert_array_equal(
            resumed.next_weights(t, LOSSES[t]), whole.next_weights(t, LOSSES[t])
        )


def test_a_non_finite_loss_keeps_the_mixture():
    strategy = DoReMiStrategy([1, 1, 1], REFERENCE, 1.0, 1e-3, NAMES)
    before = strategy.next_weights(1, LOSSES[1])
    with pytest.warns(RuntimeWarning, match="keeping the previous mixture"):
        np.testing.assert_array_equal(strategy.next_weights(2, [np.nan, 1.0, 1.0]), before)


def test_the_factory_needs_a_reference_and_one_eval_skill_per_training_skill():
    with pytest.raises(SkillitError, match="reference"):
        build_strategy("doremi", BuildContext(NAMES, NAMES))
    with pytest.raises(SkillitError, match="skills.eval must equal skills.train"):
        build_strategy("doremi", BuildContext(NAMES, ["s3"], reference_losses=np.array(REFERENCE)))
    s = build_strategy("doremi", BuildContext(NAMES, NAMES, reference_losses=np.array(REFERENCE)))
    np.testing.assert_allclose(s.initial_weights(), [1 / 3] * 3)


@pytest.mark.parametrize(
    ("override", "message"),
    [("mixing.doremi.eta=-1", "mixing.doremi.eta"), ("mixing.doremi.smoothing=2", "smoothing")],
)
def test_bad_hyperparameters_are_refused_naming_the_key(override, message):
    with pytest.raises(SkillitError, match=message):
        load_config(overrides=[override])


@pytest.mark.slow  # trains a reference run and a DoReMi run of a few steps
def test_a_doremi_run_reads_its_reference_and_records_the_excess_loss(run_config, tmp_path):
    from skillit.build import build_run
    from skillit.training import train

    reference = tmp_path / "reference"
    train(run_config(reference, "trainer.max_steps=8", "mixing.rounds=2", "mixing.plots=false"))
    ckpt = reference / "checkpoints" / "last.ckpt"
    run_dir = tmp_path / "doremi"
    cfg = run_config(
        run_dir,
        "trainer.max_steps=12",
        "mixing.rounds=3",
        "mixing.plots=false",
        "mixing.strategy=doremi",
        f"mixing.doremi.reference={ckpt}",
    )
    train(cfg)
    history = run_history(run_dir)
    ref_final = json.loads((reference / "final_eval.json").read_text())["eval_loss"]
    strategy = build_run(
        cfg, network=False
    ).mixing.strategy  # a fresh copy, replayed on the recorded losses
    np.testing.assert_allclose(
        strategy.reference, [ref_final[s] for s in strategy.eval_skills], rtol=1e-5
    )
    for record in history:
        losses = np.array([record["eval_loss"][s] for s in strategy.eval_skills])
        excess = np.maximum(losses - strategy.reference, 0)
        assert list(record["excess_loss"].values()) == pytest.approx(list(excess))
        np.testing.assert_allclose(
            list(record["next_weights"].values()), strategy.next_weights(record["round"], losses)
        )
    with pytest.raises(SkillitError, match="mixing.doremi.reference: no checkpoint"):
        build_run(
            run_config(run_dir, "mixing.strategy=doremi", "mixing.doremi.reference=nope.ckpt"),
            network=False,
        )
    with pytest.raises(SkillitError, match="needs mixing.doremi.reference"):
        build_run(run_config(run_dir, "mixing.strategy=doremi"), network=False)


@pytest.mark.slow  # three short runs
def test_a_doremi_run_interrupted_mid_run_resumes_onto_the_same_trajectory(run_config, tmp_path):
    from skillit.training import train

    reference = tmp_path / "reference"
    train(run_config(reference, "trainer.max_steps=8", "mixing.rounds=2", "mixing.plots=false"))
    common = (
        "trainer.max_steps=16",
        "mixing.rounds=4",
        "mixing.plots=false",
        "mixing.strategy=doremi",
        "mixing.doremi.eta=5.0",  # large steps, so a wrong restore would show
        f"mixing.doremi.reference={reference / 'checkpoints' / 'last.ckpt'}",
    )
    full_dir, cut_dir = tmp_path / "full", tmp_path / "cut"
    train(run_config(full_dir, *common))
    cfg = run_config(cut_dir, *common)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, extra_callbacks=[kill_at(round_number=3)])
    train(cfg, resume=cut_dir / "checkpoints" / "last.ckpt")
    full, resumed = run_history(full_dir), run_history(cut_dir)
    assert [h["round"] for h in resumed] == [1, 2, 3, 4]
    assert len({tuple(h["weights"].values()) for h in full}) == 4  # the mixture did move
    for a, b in zip(full, resumed):
        for key in ("weights", "excess_loss", "next_weights"):
            np.testing.assert_allclose(list(a[key].values()), list(b[key].values()), rtol=1e-6)
