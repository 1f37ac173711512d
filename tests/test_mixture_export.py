"""A run's mixture exported as a config and read back by a new run."""

from __future__ import annotations

import json

import pytest
from conftest import run_history

from skillit.cli import main
from skillit.config import load_config
from skillit.errors import SkillitError
from skillit.export.mixture import average_of, export_mixture, schedule_of
from skillit.training import train

HISTORY = [
    {"round": 1, "step": 10, "weights": {"a": 0.5, "b": 0.5}},
    {"round": 2, "step": 20, "weights": {"a": 0.5, "b": 0.5}},
    {"round": 3, "step": 50, "weights": {"a": 0.2, "b": 0.8}},
]


def test_the_schedule_merges_equal_rounds_and_the_average_weighs_rounds_by_steps():
    skills, entries = schedule_of(HISTORY)
    assert skills == ["a", "b"] and entries == [(1, [0.5, 0.5]), (3, [0.2, 0.8])]
    _, mean = average_of(HISTORY)  # 20 steps at 0.5 and 30 steps at 0.2 for skill a
    assert mean == pytest.approx([(20 * 0.5 + 30 * 0.2) / 50, (20 * 0.5 + 30 * 0.8) / 50])


def test_the_update_average_is_doremis_equal_weight_mean_including_the_last_update(tmp_path):
    history = [dict(r) for r in HISTORY]
    history[-1]["next_weights"] = {"a": 0.1, "b": 0.9}
    _, mean = average_of(history, "updates")  # w_1, w_2, w_3 and w_4 equally
    assert mean == pytest.approx([(0.5 + 0.5 + 0.2 + 0.1) / 4, (0.5 + 0.5 + 0.8 + 0.9) / 4])
    (tmp_path / "mixture_history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))
    assert main(["mixture", "export", str(tmp_path), "--average", "updates"]) == 0
    cfg = load_config([tmp_path / "mixture_average.yaml"], [])
    assert cfg.mixing.weights == pytest.approx(mean)
    with pytest.raises(SkillitError, match="no next_weights"):
        average_of(HISTORY, "updates")


def test_the_exported_files_are_configs_that_read_back_as_the_manual_strategy(tmp_path):
    (tmp_path / "mixture_history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in HISTORY))
    paths = export_mixture(tmp_path)
    schedule = load_config([paths["schedule"]])
    assert schedule.mixing.strategy == "manual" and schedule.skills.train == ["a", "b"]
    assert [(e.start_round, e.weights) for e in schedule.mixing.schedule] == [
        (1, [0.5, 0.5]),
        (3, [0.2, 0.8]),
    ]
    average = load_config([paths["average"]])
    assert average.mixing.weights == pytest.approx(average_of(HISTORY)[1])


def test_a_folder_without_a_history_is_a_clear_error(tmp_path, capsys):
    assert main(["mixture", "export", str(tmp_path)]) == 2
    assert "no mixture_history.jsonl" in capsys.readouterr().err
    with pytest.raises(SkillitError, match="no mixture_history.jsonl"):
        export_mixture(tmp_path)


@pytest.mark.slow  # trains two tiny runs
def test_a_new_run_on_the_exported_schedule_trains_on_the_same_mixtures(
    tiny_config, run_config, tmp_path
):
    graph = "[[1.0,0.0,0.0],[0.5,1.0,0.0],[0.0,0.5,1.0]]"
    source = train(
        tiny_config(
            "mixing.strategy=skillit",
            f"mixing.graph.matrix={graph}",
            "mixing.skillit.eta=3.0",
            "mixing.rounds=3",
            "trainer.max_steps=12",
            "mixing.plots=false",
        )
    )
    paths = export_mixture(source.run_dir)
    follow = load_config(
        [paths["schedule"]],
        [
            f"run_dir={tmp_path / 'big'}",
            "data.lego.k=3",
            "data.lego.fmt=chain",
            "model.n_layer=2",
            "model.d_model=32",
            "model.n_head=2",
            "trainer.max_steps=24",
            "trainer.accelerator=cpu",
            "trainer.progress_bar=false",
            "logger.wandb=off",
            "mixing.plots=false",
            "data.lego.val_size=20",
        ],
    )
    train(follow)

    def weights(run_dir):
        return [h["weights"] for h in run_history(run_dir)]

    assert weights(tmp_path / "big") == weights(source.run_dir)
