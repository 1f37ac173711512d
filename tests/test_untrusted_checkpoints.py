"""A crafted checkpoint runs no code through any entry point that reads one: --resume,
model.init_from, mixing.doremi.reference, mixing.curriculum_reference and `skillit eval`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from skillit.errors import SkillitError


class RunsCode:
    """Unpickling this calls os.system: what a hostile .ckpt can do with pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def crafted(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"network.w": RunsCode(marker)}, "global_step": 1}, path)
    return path, marker


def test_the_loader_refuses_the_file_and_nothing_runs(crafted):
    from skillit.run.checkpoints import read_checkpoint
    from skillit.utils.safe_load import load_weights_only

    path, marker = crafted
    for load in (load_weights_only, read_checkpoint):
        with pytest.raises(SkillitError, match="loads weights only"):
            load(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        ["model.init_from={ckpt}"],
        ["mixing.strategy=doremi", "mixing.doremi.reference={ckpt}"],
        ["mixing.strategy=curriculum", "mixing.curriculum_reference={ckpt}"],
    ],
    ids=["init_from", "doremi_reference", "curriculum_reference"],
)
def test_no_config_key_that_names_a_checkpoint_runs_its_code(
    crafted, run_config, tmp_path, overrides
):
    from skillit.training import train

    path, marker = crafted
    cfg = run_config(tmp_path / "run", *[o.format(ckpt=path) for o in overrides])
    with pytest.raises(SkillitError, match="loads weights only"):
        train(cfg)
    assert not marker.exists()


def test_resume_and_scoring_refuse_a_crafted_checkpoint_before_anything_else(
    crafted, run_config, tmp_path
):
    from skillit.cli import main
    from skillit.config import config_to_yaml
    from skillit.run.evaluate import evaluate_run

    path, marker = crafted
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.yaml").write_text(config_to_yaml(run_config(run_dir)))
    os.replace(path, run_dir / "checkpoints" / "last.ckpt")
    assert main(["train", "--resume", str(run_dir)]) == 2
    with pytest.raises(SkillitError, match="loads weights only"):
        evaluate_run(run_dir, ["lego1"])  # the scoring of finished runs (bench, graph learning)
    assert not marker.exists()
