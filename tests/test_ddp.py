"""A 2-process CPU DDP run (gloo), launched as a subprocess as a user would launch it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

K3_GRAPH = "[[1.0,0.0,0.0],[0.5,1.0,0.0],[0.0,0.5,1.0]]"


def clean_env() -> dict:
    env = {k: v for k, v in os.environ.items()}
    for key in (
        "MASTER_ADDR",
        "MASTER_PORT",
        "RANK",
        "LOCAL_RANK",
        "WORLD_SIZE",
        "NODE_RANK",
        "SKILLIT_RUN_DIR",
    ):
        env.pop(key, None)
    env["WANDB_MODE"] = "offline"
    return env


# chain format with every value scored: lego3 samples carry 3 target tokens, lego1 samples 1, so
# the two ranks hold different numbers of target tokens in most steps.
RUN = [
    "data.source=lego",
    "data.lego.k=3",
    "data.lego.fmt=chain",
    "data.lego.answer_loss=all",
    "data.lego.val_size=45",  # 45 per skill: uneven shards (23 / 22)
    "data.global_batch_size=32",
    "model.max_seq_len=32",
    "trainer.max_steps=60",
    "mixing.rounds=3",
    "mixing.strategy=skillit",
    "mixing.skillit.eta=3.0",
    "mixing.skillit.window=2",
    f"mixing.graph.matrix={K3_GRAPH}",
    "trainer.accelerator=cpu",
    "trainer.threads=1",
    "trainer.progress_bar=false",
    "mixing.plots=false",
]


def launch(run_dir: Path, *extra: str) -> Path:
    cmd = [sys.executable, "-m", "skillit.cli", "train", f"run_dir={run_dir}", *RUN, *extra]
    proc = subprocess.run(
        cmd, env=clean_env(), capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    return launch(
        tmp_path_factory.mktemp("ddp"),
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "logger.wandb=offline",
    )


@pytest.fixture(scope="module")
def single_run(tmp_path_factory):
    return launch(tmp_path_factory.mktemp("single"), "logger.wandb=off")


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_both_ranks_hold_identical_mixtures_and_losses_every_round(ddp_run):
    rank0 = records(ddp_run / "ranks" / "rank0.jsonl")
    rank1 = records(ddp_run / "ranks" / "rank1.jsonl")
    assert [r["round"] for r in rank0] == [r["round"] for r in rank1] == [1, 2, 3]
    for a, b in zip(rank0, rank1):
        assert a["weights"] == b["weights"] and a["next_weights"] == b["next_weights"]
        assert a["eval_loss"] == b["eval_loss"]
    assert records(ddp_run / "mixture_history.jsonl") == rank0


def test_reduced_losses_equal_a_single_process_evaluation_of_the_same_weights(ddp_run):
    from skillit.build import build_network, build_source, load_initial_weights, resolve_skills
    from skillit.config import load_config
    from skillit.data import SkillDataModule
    from skillit.model.evaluation import evaluate_skills

    cfg = load_config([ddp_run / "config.yaml"])
    source = build_source(cfg)
    train_skills, eval_skills = resolve_skills(cfg, source)
    dm = SkillDataModule(source, train_skills, eval_skills, [1])
    network = build_network(cfg, source.tokenizer.get_vocab_size())
    load_initial_weights(network, str(ddp_run / "checkpoints" / "last.ckpt"))
    loss, _ = evaluate_skills(network, dm)
    last = records(ddp_run / "ranks" / "rank1.jsonl")[-1]
    np.testing.assert_allclose([last["eval_loss"][s] for s in eval_skills], loss, rtol=1e-5)


def test_only_rank_zero_logs_to_wandb(ddp_run):
    assert len(list((ddp_run / "wandb").glob("offline-run-*"))) == 1


def test_two_ranks_train_the_same_trajectory_as_one_process_at_the_same_global_batch(
    ddp_run, single_run
):
    # Same global batch -> same data stream split over the ranks, and the training loss is the
    # global token mean, so the gradients match one process's: the runs differ only by float
    # summation order (measured: at most 8e-8 relative). Averaging per-rank means instead weights
    # the ranks' tokens unequally and moves the losses by ~2e-4 in 60 steps.
    final = json.loads((ddp_run / "final_eval.json").read_text())
    assert final["global_step"] == 60  # 60 optimiser steps of 2 x 16 samples, not 120
    ddp, single = (
        records(ddp_run / "mixture_history.jsonl"),
        records(single_run / "mixture_history.jsonl"),
    )
    assert [r["round"] for r in ddp] == [r["round"] for r in single] == [1, 2, 3]
    for a, b in zip(ddp, single):
        np.testing.assert_allclose(
            list(a["eval_loss"].values()), list(b["eval_loss"].values()), rtol=1e-5
        )
        np.testing.assert_allclose(
            list(a["next_weights"].values()), list(b["next_weights"].values()), rtol=1e-5
        )


def test_a_doremi_run_on_two_ranks_holds_the_same_weights_and_signal_on_both(tmp_path):
    reference = launch(tmp_path / "reference", "logger.wandb=off", "trainer.max_steps=30")
    ckpt = reference / "checkpoints" / "last.ckpt"
    run = launch(
        tmp_path / "doremi",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "logger.wandb=off",
        "mixing.strategy=doremi",
        "mixing.doremi.eta=5.0",
        f"mixing.doremi.reference={ckpt}",
    )
    rank0 = records(run / "ranks" / "rank0.jsonl")
    rank1 = records(run / "ranks" / "rank1.jsonl")
    assert [r["round"] for r in rank0] == [r["round"] for r in rank1] == [1, 2, 3]
    for a, b in zip(rank0, rank1):
        assert a["weights"] == b["weights"] and a["next_weights"] == b["next_weights"]
        assert a["excess_loss"] == b["excess_loss"] and a["eval_loss"] == b["eval_loss"]
    assert len({tuple(r["next_weights"].values()) for r in rank0}) == 3  # it did reweight


def test_an_odm_run_on_two_ranks_holds_the_same_block_mixtures_on_both(tmp_path):
    run = launch(
        tmp_path / "odm",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "logger.wandb=off",
        "mixing.strategy=odm",
        "mixing.odm.update_every=4",
        "mixing.odm.alpha=0.5",
    )
    rank0 = records(run / "ranks" / "rank0.jsonl")
    rank1 = records(run / "ranks" / "rank1.jsonl")
    assert [r["round"] for r in rank0] == [r["round"] for r in rank1] == [1, 2, 3]
    for a, b in zip(rank0, rank1):
        # the training losses were reduced as (sum, count) over both ranks before each update
        assert a["block_weights"] == b["block_weights"]
        assert (
            a["reward_estimate"] == b["reward_estimate"] and a["next_weights"] == b["next_weights"]
        )
    assert len({tuple(w) for r in rank0 for w in r["block_weights"]}) > 3  # it did move


AIOLI = ("mixing.strategy=aioli", "mixing.aioli.sweeps=1", "mixing.aioli.probe_steps=3")


def test_an_aioli_run_on_two_ranks_holds_the_same_interactions_and_weights_on_both(tmp_path):
    ddp = ("trainer.devices=2", "trainer.strategy=ddp")
    run = launch(tmp_path / "aioli", *ddp, "logger.wandb=off", *AIOLI, "mixing.aioli.eta=20.0")
    rank0 = records(run / "ranks" / "rank0.jsonl")
    rank1 = records(run / "ranks" / "rank1.jsonl")
    assert [r["round"] for r in rank0] == [r["round"] for r in rank1] == [1, 2, 3]
    for a, b in zip(rank0, rank1):
        assert a["block_weights"] == b["block_weights"] and a["next_weights"] == b["next_weights"]
        assert a.get("interactions") == b.get("interactions")
    assert rank0[0]["block_steps"] == [11, 3, 3, 3]
    assert len({tuple(r["next_weights"].values()) for r in rank0}) >= 2  # it did reweight
    # Each rank scores its share of the validation sets between probes and the sums are reduced:
    # the interactions are one process's (up to float summation order, as for the trajectory).
    single = launch(tmp_path / "one", "logger.wandb=off", *AIOLI, "mixing.aioli.eta=20.0")
    for a, b in zip(rank0, records(single / "mixture_history.jsonl")):
        assert ("interactions" in a) == ("interactions" in b)
        if "interactions" in a:
            np.testing.assert_allclose(
                np.array(list(a["interactions"].values())),
                np.array(list(b["interactions"].values())),
                rtol=1e-4,
                atol=1e-6,
            )
        np.testing.assert_allclose(
            list(a["next_weights"].values()), list(b["next_weights"].values()), rtol=1e-4
        )


def test_delivered_counts_are_summed_over_ranks_and_equal_one_process_at_the_same_batch(
    ddp_run, single_run
):
    ddp = records(ddp_run / "mixture_history.jsonl")
    single = records(single_run / "mixture_history.jsonl")
    for a, b in zip(ddp, single):
        assert sum(a["delivered_samples"].values()) == 20 * 32  # 60 steps / 3 rounds x batch 32
        assert a["delivered_samples"] == b["delivered_samples"]
        assert a["delivered_tokens"] == b["delivered_tokens"]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_nodes_of_one_process_each_agree_and_split_the_batch_like_one_process(
    tmp_path, single_run
):
    """Two "nodes" on localhost, each a `skillit train` started by hand with the environment
    Lightning's cluster detection reads (MASTER_ADDR/PORT, NODE_RANK, WORLD_SIZE, LOCAL_RANK)."""
    run_dir = tmp_path / "nodes"
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "skillit.cli",
        "train",
        f"run_dir={run_dir}",
        *RUN,
        "trainer.num_nodes=2",
        "trainer.devices=1",
        "trainer.strategy=ddp",
        "logger.wandb=off",
    ]
    procs = []
    for node in (0, 1):
        env = clean_env()
        env.update(
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            NODE_RANK=str(node),
            WORLD_SIZE="2",
            LOCAL_RANK="0",
        )
        procs.append(
            subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    rank0 = records(run_dir / "ranks" / "rank0.jsonl")
    rank1 = records(run_dir / "ranks" / "rank1.jsonl")
    assert [r["round"] for r in rank0] == [r["round"] for r in rank1] == [1, 2, 3]
    for a, b in zip(rank0, rank1):
        assert a["weights"] == b["weights"] and a["next_weights"] == b["next_weights"]
    # Each node trained its own half of every global batch: the union is one process's stream,
    # so the trajectory is one process's (overlapping or missing rows would move the losses).
    single = records(single_run / "mixture_history.jsonl")
    for a, b in zip(rank0, single):
        np.testing.assert_allclose(
            list(a["eval_loss"].values()), list(b["eval_loss"].values()), rtol=1e-5
        )
        assert a["delivered_samples"] == b["delivered_samples"]
