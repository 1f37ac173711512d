"""The Python API: shipped names like the CLI, the same run as `skillit train`, as quiet."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_RUN

import skillit
from skillit.errors import SkillitError


def test_load_config_takes_shipped_names_paths_and_overrides(tmp_path):
    cfg = skillit.load_config("ordered", ["mixing.strategy=stratified"])
    assert cfg.name == "ordered-quickstart" and cfg.mixing.strategy == "stratified"
    path = tmp_path / "mine.yaml"
    path.write_text("seed: 7\n")
    assert skillit.load_config(["ordered", path]).seed == 7  # later files override earlier
    with pytest.raises(SkillitError, match="neither a config file nor a shipped config"):
        skillit.load_config("no_such_experiment")


def test_train_runs_as_the_cli_does_and_stays_quiet(tmp_path, capfd):
    cfg = skillit.load_config(
        [], [*TINY_RUN, "trainer.max_steps=4", "mixing.rounds=2", f"run_dir={tmp_path / 'run'}"]
    )
    result = skillit.train(cfg)
    out, err = capfd.readouterr()
    assert "GPU available" not in out + err and "LOCAL_RANK" not in out + err  # no banners
    assert "skillit: training on" in out
    final = json.loads((tmp_path / "run" / "final_eval.json").read_text())
    assert result.global_step == 4 and result.per_skill() == {
        s: {
            "loss": pytest.approx(final["eval_loss"][s]),
            "acc": pytest.approx(final["eval_acc"][s]),
        }
        for s in final["eval_loss"]
    }
    with pytest.raises(SkillitError, match="already holds a run"):
        skillit.train(cfg)  # a finished run is not overwritten unless asked
