"""SIGKILL at seeded random moments: `skillit prepare` rerun gives the same corpus, byte for byte,
and a training run with in-round checkpoints, resumed (or restarted when no checkpoint was
written yet), ends on the same trajectory as an uninterrupted one.

The child processes write checkpoints slowly (a pause before and after each `torch.save`), so
that some kills land inside a checkpoint write, the window where a half-written file could
replace the last good one.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_history

pytestmark = pytest.mark.slow

CHILD = """
import sys, time
import torch
_save = torch.save
def slow_save(*args, **kwargs):  # widen the window a kill can land in
    time.sleep(0.3)
    _save(*args, **kwargs)
    time.sleep(0.3)
torch.save = slow_save
from skillit.cli import main
sys.exit(main())
"""

TRAIN = (
    "data.source=lego data.lego.k=3 data.lego.fmt=chain data.lego.answer_loss=all "
    "data.lego.val_size=20 data.global_batch_size=16 data.eval_batch_size=64 model.n_layer=1 "
    "model.n_head=2 model.d_model=32 model.max_seq_len=64 trainer.accelerator=cpu "
    "trainer.threads=1 trainer.progress_bar=false logger.wandb=off logger.csv=false "
    "mixing.plots=false trainer.max_steps=24 mixing.rounds=3 trainer.checkpoint_every=3 "
    "mixing.strategy=skillit mixing.skillit.eta=5.0 "
    "mixing.graph.matrix=[[1,0,0],[0.5,1,0],[0,0.5,1]]"
).split()


def skillit(args: list[str], cwd: Path, kill_after: float | None = None) -> int | None:
    """Run `skillit ARGS` in a child; with `kill_after`, SIGKILL it then (None: it was killed)."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if kill_after is None:
        _, err = child.communicate(timeout=600)
        assert child.returncode in (0, 2), err[-2000:]
        if child.returncode == 2:  # a refusal must be one clear line, never a traceback
            assert "Traceback" not in err and "error:" in err, err[-2000:]
        return child.returncode
    try:
        child.wait(timeout=kill_after)
        return child.returncode  # finished before the kill
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
        child.wait()
        return None


@pytest.mark.parametrize("seed", [0])
def test_a_training_run_killed_at_random_moments_ends_on_the_same_trajectory(tmp_path, seed):
    full = tmp_path / "full"
    assert skillit(["train", *TRAIN, f"run_dir={full}"], tmp_path) == 0
    cut = tmp_path / "cut"
    rng = np.random.default_rng(seed)
    start = ["train", *TRAIN, f"run_dir={cut}"]
    command, finished = start, False
    for kill_after in rng.uniform(2.0, 7.0, size=3):
        if skillit(command, tmp_path, kill_after=float(kill_after)) == 0:
            finished = True
            break
        if (cut / "checkpoints" / "last.ckpt").is_file():
            command = ["train", "--resume", str(cut)]
        else:  # killed before its first checkpoint: nothing to resume, start again
            assert skillit(["train", "--resume", str(cut)], tmp_path) == 2
            command = [*start, "--overwrite"]
    if not finished:
        assert skillit(command, tmp_path) == 0
    a, b = run_history(full), run_history(cut)
    assert [r["round"] for r in b] == [1, 2, 3]
    for ra, rb in zip(a, b):
        for key in ("weights", "next_weights", "eval_loss"):
            np.testing.assert_allclose(
                list(ra[key].values()), list(rb[key].values()), rtol=1e-6, err_msg=key
            )
    final_a = json.loads((full / "final_eval.json").read_text())
    final_b = json.loads((cut / "final_eval.json").read_text())
    assert final_a["global_step"] == final_b["global_step"] == 24
    assert not list((cut / "checkpoints").glob("*.tmp"))  # no half-written file left behind


def corpus_inputs(root: Path) -> Path:
    rng = np.random.default_rng(0)
    words = ["stone", "river", "cloud", "ember", "moss", "quartz", "fern", "delta", "tide"]
    folder = root / "texts"
    folder.mkdir()
    for i in range(1500):
        (folder / f"doc{i:04d}.txt").write_text(" ".join(rng.choice(words, size=60)))
    return folder


def corpus_bytes(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.suffix in (".bin", ".json") and p.name != "prepare.json"
    }


@pytest.mark.parametrize("seed", [0])
def test_prepare_killed_at_random_moments_reruns_to_the_same_corpus(tmp_path, seed):
    texts = corpus_inputs(tmp_path)
    args = ["--domain", f"prose={texts}", "--bpe-vocab", "300", "--docs-per-shard", "50"]
    assert skillit(["prepare", str(tmp_path / "whole"), *args, "--no-progress"], tmp_path) == 0
    cut = tmp_path / "cut"
    rng = np.random.default_rng(seed)
    for kill_after in rng.uniform(1.5, 4.0, size=3):
        if skillit(["prepare", str(cut), *args], tmp_path, kill_after=float(kill_after)) == 0:
            break
        time.sleep(0.1)
    assert skillit(["prepare", str(cut), *args, "--no-progress"], tmp_path) == 0
    assert corpus_bytes(cut) == corpus_bytes(tmp_path / "whole")
