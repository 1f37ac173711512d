"""Paths a run was started with survive a resume from another working directory, and a resume of
a run whose saved config was edited is refused, naming the keys."""

from __future__ import annotations

import json

import pytest
from conftest import kill_at

from skillit.cli import main

pytestmark = pytest.mark.slow  # short runs, started and resumed

GRAPH = {
    "format": "skillit-graph",
    "train_skills": ["lego1", "lego2", "lego3"],
    "matrix": [[1, 0, 0], [0.5, 1, 0], [0, 0.5, 1]],
}


def start_and_stop(run_config, run_dir, *overrides):
    from skillit.training import train

    cfg = run_config(
        run_dir, "trainer.max_steps=8", "mixing.rounds=2", "mixing.plots=false", *overrides
    )
    with pytest.raises(KeyboardInterrupt):
        train(cfg, extra_callbacks=[kill_at(round_number=2, at_round_start=True)])


def test_a_relative_graph_path_given_on_the_command_line_survives_a_resume_elsewhere(
    run_config, tmp_path, monkeypatch
):
    started, elsewhere = tmp_path / "started_here", tmp_path / "elsewhere"
    started.mkdir(), elsewhere.mkdir()
    (started / "g.json").write_text(json.dumps(GRAPH))
    monkeypatch.chdir(started)
    run_dir = tmp_path / "run"
    start_and_stop(run_config, run_dir, "mixing.strategy=skillit", "mixing.graph.path=g.json")
    monkeypatch.chdir(elsewhere)
    assert main(["train", "--resume", str(run_dir)]) == 0
    assert (run_dir / "final_eval.json").is_file()


def test_a_resume_of_an_edited_config_is_refused_naming_the_changed_keys(
    run_config, tmp_path, capsys
):
    run_dir = tmp_path / "run"
    start_and_stop(run_config, run_dir, "optim.lr=0.001")
    saved = run_dir / "config.yaml"
    saved.write_text(saved.read_text().replace("lr: 0.001", "lr: 0.005"))
    history = (run_dir / "mixture_history.jsonl").read_text()
    assert main(["train", "--resume", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "optim.lr" in err and "edited" in err
    assert (run_dir / "mixture_history.jsonl").read_text() == history  # nothing written
    assert not (run_dir / "resumes.jsonl").exists()
