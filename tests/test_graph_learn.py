"""Graph learning on a stub trainer with a known transfer matrix, plus the real runner's plumbing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skillit.errors import SkillitError
from skillit.graph.io import load_graph
from skillit.graphlearn.estimate import estimate_graph, normalise
from skillit.graphlearn.learn import LearnSettings, learn_graph, write_outputs
from skillit.graphlearn.probes import Probe, brute_probes, linear_probes, plan_probes

SKILLS = ["s1", "s2", "s3", "s4"]
# GAIN[i, j]: how much training on skill i lowers skill j's loss. Own drop 2, prerequisite edges 1
# (s1 -> s2 -> s3, s1 -> s3), interference -0.5 (s4 -> s1), everything else 0.
GAIN = np.array(
    [
        [2.0, 1.0, 1.0, 0.0],
        [0.0, 2.0, 1.0, 0.0],
        [0.0, 0.0, 2.0, 0.0],
        [-0.5, 0.0, 0.0, 2.0],
    ]
)
PAPER_SHAPE = np.array(  # what the default normalisation makes of GAIN: diagonal 1, edges 0.5
    [
        [1.0, 0.5, 0.5, 0.0],
        [0.0, 1.0, 0.5, 0.0],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


class StubRunner:
    """Loss of eval skill j after training on skills S: start[j] - sum over i in S of gain[i, j].

    `noise[seed]` is added to every trained probe of that seed; `fail_after` raises
    KeyboardInterrupt on that call, as a user's Ctrl-C would.
    """

    def __init__(self, gain=GAIN, train=SKILLS, evals=SKILLS, noise=None, fail_after=None):
        self.gain, self.train, self.evals = np.asarray(gain), list(train), list(evals)
        self.start = np.full(len(self.evals), 5.0)
        self.noise = noise or {}
        self.fail_after = fail_after
        self.calls: list[Probe] = []

    def __call__(self, probe: Probe) -> np.ndarray:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt
        self.calls.append(probe)
        rows = [self.train.index(s) for s in probe.skills]
        loss = self.start - self.gain[rows].sum(axis=0)
        return loss + (self.noise.get(probe.seed, 0.0) if probe.skills else 0.0)


def settings(method="linear", **kw) -> LearnSettings:
    return LearnSettings(method=method, steps=10, progress=False, **kw)


def test_linear_method_recovers_the_stub_transfer_matrix(tmp_path):
    result = learn_graph(
        StubRunner(), SKILLS, SKILLS, settings("linear", normalize="raw"), tmp_path
    )
    np.testing.assert_allclose(result.matrix, np.maximum(GAIN, 0))


def test_brute_force_recovers_the_stub_transfer_matrix(tmp_path):
    result = learn_graph(StubRunner(), SKILLS, SKILLS, settings("brute", normalize="raw"), tmp_path)
    np.testing.assert_allclose(result.matrix, np.maximum(GAIN, 0))


def test_default_normalisation_gives_the_papers_shape_for_both_methods(tmp_path):
    for method in ("linear", "brute"):
        result = learn_graph(StubRunner(), SKILLS, SKILLS, settings(method), tmp_path / method)
        np.testing.assert_allclose(result.matrix, PAPER_SHAPE)


def test_brute_force_trains_every_pair_of_skills_exactly_once():
    probes = brute_probes(SKILLS, SKILLS, seeds=[0], steps=10)
    pairs = [frozenset(p.skills) for p in probes if len(p.skills) == 2]
    assert len(pairs) == len(set(pairs)) == len(SKILLS) * (len(SKILLS) - 1) // 2
    assert sorted(p.skills for p in probes if len(p.skills) == 1) == [(s,) for s in SKILLS]


def test_brute_force_skips_pairs_that_hold_no_evaluation_skill():
    probes = brute_probes(SKILLS, ["s3"], seeds=[0], steps=10)
    pairs = {frozenset(p.skills) for p in probes if len(p.skills) == 2}
    assert pairs == {frozenset(("s3", other)) for other in ("s1", "s2", "s4")}


def test_brute_force_refuses_evaluation_skills_that_are_not_trained():
    with pytest.raises(SkillitError, match="--method linear"):
        plan_probes("brute", ["s1", "s2"], ["s3"], seeds=[0], steps=10)


def test_every_seed_has_one_baseline_probe_and_probe_keys_are_unique():
    probes = linear_probes(SKILLS, seeds=[0, 1], steps=10) + brute_probes(SKILLS, SKILLS, [0], 10)
    assert sum(p.is_baseline for p in set(probes)) == 2
    assert len({p.key for p in set(probes)}) == len(set(probes))


def test_probe_keys_are_file_safe_and_keep_distinct_names_apart():
    a, b = Probe(0, ("cause/effect",), 5), Probe(0, ("cause_effect",), 5)
    assert "/" not in a.key and a.key != b.key


def test_interference_is_no_edge_but_stays_signed_in_raw_deltas(tmp_path):
    result = learn_graph(StubRunner(), SKILLS, SKILLS, settings("linear"), tmp_path)
    graph = result.to_graph()
    assert graph.matrix[3, 0] == 0.0 and graph.raw_deltas[0, 3, 0] == pytest.approx(-0.5)


def test_seed_mean_is_the_graph_and_the_spread_is_kept(tmp_path):
    noise = {0: np.array([0.2, 0.0, 0.0, 0.0]), 1: np.array([-0.2, 0.0, 0.0, 0.0])}
    runner = StubRunner(noise=noise)
    result = learn_graph(
        runner, SKILLS, SKILLS, settings("linear", seeds=[0, 1], normalize="raw"), tmp_path
    )
    np.testing.assert_allclose(result.estimate.raw_mean, GAIN)
    np.testing.assert_allclose(
        result.estimate.raw_std[:, 0], np.full(4, np.std([0.2, -0.2], ddof=1))
    )
    np.testing.assert_allclose(result.estimate.raw_std[:, 1:], 0.0, atol=1e-12)


def test_diag_normalisation_caps_an_edge_at_the_skills_own_drop():
    mean = np.array([[1.0, 3.0], [0.5, 2.0]])  # skill 0 helps skill 1 more than skill 1 itself
    np.testing.assert_allclose(normalise(mean, ["a", "b"], ["a", "b"], "diag"), [[1, 1], [0.5, 1]])


def test_diag_normalisation_scales_an_out_of_domain_column_by_its_largest_entry():
    mean = np.array([[0.2], [0.8], [-0.1]])
    np.testing.assert_allclose(normalise(mean, ["a", "b", "c"], ["x"], "diag"), [[0.25], [1], [0]])


def test_paper_normalisation_sets_own_entries_to_one_and_the_strongest_edge_to_a_half():
    mean = np.array([[4.0, 0.02, 0.01], [-0.1, 3.0, 0.0], [0.0, 0.005, 2.0]])
    np.testing.assert_allclose(
        normalise(mean, ["a", "b", "c"], ["a", "b", "c"], "paper"),
        [[1.0, 0.5, 0.25], [0.0, 1.0, 0.0], [0.0, 0.125, 1.0]],
    )


def test_max_normalisation_divides_by_the_largest_drop():
    mean = np.array([[2.0, 1.0], [-1.0, 4.0]])
    np.testing.assert_allclose(
        normalise(mean, ["a", "b"], ["a", "b"], "max"), [[0.5, 0.25], [0, 1]]
    )


def test_min_edge_drops_weak_edges_but_keeps_each_skills_own_entry():
    raw = np.array([[[0.1, 0.05], [0.02, 1.0]]])
    est = estimate_graph(raw, ["a", "b"], ["a", "b"], normalize="raw", min_edge=0.08)
    np.testing.assert_allclose(est.matrix, [[0.1, 0.0], [0.0, 1.0]])


def test_min_z_drops_edges_the_seeds_disagree_on():
    raw = np.array([[[1.0, 0.5], [0.4, 1.0]], [[1.0, -0.3], [0.6, 1.0]]])  # (seeds, k, m)
    est = estimate_graph(raw, ["a", "b"], ["a", "b"], normalize="raw", min_z=2.0)
    np.testing.assert_allclose(est.matrix, [[1.0, 0.0], [0.5, 1.0]])


def test_interrupted_learning_resumes_without_rerunning_finished_probes(tmp_path):
    total = len(plan_probes("brute", SKILLS, SKILLS, [0, 1], 10))
    with pytest.raises(KeyboardInterrupt):
        learn_graph(
            StubRunner(fail_after=7), SKILLS, SKILLS, settings("brute", seeds=[0, 1]), tmp_path
        )
    again = StubRunner()
    result = learn_graph(again, SKILLS, SKILLS, settings("brute", seeds=[0, 1]), tmp_path)
    assert len(again.calls) == total - 7 and result.ran == total - 7
    np.testing.assert_allclose(result.matrix, PAPER_SHAPE)


def test_a_finished_learning_run_trains_nothing_when_repeated(tmp_path):
    learn_graph(StubRunner(), SKILLS, SKILLS, settings("linear"), tmp_path)
    again = StubRunner()
    learn_graph(again, SKILLS, SKILLS, settings("linear"), tmp_path)
    assert again.calls == []


def test_linear_reuses_brute_force_single_skill_probes_of_the_same_length(tmp_path):
    learn_graph(StubRunner(), SKILLS, SKILLS, settings("brute"), tmp_path)
    again = StubRunner()
    learn_graph(again, SKILLS, SKILLS, settings("linear"), tmp_path)
    assert again.calls == []


def test_an_output_folder_of_a_different_setup_is_refused(tmp_path):
    learn_graph(StubRunner(), SKILLS, SKILLS, settings(), tmp_path, setup={"lr": 1e-3})
    with pytest.raises(SkillitError, match=r"config\.lr.*--fresh|lr.*--fresh"):
        learn_graph(StubRunner(), SKILLS, SKILLS, settings(), tmp_path, setup={"lr": 1e-4})


def test_stored_results_for_other_evaluation_skills_are_a_clear_error(tmp_path):
    learn_graph(StubRunner(), SKILLS, SKILLS, settings(), tmp_path)
    (tmp_path / "setup.json").unlink()  # same folder, the setup record lost
    with pytest.raises(SkillitError, match="skills.eval"):
        learn_graph(
            StubRunner(evals=SKILLS[:2], gain=GAIN[:, :2]), SKILLS, SKILLS[:2], settings(), tmp_path
        )


def test_a_runner_returning_the_wrong_number_of_losses_is_an_error(tmp_path):
    runner = StubRunner(evals=SKILLS[:3], gain=GAIN[:, :3])
    with pytest.raises(SkillitError, match="3 losses for 4 evaluation skills"):
        learn_graph(runner, SKILLS, SKILLS, settings(), tmp_path)


@pytest.mark.slow  # launches worker processes
def test_worker_processes_give_the_same_graph_as_one_process(tmp_path):
    serial = learn_graph(StubRunner(), SKILLS, SKILLS, settings("brute"), tmp_path / "one")
    parallel = learn_graph(
        StubRunner(), SKILLS, SKILLS, settings("brute", jobs=2), tmp_path / "two"
    )
    np.testing.assert_array_equal(parallel.matrix, serial.matrix)
    assert len(list((tmp_path / "two" / "probes").glob("*.json"))) == len(serial.losses)


def test_written_graph_loads_back_unchanged_with_its_provenance(tmp_path):
    result = learn_graph(StubRunner(), SKILLS, SKILLS, settings("brute", seeds=[3, 4]), tmp_path)
    paths = write_outputs(result, tmp_path)
    graph = load_graph(paths["graph"])
    assert (graph.train_skills, graph.eval_skills) == (SKILLS, SKILLS)
    assert (graph.method, graph.steps, graph.seeds) == ("brute_force", 10, [3, 4])
    np.testing.assert_array_equal(graph.matrix, result.matrix)
    np.testing.assert_allclose(graph.raw_deltas, result.estimate.raw)
    np.testing.assert_array_equal(np.load(paths["npy"]), result.matrix)
    assert paths["heatmap"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads(paths["summary"].read_text())
    assert summary["start_loss"] == {"3": [5.0] * 4, "4": [5.0] * 4}


def test_a_learned_graph_that_does_not_name_the_runs_skills_is_a_clear_error(tmp_path):
    from skillit.build import load_run_graph
    from skillit.config import load_config

    result = learn_graph(StubRunner(), SKILLS, SKILLS, settings(), tmp_path)
    path = write_outputs(result, tmp_path, plot=False)["graph"]
    cfg = load_config([], [f"mixing.graph.path={path}"])
    with pytest.raises(SkillitError, match=r"\['lego1'\] are not in the graph"):
        load_run_graph(cfg, ["s1", "lego1"], ["s1", "lego1"])


def test_a_bare_matrix_of_the_wrong_shape_is_a_clear_error(tmp_path):
    from skillit.build import load_run_graph
    from skillit.config import load_config

    result = learn_graph(StubRunner(), SKILLS, SKILLS, settings(), tmp_path)
    npy = write_outputs(result, tmp_path, plot=False)["npy"]
    cfg = load_config([], [f"mixing.graph.path={npy}", "mixing.graph.train_skills=[a,b,c]"])
    with pytest.raises(SkillitError, match=r"shape \(4, 4\) but the names need \(3, 3\)"):
        load_run_graph(cfg, ["a", "b", "c"], ["a", "b", "c"])


def test_learn_settings_name_the_flag_to_fix():
    with pytest.raises(SkillitError, match="--steps"):
        LearnSettings(steps=0)
    with pytest.raises(SkillitError, match="--jobs"):
        LearnSettings(jobs=0)
    with pytest.raises(SkillitError, match="--normalize"):
        LearnSettings(normalize="softmax")


# -- the real runner's plumbing (no training) ------------------------------------------------------
def test_probe_config_trains_a_uniform_mixture_of_the_probes_skills_from_the_start_model(
    tmp_path, tiny_config
):
    from skillit.graphlearn.runner import probe_config

    cfg = tiny_config()
    probe = Probe(7, ("lego1", "lego3"), 25)
    out = probe_config(cfg, probe, ["lego1", "lego2", "lego3"], ["lego3"], "start.ckpt", tmp_path)
    assert out.mixing.strategy == "manual" and out.mixing.weights == [1.0, 0.0, 1.0]
    assert (out.seed, out.trainer.max_steps, out.mixing.rounds) == (7, 25, 1)
    assert out.model.init_from == "start.ckpt" and out.mixing.setting == "fine_tuning"
    assert out.logger.wandb == "off" and cfg.mixing.strategy == "random"  # the base is untouched


def test_start_model_is_the_same_for_every_probe_of_a_seed_and_differs_across_seeds(
    tmp_path, tiny_config
):
    import torch

    from skillit.graphlearn.runner import TrainerProbeRunner

    runner = TrainerProbeRunner(tiny_config(), ["lego1", "lego2"], ["lego1", "lego2"], tmp_path)
    first = torch.load(runner.start_checkpoint(0))["state_dict"]
    again = torch.load(runner.start_checkpoint(0))["state_dict"]
    other = torch.load(runner.start_checkpoint(1))["state_dict"]
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_baseline_probe_is_the_start_models_evaluation(tmp_path, tiny_config):
    from skillit.build import build_network, load_initial_weights
    from skillit.data import SkillDataModule
    from skillit.graphlearn.runner import TrainerProbeRunner
    from skillit.model.evaluation import evaluate_skills

    cfg = tiny_config()
    runner = TrainerProbeRunner(cfg, ["lego1", "lego2", "lego3"], ["lego2", "lego3"], tmp_path)
    losses = runner(Probe(0, (), 0))
    network = build_network(cfg, runner.source.tokenizer.get_vocab_size())
    load_initial_weights(network, str(runner.start_checkpoint(0)))
    dm = SkillDataModule(runner.source, ["lego1", "lego2", "lego3"], ["lego2", "lego3"], [1])
    np.testing.assert_allclose(losses, evaluate_skills(network, dm)[0])


# -- transfer against a control -----------------------------------------------------------------
class MixtureStub:
    """Loss of eval skill j after a probe on mixture w: start[j] - k * sum_i w[i] gain[i, j], plus
    `noise(seed, probe)`; the warm-up and start model are not modelled (the stub has no weights)."""

    def __init__(self, gain, noise=None):
        self.gain = np.asarray(gain, dtype=np.float64)
        self.noise = noise or (lambda seed, probe: 0.0)
        self.calls: list[Probe] = []

    def __call__(self, probe: Probe) -> np.ndarray:
        self.calls.append(probe)
        k = len(self.gain)
        if probe.weights is not None:
            w = np.asarray(probe.weights)
        else:
            w = np.array([1.0 / len(probe.skills) if s in probe.skills else 0.0 for s in SKILLS])
        return 5.0 - k * w @ self.gain + self.noise(probe.seed, probe)


PLANTED = np.diag([2.0, 2.0, 2.0, 2.0])
PLANTED[0, 1] = 1.0  # s1 -> s2 only


def test_transfer_finds_a_planted_edge_and_nothing_else(tmp_path):
    result = learn_graph(MixtureStub(PLANTED), SKILLS, SKILLS, settings("transfer"), tmp_path)
    found = result.matrix > 0
    np.fill_diagonal(found, False)
    assert found.sum() == 1 and found[0, 1]
    # the edge is what removing s1 costs s2 with s2's share held: gain[0, 1] exactly; the own
    # entry what removing s2 costs s2, less the third of s2's share that goes to s1
    np.testing.assert_allclose(result.estimate.raw_mean[[1, 0], [1, 1]], [2.0 - 1.0 / 3, 1.0])


def test_transfer_gives_no_edge_between_independent_skills(tmp_path):
    def rng_noise(seed, probe):
        return 0.01 * np.random.default_rng([seed, len(probe.key)]).normal(size=len(SKILLS))

    result = learn_graph(
        MixtureStub(np.diag([2.0] * 4), rng_noise),
        SKILLS,
        SKILLS,
        settings("transfer", seeds=[0, 1, 2, 3], min_z=3),
        tmp_path,
    )
    off = ~np.eye(4, dtype=bool)
    assert not (result.matrix[off] > 0).any()


def test_transfer_probes_keep_the_measured_skills_share_of_the_control():
    probes = plan_probes("transfer", SKILLS, SKILLS, [0], 10)
    control = [p for p in probes if p.weights is None]
    assert len(control) == 1 and control[0].skills == tuple(SKILLS)
    # one probe per ordered pair plus one per skill removed alone, each distinct
    assert len(probes) == 1 + 4 * 3 + 4 and len({p.key for p in probes}) == len(probes)
    from skillit.graphlearn.probes import transfer_weights

    w = transfer_weights(4, drop=0, keep=1)
    assert w == pytest.approx((0.0, 0.25, 0.375, 0.375))
    assert transfer_weights(3, drop=2, keep=None) == pytest.approx((0.5, 0.5, 0.0))
    with pytest.raises(SkillitError, match="at least 3 training skills"):
        transfer_weights(2, drop=0, keep=1)


def test_transfer_cost_counts_warm_ups_and_probes():
    s = settings("transfer", seeds=[0, 1], warmup_steps=40)
    probes = plan_probes("transfer", SKILLS, SKILLS, s.seeds, s.steps)
    assert s.training_steps(probes) == 2 * 40 + len(probes) * 10
