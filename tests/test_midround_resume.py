"""Checkpoints inside rounds (trainer.checkpoint_every): a run killed at a step inside a round,
resumed, and killed and resumed again, trains the same batches and writes the same history as
an uninterrupted run, for a mixture strategy, ODM (blocks published inside rounds) and Aioli
(probes measured inside rounds)."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
from conftest import kill_at

from skillit.run.plots import read_history

pytestmark = pytest.mark.slow  # each test trains a run three times


class RecordBatches(L.Callback):
    """The ids of every training batch by global step (to compare streams)."""

    def __init__(self) -> None:
        self.batches: dict[int, list] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.batches[trainer.global_step] = batch["input_ids"].tolist()


def random_kills(seed: int, steps: int, round_steps: int) -> tuple[int, int]:
    """Two steps inside rounds (not at a round end), the second after the first, drawn by seed."""
    inside = [s for s in range(1, steps) if s % round_steps]
    first, second = sorted(np.random.default_rng(seed).choice(inside, size=2, replace=False))
    return int(first), int(second)


def run_killed_twice(run_config, tmp_path, overrides, kills):
    from skillit.training import train

    common = (*overrides, "trainer.checkpoint_every=3", "mixing.plots=false")
    full = RecordBatches()
    train(run_config(tmp_path / "full", *common), extra_callbacks=[full])
    cut_dir = tmp_path / "cut"
    cfg = run_config(cut_dir, *common)
    resumed = RecordBatches()
    with pytest.raises(KeyboardInterrupt):
        train(cfg, extra_callbacks=[kill_at(step=kills[0]), resumed])
    for kill in kills[1:]:
        with pytest.raises(KeyboardInterrupt):
            train(
                cfg,
                resume=cut_dir / "checkpoints" / "last.ckpt",
                extra_callbacks=[kill_at(step=kill), resumed],
            )
    train(cfg, resume=cut_dir / "checkpoints" / "last.ckpt", extra_callbacks=[resumed])
    for step, ids in resumed.batches.items():  # every batch trained after a resume is the same
        assert ids == full.batches[step], f"batch of step {step} differs"
    return tmp_path / "full", cut_dir


def compare_histories(full, cut, keys):
    a, b = read_history(full / "mixture_history.jsonl"), read_history(cut / "mixture_history.jsonl")
    assert [r["round"] for r in a] == [r["round"] for r in b]
    for ra, rb in zip(a, b):
        for key in keys:
            assert (key in ra) == (key in rb)
            if key not in ra:  # e.g. Aioli's last round measures no interactions
                continue
            va, vb = ra[key], rb[key]
            if isinstance(va, dict):
                va, vb = list(va.values()), list(vb.values())
            np.testing.assert_allclose(
                np.array(va, dtype=float), np.array(vb, dtype=float), rtol=1e-6
            )
    ea, eb = read_history(full / "eval_history.jsonl"), read_history(cut / "eval_history.jsonl")
    assert [e["step"] for e in ea] == [e["step"] for e in eb]


# the dense-graph variant keeps the first losses it saw: they must survive a resume
VARIANT = ("mixing.skillit.graph_norm=rows", "mixing.skillit.relative_losses=true")


@pytest.mark.parametrize("seed, variant", [(0, ()), (1, ()), (2, VARIANT)])
def test_a_mixture_run_killed_at_random_steps_twice_resumes_exactly(
    run_config, tmp_path, seed, variant
):
    full, cut = run_killed_twice(
        run_config,
        tmp_path,
        (
            "trainer.max_steps=24",
            "mixing.rounds=3",
            "mixing.strategy=skillit",
            "mixing.skillit.eta=5.0",
            "mixing.graph.matrix=[[1,0,0],[0.5,1,0],[0,0.5,1]]",
            "mixing.eval_every=4",
            *variant,
        ),
        kills=random_kills(seed, 24, 8),
    )
    compare_histories(
        full, cut, ("weights", "eval_loss", "next_weights", "delivered_samples", "delivered_tokens")
    )


def test_an_odm_run_killed_inside_rounds_twice_resumes_exactly(run_config, tmp_path):
    full, cut = run_killed_twice(
        run_config,
        tmp_path,
        (
            "trainer.max_steps=24",
            "mixing.rounds=3",
            "mixing.strategy=odm",
            "mixing.odm.update_every=2",
            "mixing.odm.alpha=0.5",
        ),
        kills=(5, 14),
    )
    compare_histories(
        full, cut, ("block_weights", "reward_estimate", "next_weights", "delivered_samples")
    )


def test_an_aioli_run_killed_inside_its_probes_twice_resumes_exactly(run_config, tmp_path):
    full, cut = run_killed_twice(
        run_config,
        tmp_path,
        (
            "trainer.max_steps=30",
            "mixing.rounds=3",
            "mixing.strategy=aioli",
            "mixing.aioli.sweeps=1",
            "mixing.aioli.probe_steps=2",
            "mixing.aioli.eta=20.0",
            "mixing.aioli.ema=null",
            "mixing.aioli.normalise=false",
        ),
        kills=(7, 17),  # inside round 1's probes (checkpoint at 6), round 2's (checkpoint at 15)
    )
    compare_histories(full, cut, ("block_weights", "interactions", "next_weights"))


def test_an_odm_checkpoint_of_the_older_layout_still_resumes_inside_its_round(run_config, tmp_path):
    """Older checkpoints kept the round's published block mixtures in the ODM callback's state,
    not the data module's: such a checkpoint still resumes onto the same trajectory."""
    import torch

    from skillit.training import train

    common = (
        "trainer.max_steps=16",
        "mixing.rounds=2",
        "mixing.strategy=odm",
        "mixing.odm.update_every=2",
        "trainer.checkpoint_every=3",
        "mixing.plots=false",
    )
    train(run_config(tmp_path / "full", *common))
    cfg = run_config(tmp_path / "cut", *common)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, extra_callbacks=[kill_at(step=5)])  # last checkpoint: step 3, inside round 1
    path = tmp_path / "cut" / "checkpoints" / "last.ckpt"
    state = torch.load(path, map_location="cpu", weights_only=True)
    data_state = state.pop("SkillDataModule")
    assert data_state["round"] == 1 and data_state["blocks"][1] is not None
    (key,) = [k for k in state["callbacks"] if k.startswith("TrainingLossCallback")]
    state["callbacks"][key]["blocks"] = data_state["blocks"]
    torch.save(state, path)
    train(cfg, resume=path)
    compare_histories(tmp_path / "full", tmp_path / "cut", ("block_weights", "next_weights"))
