"""`skillit graph`: help, flag errors, plotting, and one end-to-end learn -> Skill-It run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_GRAPH_YAML, normalised_exp, run_history

from skillit.cli import main

GRAPHS = Path(__file__).resolve().parents[1] / "configs" / "graphs"

TINY = TINY_GRAPH_YAML


@pytest.fixture
def tiny_yaml(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_graph_learn_help_names_the_methods_and_the_resume_behaviour(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["graph", "learn", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert (
        "{transfer,linear,brute}" in out
        and "--jobs" in out
        and "--warmup-steps" in out
        and "continue an interrupted run" in out
    )


def test_graph_learn_rejects_an_unknown_method_with_the_valid_choices(tiny_yaml, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["graph", "learn", str(tiny_yaml), "--method", "exact"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert re.search(
        r"invalid choice: 'exact' \(choose from '?transfer'?, '?linear'?, '?brute'?\)", err
    )


def test_graph_learn_bad_seed_count_is_a_one_line_error_naming_the_flag(tiny_yaml, capsys):
    rc = main(["graph", "learn", str(tiny_yaml), "--method", "linear", "--seeds", "0"])
    err = capsys.readouterr().err
    assert rc == 2 and "--seeds must be >= 1" in err and len(err.strip().splitlines()) == 1


def test_graph_learn_brute_force_out_of_domain_is_refused_before_training(
    tiny_yaml, tmp_path, capsys
):
    rc = main(
        [
            "graph",
            "learn",
            str(tiny_yaml),
            "skills.train=[lego1,lego2]",
            "skills.eval=[lego3]",
            "--method",
            "brute",
            "--out",
            str(tmp_path / "g"),
        ]
    )
    assert rc == 2 and "--method linear" in capsys.readouterr().err
    assert not (tmp_path / "g").exists()


def test_graph_plot_draws_a_paper_graph_as_png(tmp_path, capsys):
    out = tmp_path / "lego.png"
    assert main(["graph", "plot", str(GRAPHS / "lego_cpt.json"), "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_learned_graph_drives_a_skillit_run_unchanged(tiny_yaml, tmp_path):
    out = tmp_path / "graph"
    rc = main(
        [
            "graph",
            "learn",
            str(tiny_yaml),
            "--method",
            "linear",
            "--steps",
            "25",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    graph = json.loads((out / "graph.json").read_text())
    assert graph["train_skills"] == ["lego1", "lego2", "lego3"] and graph["method"] == "linear"
    assert len(list((out / "probes").glob("*.json"))) == 4  # the start model and 3 skills

    run = tmp_path / "run"
    rc = main(
        [
            "train",
            str(tiny_yaml),
            "mixing.strategy=skillit",
            "mixing.rounds=2",
            "mixing.skillit.eta=0.5",
            f"mixing.graph.path={out / 'graph.json'}",
            f"run_dir={run}",
        ]
    )
    assert rc == 0
    first = run_history(run)[0]
    a = np.array(graph["matrix"])
    expected = normalised_exp(0.5 * a.sum(axis=1))
    np.testing.assert_allclose(list(first["weights"].values()), expected, rtol=1e-9)


@pytest.mark.slow  # starts a W&B process
def test_heatmap_is_logged_as_a_wandb_image_offline(tmp_path, monkeypatch):
    from skillit.graph.io import load_graph
    from skillit.graph.plot import log_heatmap_to_wandb, plot_graph

    monkeypatch.chdir(tmp_path)
    png = plot_graph(load_graph(GRAPHS / "addition_cpt.json"), tmp_path / "g.png")
    log_heatmap_to_wandb(png, "offline", "skillit", "graph-test", tmp_path, {"method": "linear"})
    images = list((tmp_path / "wandb").glob("offline-run-*/files/media/images/graph/heatmap_*.png"))
    assert len(images) == 1


def test_graph_learn_without_a_method_runs_transfer_from_a_warmed_up_model(
    tiny_yaml, tmp_path, capsys
):
    out = tmp_path / "g"
    rc = main(
        ["graph", "learn", str(tiny_yaml), "--steps", "3", "--out", str(out), "--no-progress"]
    )
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["method"] == "transfer"
    assert summary["settings"]["warmup_steps"] == 12  # 4 x --steps
    # one control, 3 x 2 pairs, 3 skills removed alone: 10 probes of 3 steps, after the warm-up
    assert summary["probes"] == 10 and summary["training_steps"] == 12 + 10 * 3
    assert (out / "start" / "seed0.ckpt").is_file() and not any((out / "tmp").iterdir())
    assert "42 training steps in all" in capsys.readouterr().out
    graph = json.loads((out / "graph.json").read_text())
    assert graph["method"] == "transfer"


def test_graph_learn_takes_shipped_experiment_names_as_train_does():
    from types import SimpleNamespace

    from skillit.commands.graph import _learn_config_items
    from skillit.errors import SkillitError
    from skillit.utils.shipped import CONFIG_DIR

    files, overrides = _learn_config_items(
        SimpleNamespace(items=["domains_cpu", "seed=3"], seeds=1)
    )
    assert files == [CONFIG_DIR / "experiment" / "domains_cpu.yaml"] and overrides == ["seed=3"]
    files, _ = _learn_config_items(SimpleNamespace(items=["lego_chain"], seeds=1))
    assert files == [CONFIG_DIR / "graph_learn" / "lego_chain.yaml"]  # its own group first
    with pytest.raises(
        SkillitError, match="graph_learn: .*lego_chain.*; experiment: .*domains_cpu"
    ):
        _learn_config_items(SimpleNamespace(items=["nope"], seeds=1))
