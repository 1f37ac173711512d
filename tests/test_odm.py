"""ODM (EXP3 rewarded by training loss): the update by hand, its simplex and determinism, its
state, its blocks inside a round, and runs end to end (workers, resume)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import kill_at

from skillit.config import load_config
from skillit.errors import SkillitError
from skillit.export.mixture import load_run_history
from skillit.mixing import BuildContext, ODMConfig, ODMStrategy, build_strategy
from skillit.mixing.updates import odm_exploration, odm_policy, odm_reward_estimate

NAMES = ["s1", "s2", "s3"]
# (step, per-skill loss sums, per-skill token counts): skill 3 is not drawn at step 20
SIGNAL = [
    (10, [8.0, 6.0, 3.0], [4, 2, 1]),
    (20, [2.0, 9.0, 0.0], [1, 3, 0]),
    (30, [3.0, 1.0, 5.0], [3, 1, 2]),
    (40, [1.0, 2.0, 2.0], [1, 1, 1]),
]


def by_hand(alpha=0.9):
    """EXP3 as the paper writes it, in plain Python."""
    k = 3
    estimate, policy, eps_prev = [0.0] * k, [1 / k] * k, 1 / k
    out = []
    for step, sums, counts in SIGNAL:
        for i in range(k):
            if counts[i]:
                estimate[i] = alpha * estimate[i] + (1 - alpha) * (sums[i] / counts[i]) / policy[i]
        eps = min(1 / k, math.sqrt(math.log(k) / (k * step)))
        z = sum(math.exp(eps_prev * r) for r in estimate)
        policy = [(1 - k * eps) * math.exp(eps_prev * r) / z + eps for r in estimate]
        eps_prev = eps
        out.append((list(estimate), list(policy)))
    return out


def test_four_updates_match_exp3_computed_by_hand():
    strategy = ODMStrategy(3, alpha=0.9, update_every=10, warmup_steps=0, eval_skills=NAMES)
    np.testing.assert_allclose(strategy.initial_weights(), [1 / 3] * 3)
    for (step, sums, counts), (estimate, policy) in zip(SIGNAL, by_hand()):
        np.testing.assert_allclose(
            strategy.observe_training(step, sums, counts), policy, rtol=1e-12
        )
        np.testing.assert_allclose(strategy.estimate, estimate, rtol=1e-12)
    # step 20 did not draw s3: its estimate kept the value of step 10
    assert by_hand()[1][0][2] == by_hand()[0][0][2]
    assert strategy.signal() == {"reward_estimate": pytest.approx(by_hand()[-1][0])}


def test_the_smoothed_mean_policy_follows_the_authors_updater_by_hand():
    s = ODMStrategy(3, 0.5, 1, 0, NAMES, policy="smoothed_mean")
    w1 = s.observe_training(1, [2.0, 1.0, 0.0], [1, 1, 0])  # skill 3 not drawn
    np.testing.assert_allclose(s.estimate, [0.5 * math.e**2, 0.5 * math.e, 0.0])
    np.testing.assert_allclose(w1, [1 / 3] * 3)  # ε_1 = 1/K: uniform
    w2 = s.observe_training(10, [3.0, 3.0, 3.0], [3, 3, 3])  # mean loss 1 for every skill
    r = np.array([0.25 * math.e**2 + 0.5 * math.e, 0.75 * math.e, 0.5 * math.e])
    np.testing.assert_allclose(s.estimate, r)
    eps = math.sqrt(math.log(3) / 30)
    np.testing.assert_allclose(w2, (1 - 3 * eps) * r / r.sum() + eps, rtol=1e-12)


def test_the_natural_warm_up_mixture_is_the_sources_proportions():
    context = BuildContext(NAMES, NAMES, natural=np.array([0.5, 0.3, 0.2]))
    s = build_strategy("odm", context, ODMConfig(warmup_weights="natural", warmup_steps=5))
    np.testing.assert_allclose(s.initial_weights(), [0.5, 0.3, 0.2])
    np.testing.assert_allclose(s.observe_training(5, [1, 1, 1], [1, 1, 1]), [0.5, 0.3, 0.2])


def test_the_warm_up_keeps_the_initial_mixture_and_learns_nothing():
    strategy = ODMStrategy(3, alpha=0.9, update_every=1, warmup_steps=20, eval_skills=NAMES)
    for step, sums, counts in SIGNAL[:2]:  # steps 10 and 20: inside the warm-up
        np.testing.assert_array_equal(strategy.observe_training(step, sums, counts), [1 / 3] * 3)
    assert strategy.updates == 0 and not strategy.estimate.any()
    assert not np.allclose(strategy.observe_training(*SIGNAL[2]), 1 / 3)


@pytest.mark.parametrize("seed", range(20))
def test_every_update_is_a_distribution_and_the_same_inputs_give_the_same_weights(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 8))
    estimate = rng.exponential(rng.choice([1e-2, 1.0, 1e3, 1e6]), size=k)
    policy = rng.dirichlet(np.ones(k)) * 0.99 + 0.01 / k
    losses = rng.exponential(3.0, size=k)
    seen = rng.random(k) < 0.7
    alpha = float(rng.uniform(0, 0.99))
    r = odm_reward_estimate(estimate, losses, seen, policy, alpha)
    np.testing.assert_array_equal(r[~seen], estimate[~seen])
    step = int(rng.integers(1, 10**6))
    eps, prev = odm_exploration(step, k), odm_exploration(max(1, step - 1), k)
    pi = odm_policy(r, prev, eps)
    assert np.isfinite(pi).all() and (pi >= eps - 1e-15).all()
    assert pi.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_array_equal(pi, odm_policy(r.copy(), prev, eps))


def test_the_exploration_rate_decays_from_one_over_k():
    assert odm_exploration(1, 4) == 0.25
    assert odm_exploration(10**6, 4) == pytest.approx(math.sqrt(math.log(4) / 4e6))
    with pytest.raises(ValueError):
        odm_exploration(0, 4)


def test_state_round_trips_through_json_and_the_resumed_strategy_continues_identically():
    whole = ODMStrategy(3, 0.9, 10, 0, NAMES)
    first = ODMStrategy(3, 0.9, 10, 0, NAMES)
    for item in SIGNAL[:2]:
        whole.observe_training(*item)
        first.observe_training(*item)
    resumed = ODMStrategy(3, 0.9, 10, 0, NAMES)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    for item in SIGNAL[2:]:
        np.testing.assert_array_equal(
            resumed.observe_training(*item), whole.observe_training(*item)
        )


def test_a_non_finite_training_loss_keeps_that_skills_estimate():
    strategy = ODMStrategy(3, 0.9, 10, 0, NAMES)
    strategy.observe_training(*SIGNAL[0])
    before = strategy.estimate.copy()
    with pytest.warns(RuntimeWarning, match="non-finite training loss"):
        strategy.observe_training(20, [np.nan, 3.0, 3.0], [1, 1, 1])
    assert strategy.estimate[0] == before[0] and strategy.estimate[1] != before[1]


def odm_round_blocks(steps, update_every, mixture):
    return ODMStrategy(3, 0.9, update_every, 0).round_blocks(1, steps, mixture)


def test_blocks_cover_the_round_and_only_the_first_is_fixed_in_advance():
    mix = np.array([0.2, 0.3, 0.5])
    blocks = odm_round_blocks(10, 4, mix)
    assert [b.steps for b in blocks] == [4, 4, 2]
    assert blocks[0].weights == pytest.approx(tuple(mix)) and blocks[1].weights is None
    every = odm_round_blocks(5, 1, mix)
    assert [b.weights is None for b in every] == [False, True, True, True, True]
    assert [b.steps for b in odm_round_blocks(7, 0, mix)] == [7]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("mixing.odm.alpha=1.0", "mixing.odm.alpha"),
        ("mixing.odm.update_every=-1", "mixing.odm.update_every"),
        ("mixing.odm.warmup_steps=-5", "mixing.odm.warmup_steps"),
    ],
)
def test_bad_hyperparameters_are_refused_naming_the_key(override, message):
    with pytest.raises(SkillitError, match=message):
        load_config(overrides=[override])


def test_the_factory_builds_it_from_the_options():
    s = build_strategy(
        "odm", BuildContext(NAMES, NAMES), ODMConfig(alpha=0.5, update_every=3, warmup_steps=7)
    )
    assert (s.alpha, s.update_every, s.warmup_steps) == (0.5, 3, 7)
    with pytest.raises(SkillitError, match="at least 2"):
        build_strategy("odm", BuildContext(["s1"], ["s1"]))


ODM_RUN = (
    "trainer.max_steps=24",
    "mixing.rounds=3",
    "mixing.plots=false",
    "mixing.strategy=odm",
    "mixing.odm.update_every=2",
    "mixing.odm.alpha=0.5",
)


@pytest.mark.slow  # two short runs
def test_block_mixtures_move_inside_rounds_and_do_not_depend_on_loader_workers(
    run_config, tmp_path
):
    from skillit.training import train

    train(run_config(tmp_path / "w0", *ODM_RUN))
    train(run_config(tmp_path / "w2", *ODM_RUN, "data.num_workers=2"))
    a, b = load_run_history(tmp_path / "w0"), load_run_history(tmp_path / "w2")
    assert [r["round"] for r in a] == [1, 2, 3]
    for ra, rb in zip(a, b):
        assert ra["block_weights"] == rb["block_weights"]
        assert ra["reward_estimate"] == rb["reward_estimate"]
        assert ra["block_steps"] == [2, 2, 2, 2]
    blocks = [w for r in a for w in r["block_weights"]]
    assert len({tuple(w) for w in blocks}) > 6  # the mixture changed inside rounds
    for r in a:  # the round's mixture is its blocks' average; the next round starts from its end
        drawn = np.mean(r["block_weights"], axis=0)
        np.testing.assert_allclose(list(r["weights"].values()), drawn, rtol=1e-12)
    for prev, nxt in zip(a, a[1:]):
        np.testing.assert_allclose(list(prev["next_weights"].values()), nxt["block_weights"][0])


@pytest.mark.slow  # two short runs, one interrupted and resumed
def test_an_odm_run_interrupted_mid_run_resumes_onto_the_same_trajectory(run_config, tmp_path):
    from skillit.training import train

    full_dir, cut_dir = tmp_path / "full", tmp_path / "cut"
    train(run_config(full_dir, *ODM_RUN))
    cfg = run_config(cut_dir, *ODM_RUN)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, extra_callbacks=[kill_at(round_number=3, batch_idx=3)])
    train(cfg, resume=cut_dir / "checkpoints" / "last.ckpt")
    full, resumed = load_run_history(full_dir), load_run_history(cut_dir)
    assert [h["round"] for h in resumed] == [1, 2, 3]
    for a, b in zip(full, resumed):
        np.testing.assert_allclose(
            np.array(a["block_weights"]), np.array(b["block_weights"]), rtol=1e-6
        )
        for key in ("reward_estimate", "next_weights"):
            np.testing.assert_allclose(list(a[key].values()), list(b[key].values()), rtol=1e-6)


def row_loss_recorder():
    """A callback recording each step's per-skill training (loss sum, token count) and step
    number from what the module computed, for a recomputation independent of the ODM callback."""
    import lightning as L

    class Recorder(L.Callback):
        def __init__(self):
            self.steps = []  # (round, global step after the step, sums, counts)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            skills = trainer.datamodule.skill_lookup()[batch["skill"].cpu()].numpy()
            row_sum, row_tokens = (t.cpu().double().numpy() for t in pl_module.last_row_losses)
            k = len(trainer.datamodule.train_skills)
            sums, counts = np.zeros(k), np.zeros(k)
            np.add.at(sums, skills, row_sum)
            np.add.at(counts, skills, row_tokens)
            self.steps.append((trainer.current_epoch + 1, trainer.global_step, sums, counts))

    return Recorder()


def exp3_by_hand(steps, update_every, round_steps, alpha, k):
    """ODM's EXP3 recomputed from the recorded steps: an update at every block boundary and at
    each round's end, ε_t = min(1/K, sqrt(ln K / (K t))) with t the steps trained."""
    reward, prev_eps, policy = np.zeros(k), 1.0 / k, np.full(k, 1.0 / k)
    policies = {}  # step -> the policy after that step's update
    sums, counts = np.zeros(k), np.zeros(k)
    for _, step, s, c in steps:
        sums, counts = sums + s, counts + c
        in_round = (step - 1) % round_steps + 1
        if (update_every and in_round % update_every == 0) or in_round == round_steps:
            seen = counts > 0
            eps = min(1.0 / k, math.sqrt(math.log(k) / (k * step)))
            reward[seen] = (
                alpha * reward[seen] + (1 - alpha) * sums[seen] / counts[seen] / policy[seen]
            )
            z = np.exp(prev_eps * reward - (prev_eps * reward).max())
            policy = (1 - k * eps) * z / z.sum() + eps
            prev_eps, policies[step] = eps, policy.copy()
            sums, counts = np.zeros(k), np.zeros(k)
    return policies


@pytest.mark.slow  # two short runs
@pytest.mark.parametrize("update_every", [2, 0])
def test_a_runs_block_mixtures_recompute_from_its_training_losses_by_hand(
    run_config, tmp_path, update_every
):
    from skillit.training import train

    recorder = row_loss_recorder()
    overrides = [o for o in ODM_RUN if "update_every" not in o]
    cfg = run_config(tmp_path / "run", *overrides, f"mixing.odm.update_every={update_every}")
    train(cfg, extra_callbacks=[recorder])
    history = load_run_history(tmp_path / "run")
    k, round_steps = len(history[0]["weights"]), 8
    policies = exp3_by_hand(recorder.steps, update_every, round_steps, 0.5, k)
    for r in history:
        end = r["round"] * round_steps
        if update_every:  # block j > 0 draws from the update after the block before it
            for j, weights in enumerate(r["block_weights"][1:], start=1):
                start = end - round_steps + j * update_every
                np.testing.assert_allclose(weights, policies[start], rtol=1e-9)
        np.testing.assert_allclose(list(r["next_weights"].values()), policies[end], rtol=1e-9)
    assert not np.allclose(policies[round_steps], 1.0 / k)  # the updates moved the mixture
