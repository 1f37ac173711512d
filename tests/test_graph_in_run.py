"""mixing.graph.learn: the graph learned at the start of a run, into RUN/graph/, is the graph the
run trains with; its cost is reported beside the run's steps; a run stopped while it learns goes
on from its finished probes with --resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY_RUN
from test_kill_points import skillit

from skillit.cli import main
from skillit.config import GRAPH_LEARN_METHODS, load_config
from skillit.errors import SkillitError
from skillit.graphlearn.probes import METHODS

LEARN = [
    *TINY_RUN,
    "trainer.max_steps=12",
    "mixing.rounds=3",
    "mixing.strategy=skillit",
    "mixing.graph.learn=linear",
    "mixing.graph.learn_steps=4",
]


def finals(run: Path) -> tuple[dict, list]:
    history = [
        json.loads(line) for line in (run / "mixture_history.jsonl").read_text().splitlines()
    ]
    return json.loads((run / "final_eval.json").read_text()), [h["weights"] for h in history]


@pytest.fixture(scope="module")
def learned(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("learned") / "run"
    assert main(["train", f"run_dir={run}", *LEARN]) == 0
    return run


@pytest.mark.slow
def test_the_run_trains_with_the_graph_it_learned_and_reports_its_cost(learned, tmp_path):
    graph = learned / "graph" / "graph.json"
    summary = json.loads((learned / "graph" / "summary.json").read_text())
    final, weights = finals(learned)
    assert final["graph_learning_steps"] == summary["training_steps"] > 0
    assert final["global_step"] == 12  # the probes' steps are not the run's
    # the same run reading that graph from a file: the same mixtures and the same model
    same = tmp_path / "same"
    overrides = [o for o in LEARN if not o.startswith("mixing.graph.learn")]
    assert main(["train", f"run_dir={same}", *overrides, f"mixing.graph.path={graph}"]) == 0
    same_final, same_weights = finals(same)
    assert weights == same_weights and final["eval_loss"] == same_final["eval_loss"]
    assert len({tuple(w.values()) for w in weights}) > 1  # the mixture moved with the graph


@pytest.mark.slow
def test_a_run_stopped_while_learning_its_graph_resumes_from_its_probes(learned, tmp_path):
    run = tmp_path / "run"
    assert skillit(["train", f"run_dir={run}", *LEARN], tmp_path, "graph.probe:2") == -9
    assert not (run / "graph" / "graph.json").exists()
    kept = sorted(p.name for p in (run / "graph" / "probes").iterdir())
    assert kept
    assert skillit(["train", "--resume", str(run)], tmp_path) == 0
    assert sorted(p.name for p in (run / "graph" / "probes").iterdir())[: len(kept)] == kept
    assert (run / "graph" / "graph.json").read_bytes() == (
        learned / "graph" / "graph.json"
    ).read_bytes()
    assert finals(run) == finals(learned)


def test_a_strategy_that_reads_no_graph_learns_none_and_a_bad_learn_setting_is_refused():
    # an experiment that learns its graph for Skill-It runs the baselines without learning one
    for strategy, setting in (("stratified", "continual_pretraining"), ("random", "fine_tuning")):
        cfg = load_config([], [*LEARN, f"mixing.strategy={strategy}", f"mixing.setting={setting}"])
        assert cfg.mixing.graph.learn is None
    # stratified samples the targets' prerequisites from the graph outside pre-training
    cfg = load_config(
        [],
        [*LEARN, "mixing.strategy=stratified", "mixing.setting=fine_tuning", "skills.eval=[lego3]"],
    )
    assert cfg.mixing.graph.learn == "linear"
    # a graph given wins over the one an experiment would learn
    given = load_config([], ["mixing.graph.learn=linear", "mixing.graph.path=g.json"])
    assert given.mixing.graph.learn is None and given.mixing.graph.path.endswith("g.json")
    with pytest.raises(SkillitError, match=r"mixing.graph.learn must be one of"):
        load_config([], ["mixing.graph.learn=guess"])
    assert GRAPH_LEARN_METHODS == METHODS  # the config's list is the learner's


@pytest.mark.slow
def test_the_bench_learns_a_runs_graph_as_train_does(learned, tmp_path, capsys):
    """`skillit bench` trains a strategy that sets mixing.graph.learn as `skillit train` does:
    the same graph, mixtures, model and reported cost; the bench's runner alone refuses it."""
    suite, base = tmp_path / "learn.yaml", tmp_path / "defaults.yaml"
    base.write_text("{}\n")  # the defaults, as `skillit train` without an experiment
    seed_free = [o for o in LEARN if not o.startswith("seed=")]
    suite.write_text(
        f"description: a run that learns its graph\nconfig: {base}\n"
        f"overrides: [{', '.join(seed_free)}]\nsteps: 12\nseeds: [0]\n"
        "target: {metric: loss, value: 100.0}\nstrategies:\n  skillit: [mixing.strategy=skillit]\n"
    )
    out = tmp_path / "out"
    assert main(["bench", str(suite), "--out", str(out), "--no-plots", "--no-progress"]) == 0
    run = out / "runs" / "skillit" / "seed0"
    assert (run / "graph" / "graph.json").read_bytes() == (
        learned / "graph" / "graph.json"
    ).read_bytes()
    (final, weights), (same_final, same_weights) = finals(run), finals(learned)
    assert weights == same_weights and final["eval_loss"] == same_final["eval_loss"]
    assert final["graph_learning_steps"] == same_final["graph_learning_steps"] > 0

    from skillit.bench import load_suite
    from skillit.bench.runner import run_suite

    with pytest.raises(SkillitError, match="cannot learn"):
        run_suite(load_suite(str(suite)), tmp_path / "plain", progress=False, plots=False)
