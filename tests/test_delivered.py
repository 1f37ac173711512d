"""The delivered mixture: samples and tokens each round actually trained on, per skill, recorded
in mixture_history.jsonl; they must equal what the round's plan draws."""

from __future__ import annotations

import numpy as np
import pytest

from skillit.build import build_run
from skillit.export.mixture import load_run_history
from skillit.sampling import block_skill_order, round_skill_order
from skillit.training import build_datamodule

pytestmark = pytest.mark.slow  # each test trains a tiny run


def replayed_tokens(cfg, record, round_number) -> list[int]:
    """Non-pad tokens per training skill of the round, drawn again through the data module."""
    parts = build_run(cfg, network=False)
    dm = build_datamodule(parts)
    dm.set_mixture(list(record["weights"].values()))
    lookup = dm.skill_lookup()
    tokens = np.zeros(len(parts.train_skills), dtype=np.int64)
    for batch in dm.train_stream(round_number):
        skills = lookup[batch["skill"]].numpy()
        np.add.at(tokens, skills, (batch["input_ids"] != parts.source.pad_id).sum(1).numpy())
    return tokens.tolist()


def test_a_mixture_rounds_delivered_samples_and_tokens_equal_its_plan(run_config, tmp_path):
    from skillit.training import train

    cfg = run_config(
        tmp_path / "run",
        "trainer.max_steps=12",
        "mixing.rounds=2",
        "mixing.plots=false",
        "mixing.strategy=manual",
        "mixing.weights=[0.5,0.3,0.2]",
    )
    train(cfg)
    records = load_run_history(tmp_path / "run")
    g = cfg.data.global_batch_size
    for record in records:
        planned = round_skill_order([0.5, 0.3, 0.2], 6 * g, cfg.seed, record["round"])
        assert (
            list(record["delivered_samples"].values()) == np.bincount(planned, minlength=3).tolist()
        )
        assert list(record["delivered_tokens"].values()) == replayed_tokens(
            cfg, record, record["round"]
        )
        assert all(v > 0 for v in record["delivered_tokens"].values())


def test_an_odm_rounds_delivered_samples_equal_its_blocks_plans(run_config, tmp_path):
    from skillit.training import train

    cfg = run_config(
        tmp_path / "odm",
        "trainer.max_steps=12",
        "mixing.rounds=2",
        "mixing.plots=false",
        "mixing.strategy=odm",
        "mixing.odm.update_every=4",
    )
    train(cfg)
    g = cfg.data.global_batch_size
    for record in load_run_history(tmp_path / "odm"):
        counts = np.zeros(3, dtype=np.int64)
        for j, (steps, w) in enumerate(zip(record["block_steps"], record["block_weights"])):
            labels = block_skill_order(w, steps * g, cfg.seed, record["round"], j)
            counts += np.bincount(labels, minlength=3)
        assert list(record["delivered_samples"].values()) == counts.tolist()
