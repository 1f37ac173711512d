"""`skillit runs`, `skillit compare` and `skillit eval`: what they print is what the run
directories hold."""

from __future__ import annotations

import json
import os

import pytest
from conftest import TINY_RUN

from skillit.cli import main
from skillit.run.directory import _start_time

STEPS = ("trainer.max_steps=8", "mixing.rounds=2")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two strategies x two seeds of the tiny LEGO run, trained through the CLI."""
    root = tmp_path_factory.mktemp("runs")
    for strategy in ("random", "stratified"):
        for seed in (0, 1):
            run = root / f"{strategy}-{seed}"
            args = [*TINY_RUN, *STEPS, f"mixing.strategy={strategy}", f"seed={seed}"]
            assert main(["train", *args, f"run_dir={run}"]) == 0
    return root


def final_mean(run) -> float:
    acc = json.loads((run / "final_eval.json").read_text())["eval_acc"]
    return sum(acc.values()) / len(acc)


def test_runs_lists_each_run_with_its_strategy_steps_status_and_final_mean(runs, capsys):
    assert main(["runs", str(runs)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["run", "strategy", "seed", "steps", "status", "final", "mean"]
    assert len(lines) == 5
    for line in lines[1:]:
        path, strategy, seed, steps, status, metric, mean = line.split()
        assert path.endswith(f"{strategy}-{seed}")
        assert (steps, status, metric) == ("8/8", "finished", "acc")
        assert mean == f"{100 * final_mean(runs / f'{strategy}-{seed}'):.1f}%"


def test_runs_tells_a_running_a_stopped_and_an_unreadable_run_apart(runs, tmp_path, capsys):
    import shutil

    for name in ("running", "stopped", "broken"):
        shutil.copytree(runs / "random-0", tmp_path / name)
    (tmp_path / "running" / "run.lock").write_text(f"{os.getpid()} {_start_time(os.getpid())}\n")
    (tmp_path / "stopped" / "final_eval.json").unlink()
    (tmp_path / "broken" / "config.yaml").write_text("seed: [unclosed\n")
    assert main(["runs", str(tmp_path)]) == 0
    status = {
        line.split()[0].rsplit("/", 1)[1]: line.split()[4]
        for line in capsys.readouterr().out.splitlines()[1:]
    }
    assert status == {"broken": "unreadable", "running": "running", "stopped": "stopped"}


def test_compare_prints_per_skill_finals_and_the_paired_difference_over_shared_seeds(runs, capsys):
    dirs = [str(runs / f"{s}-{seed}") for s in ("stratified", "random") for seed in (0, 1)]
    assert main(["compare", *dirs]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:3] == ["run", "strategy", "seed"] and header[-1] == "mean"
    assert len(header) == 4 + len(
        json.loads((runs / "random-0" / "final_eval.json").read_text())["eval_acc"]
    )
    diffs = [
        final_mean(runs / f"stratified-{s}") - final_mean(runs / f"random-{s}") for s in (0, 1)
    ]
    expected = 100 * sum(diffs) / 2
    assert f"stratified - random, mean acc over 2 shared seeds: {expected:+.2f} points" in out


def test_compare_refuses_a_run_that_has_not_finished(runs, tmp_path, capsys):
    import shutil

    shutil.copytree(runs / "random-0", tmp_path / "stopped")
    (tmp_path / "stopped" / "final_eval.json").unlink()
    assert main(["compare", str(runs / "random-0"), str(tmp_path / "stopped")]) == 2
    assert "not finished runs" in capsys.readouterr().err


def test_eval_scores_a_finished_run_on_skills_and_names_unknown_ones(runs, capsys):
    run = runs / "random-0"
    skills = list(json.loads((run / "final_eval.json").read_text())["eval_acc"])
    assert main(["eval", str(run), "--skills", skills[0]]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[0] == skills[0]
    cached = json.loads((run / "extra_eval.json").read_text())["skills"][skills[0]]
    assert out[1].split()[1] == f"{cached['loss']:.4f}"
    assert main(["eval", str(run), "--skills", "no_such_skill"]) == 2
    assert "the source has no skills ['no_such_skill']" in capsys.readouterr().err
