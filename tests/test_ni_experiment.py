"""A short Skill-It run on the real Natural Instructions sample (skipped when it is absent)."""

from pathlib import Path

import pytest
from conftest import SHORT_QUIET_CPU, run_history

from skillit.config import load_config
from skillit.training import train

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow]


def test_a_short_spanish_qg_skillit_run_writes_its_mixture_history(tmp_path, natinst_root):
    cfg = load_config(
        [ROOT / "configs" / "experiment" / "ni_spanish_qg.yaml"],
        [
            f"run_dir={tmp_path / 'run'}",
            f"data.natinst.root={natinst_root}",
            f"data.natinst.cache_dir={tmp_path / 'cache'}",
            "data.natinst.vocab_size=2000",
            "model.d_model=64",
            "data.natinst.dev_size=20",
            "data.global_batch_size=4",
            *SHORT_QUIET_CPU,
        ],
    )
    result = train(cfg)
    history = run_history(tmp_path / "run")
    assert [h["round"] for h in history] == [1, 2, 3]
    assert set(history[0]["weights"]) == set(cfg.skills.train)
    assert list(history[-1]["eval_loss"]) == ["question_generation_spanish_spanish"]
    assert result.loss.shape == (1,) and result.loss[0] > 0
