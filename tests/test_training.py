"""End-to-end training runs at tiny size: learning, the Skill-It history, resume."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import kill_at, run_history

from skillit.config import load_config
from skillit.errors import SkillitError
from skillit.mixing.updates import skillit_initial, skillit_update
from skillit.training import train

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
K3_GRAPH = [[1.0, 0.0, 0.0], [0.5, 1.0, 0.0], [0.0, 0.5, 1.0]]


# LEGO chain format, k=3, 2-layer GPT: learns in a few seconds per hundred steps on one core.
K3_WORKLOAD = (
    "data.lego.val_size=60",
    "data.global_batch_size=64",
    "model.n_layer=2",
    "model.n_head=4",
    "model.d_model=64",
    "model.max_seq_len=32",
    "optim.lr=0.002",
    "optim.warmup_steps=50",
)


@pytest.fixture(scope="session")
def lego_k3(run_config):
    """lego_k3(run_dir, *overrides): the K3 learning workload on top of the tiny run config."""
    return lambda run_dir, *overrides: run_config(run_dir, *K3_WORKLOAD, *overrides)


def read_evals(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "eval_history.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def skillit_run(tmp_path_factory, lego_k3):
    run_dir = tmp_path_factory.mktemp("skillit_run")
    cfg = lego_k3(
        run_dir,
        "trainer.max_steps=240",
        "mixing.strategy=skillit",
        "mixing.rounds=6",
        "mixing.skillit.window=2",
        "mixing.skillit.eta=2.0",
        f"mixing.graph.matrix={K3_GRAPH}",
    )
    return cfg, train(cfg), run_dir


def test_the_quick_start_lego_run_learns_every_skill_well_above_chance(tmp_path):
    # The README's main command, as shipped (2000 steps, about a minute on one core).
    cfg = load_config(
        [ROOT / "configs" / "experiment" / "lego.yaml"],
        [
            f"run_dir={tmp_path}",
            "logger.wandb=off",
            "trainer.progress_bar=false",
            "mixing.plots=false",
        ],
    )
    result = train(cfg)
    # chance for skill i: its i answer values must all be right, 1 / 2**i
    chance = 0.5 ** np.arange(1, 6)
    assert np.all(result.acc >= chance + 0.3), result.acc


def test_history_weights_are_recomputable_from_logged_losses_and_the_graph(skillit_run):
    cfg, _, run_dir = skillit_run
    history = run_history(run_dir)
    names = ["lego1", "lego2", "lego3"]
    A = np.array(K3_GRAPH)
    assert len(history) == cfg.mixing.rounds
    np.testing.assert_allclose(
        [history[0]["weights"][s] for s in names], skillit_initial(A, 2.0), rtol=1e-9
    )
    for t in range(1, len(history)):
        window = [[h["eval_loss"][s] for s in names] for h in history[max(0, t - 2) : t]]
        expected = skillit_update(A, np.array(window), 2.0)
        np.testing.assert_allclose([history[t]["weights"][s] for s in names], expected, rtol=1e-9)
        assert history[t - 1]["next_weights"] == history[t]["weights"]


def test_the_skillit_mixture_actually_changes(skillit_run):
    _, _, run_dir = skillit_run
    weights = np.array([list(h["weights"].values()) for h in run_history(run_dir)])
    assert np.abs(np.diff(weights, axis=0)).max() > 0.05


def test_a_run_writes_its_config_tokenizer_checkpoint_logs_and_plots(skillit_run):
    _, result, run_dir = skillit_run
    for name in (
        "config.yaml",
        "tokenizer.json",
        "checkpoints/last.ckpt",
        "csv/metrics.csv",
        "final_eval.json",
        "mixture.png",
        "eval_loss.png",
    ):
        assert (run_dir / name).is_file(), name
    final = json.loads((run_dir / "final_eval.json").read_text())
    assert final["global_step"] == 240
    np.testing.assert_allclose(list(final["eval_loss"].values()), result.loss, rtol=1e-6)
    header = (run_dir / "csv" / "metrics.csv").read_text().splitlines()[0]
    assert "val/loss/lego3" in header and "mixture/lego1" in header and "train/loss" in header


def test_a_run_interrupted_in_round_three_resumes_onto_the_same_trajectory(tmp_path, lego_k3):
    common = (
        "trainer.max_steps=120",
        "mixing.strategy=skillit",
        "mixing.rounds=4",
        "mixing.skillit.window=2",
        "mixing.skillit.eta=3.0",
        f"mixing.graph.matrix={K3_GRAPH}",
        "mixing.plots=false",
        "mixing.eval_every=10",
    )
    full_dir, cut_dir = tmp_path / "full", tmp_path / "cut"
    train(lego_k3(full_dir, *common))
    cfg = lego_k3(cut_dir, *common)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, extra_callbacks=[kill_at(round_number=3)])
    assert len(run_history(cut_dir)) == 2  # the checkpoint written at the end of round 2 is resumed
    train(cfg, resume=cut_dir / "checkpoints" / "last.ckpt")
    # nothing logged before the interruption is lost
    assert (cut_dir / "csv" / "metrics.csv").is_file() and (
        cut_dir / "csv" / "resume-1" / "metrics.csv"
    ).is_file()
    # every evaluation was recorded once, as in the uninterrupted run
    assert read_evals(cut_dir) == read_evals(full_dir)
    full, resumed = run_history(full_dir), run_history(cut_dir)
    assert [h["round"] for h in resumed] == [1, 2, 3, 4]
    for a, b in zip(full, resumed):
        assert a["step"] == b["step"]
        np.testing.assert_allclose(
            list(a["weights"].values()), list(b["weights"].values()), rtol=1e-6
        )
        np.testing.assert_allclose(
            list(a["eval_loss"].values()), list(b["eval_loss"].values()), rtol=1e-5
        )


@pytest.mark.parametrize("strategy", ["curriculum", "anticurriculum"])
def test_curriculum_pools_grow_linearly_from_easiest_or_hardest_samples(
    tmp_path, strategy, lego_k3
):
    train(
        lego_k3(
            tmp_path,
            f"mixing.strategy={strategy}",
            "mixing.rounds=3",
            "trainer.max_steps=30",
            "mixing.curriculum_pool=300",
            "mixing.plots=false",
        )
    )
    history = run_history(tmp_path)
    assert [h["pool_size"] for h in history] == [100, 200, 300]
    import torch

    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)["callbacks"][
        "CurriculumCallback"
    ]
    scores = np.array(state["scores"])
    assert scores.shape == (300,) and np.all(np.isfinite(scores))


def test_eval_every_adds_evaluations_but_the_mixture_uses_round_ends_only(tmp_path, lego_k3):
    train(
        lego_k3(
            tmp_path,
            "mixing.strategy=skillit",
            f"mixing.graph.matrix={K3_GRAPH}",
            "mixing.rounds=2",
            "trainer.max_steps=40",
            "mixing.eval_every=10",
            "mixing.plots=false",
        )
    )
    evals, history = read_evals(tmp_path), run_history(tmp_path)
    assert [e["step"] for e in evals] == [10, 20, 30, 40]
    assert [h["step"] for h in history] == [20, 40]
    by_step = {e["step"]: e["eval_loss"] for e in evals}
    assert all(h["eval_loss"] == by_step[h["step"]] for h in history)


def test_a_diverged_run_stops_with_a_clear_error_and_writes_only_valid_json(tmp_path, lego_k3):
    cfg = lego_k3(tmp_path, "optim.lr=1e30", "trainer.max_steps=20", "mixing.rounds=2")
    with (
        pytest.warns(RuntimeWarning),
        pytest.raises(SkillitError, match="training diverged.*optim.lr"),
    ):
        train(cfg)
    for name in ("mixture_history.jsonl", "eval_history.jsonl"):
        for line in (tmp_path / name).read_text().splitlines():
            assert "NaN" not in line and "Infinity" not in line, name
            json.loads(line)
    assert not (tmp_path / "final_eval.json").exists()
