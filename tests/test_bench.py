"""`skillit bench`: a tiny suite end to end, skipping finished runs, and clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from skillit.bench import load_suite, parse_seeds
from skillit.bench.report import steps_to_target
from skillit.bench.runner import run_suite
from skillit.bench.suite import Target, available_suites
from skillit.cli import main
from skillit.errors import SkillitError

REPO = Path(__file__).resolve().parents[1]
TINY_RUN = [
    "logger.wandb=off",
    "logger.csv=false",
    "mixing.plots=false",
    "mixing.rounds=2",
    "data.global_batch_size=8",
    "data.eval_batch_size=64",
    "data.lego.val_size=8",
    "model.n_layer=1",
    "model.d_model=16",
    "model.n_head=2",
    "trainer.accelerator=cpu",
]


def write_tiny_suite(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    lines = [
        "description: tiny LEGO suite for tests",
        f"config: {REPO / 'configs/experiment/lego.yaml'}",
        "overrides: [" + ", ".join(TINY_RUN) + "]",
        "steps: 4",
        "seeds: 2",
        "target: {metric: loss, value: 100.0}",
        "strategies:",
        "  random: [mixing.strategy=random]",
        "  stratified: [mixing.strategy=stratified]",
        "variants:",
        "  longer: {steps: 6, seeds: [0]}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    suite_file = write_tiny_suite(tmp)
    out = tmp / "out"
    first = run_suite(load_suite(str(suite_file)), out, jobs=1, progress=False)
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*/final_eval.json")}
    second = run_suite(load_suite(str(suite_file)), out, jobs=1, progress=False)
    return {
        "suite_file": suite_file,
        "out": out,
        "first": first,
        "second": second,
        "mtimes": mtimes,
    }


@pytest.mark.slow  # trains the tiny suite
def test_tiny_suite_writes_results_json_with_every_strategy_and_seed(tiny_bench):
    results = json.loads((tiny_bench["out"] / "results.json").read_text())
    assert set(results["strategies"]) == {"random", "stratified"}
    for entry in results["strategies"].values():
        assert entry["seeds"] == [0, 1]
        assert set(entry["per_skill"]) == {f"lego{i}" for i in range(1, 6)}
        mean, std = entry["mean"]["acc"]
        assert 0.0 <= mean <= 1.0 and std >= 0.0
        # A loss target of 100 is met at the first round end (step 2 of 4).
        assert entry["steps_to_target"]["per_seed"] == [2, 2]
    assert len(results["runs"]) == 4 and all(r["global_step"] == 4 for r in results["runs"])


@pytest.mark.slow  # trains the tiny suite
def test_tiny_suite_writes_a_markdown_row_per_strategy(tiny_bench):
    table = (tiny_bench["out"] / "results.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith(("| random", "| stratified"))]
    assert len(rows) == 4  # accuracy table and loss table
    assert "±" in rows[0] and "lego5" in table


@pytest.mark.slow  # trains the tiny suite
def test_tiny_suite_writes_curve_and_mixture_plots(tiny_bench):
    for name in ("curves_acc.png", "curves_loss.png", "mixtures.png"):
        path = tiny_bench["out"] / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # trains the tiny suite
def test_rerun_skips_finished_runs(tiny_bench):
    assert len(tiny_bench["first"]["ran"]) == 4 and tiny_bench["first"]["skipped"] == []
    assert tiny_bench["second"]["ran"] == [] and len(tiny_bench["second"]["skipped"]) == 4
    after = {p: p.stat().st_mtime_ns for p in tiny_bench["out"].glob("runs/*/*/final_eval.json")}
    assert after == tiny_bench["mtimes"] and len(after) == 4


@pytest.mark.slow  # trains one tiny run
def test_a_call_for_some_strategies_and_more_seeds_keeps_earlier_runs_in_the_tables(
    tiny_bench, tmp_path
):
    out = tmp_path / "out"
    shutil.copytree(tiny_bench["out"], out)
    # a finished run trained with other settings is left out of the tables, not counted
    recipe = out / "runs" / "stratified" / "seed1" / "bench_run.json"
    recipe.write_text(json.dumps({"config": "other.yaml", "overrides": []}))
    suite_file = str(tiny_bench["suite_file"])
    args = ["--seeds", "1-2", "--strategies", "random", "--no-progress", "--no-plots"]
    assert main(["bench", suite_file, *args, "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["strategies"]["random"]["seeds"] == [0, 1, 2]
    assert results["strategies"]["stratified"]["seeds"] == [0]
    assert [p.parts[-3] for p in out.glob("runs/*/seed2/final_eval.json")] == ["random"]


@pytest.mark.slow  # trains the tiny suite
def test_interrupted_run_is_trained_again(tiny_bench, tmp_path):
    out = tmp_path / "out"
    suite = load_suite(str(tiny_bench["suite_file"]))
    suite.strategies = {"random": suite.strategies["random"]}
    suite.seeds = [0]
    cut = out / "runs" / "random" / "seed0"
    cut.mkdir(parents=True)
    from skillit.run.directory import RUN_LAYOUT
    from skillit.utils.safe_paths import claim_names

    claim_names(cut, RUN_LAYOUT)  # recorded first, as a run does
    (cut / "mixture_history.jsonl").write_text('{"round": 1}\n')  # a run killed mid-way
    results = run_suite(suite, out, jobs=1, progress=False, plots=False)
    assert [r["seed"] for r in results["ran"]] == [0]
    assert (cut / "final_eval.json").is_file()


@pytest.mark.slow  # trains the tiny suite
def test_rerun_with_other_settings_into_same_out_is_refused(tiny_bench, capsys):
    code = main(
        [
            "bench",
            str(tiny_bench["suite_file"]),
            "--steps",
            "5",
            "--out",
            str(tiny_bench["out"]),
            "--no-progress",
            "--no-plots",
        ]
    )
    assert code == 2
    assert "--out" in capsys.readouterr().err


def test_unknown_suite_name_lists_available_suites(capsys):
    assert main(["bench", "no-such-suite"]) == 2
    err = capsys.readouterr().err
    assert "unknown suite 'no-such-suite'" in err and "lego-cpt" in err


@pytest.mark.slow  # trains the tiny suite
def test_unknown_strategy_flag_names_valid_strategies(tiny_bench, capsys):
    assert main(["bench", str(tiny_bench["suite_file"]), "--strategies", "random,bogus"]) == 2
    err = capsys.readouterr().err
    assert "--strategies" in err and "bogus" in err and "stratified" in err


@pytest.mark.slow  # trains the tiny suite
def test_unknown_variant_names_available_variants(tiny_bench, capsys):
    assert main(["bench", str(tiny_bench["suite_file"]), "--variant", "gpu"]) == 2
    err = capsys.readouterr().err
    assert "--variant" in err and "longer" in err


@pytest.mark.slow  # trains the tiny suite
def test_bad_jobs_flag_is_a_clear_error(tiny_bench, capsys):
    assert main(["bench", str(tiny_bench["suite_file"]), "--jobs", "0"]) == 2
    assert "--jobs must be >= 1" in capsys.readouterr().err


@pytest.mark.slow  # trains the tiny suite
def test_bad_seeds_flag_is_a_clear_error(tiny_bench, capsys):
    assert main(["bench", str(tiny_bench["suite_file"]), "--seeds", "a,b"]) == 2
    assert "--seeds must look like" in capsys.readouterr().err


@pytest.mark.slow  # trains the tiny suite
def test_variant_replaces_steps_and_seeds(tiny_bench):
    suite = load_suite(str(tiny_bench["suite_file"]), "longer")
    assert (suite.steps, suite.seeds, suite.label) == (6, [0], "tiny-longer")


def test_parse_seeds_accepts_count_list_and_range():
    assert parse_seeds(3, "--seeds") == [0, 1, 2]
    assert parse_seeds("0,4", "--seeds") == [0, 4]
    assert parse_seeds("2-4", "--seeds") == [2, 3, 4]
    assert parse_seeds("0-0", "--seeds") == [0]


def test_steps_to_target_is_first_round_end_meeting_it():
    history = [
        {"step": 10, "eval_acc": {"a": 0.5, "b": 0.9}},
        {"step": 20, "eval_acc": {"a": 0.9, "b": 1.0}},
        {"step": 30, "eval_acc": {"a": 1.0, "b": 1.0}},
    ]
    assert steps_to_target(history, Target("acc", 0.95)) == 20
    assert steps_to_target(history, Target("acc", 0.95, ("a",))) == 30
    assert steps_to_target(history, Target("acc", 1.01)) is None


def test_every_shipped_suite_and_variant_loads():
    names = available_suites()
    assert {
        "lego-cpt",
        "addition-cpt",
        "lego-ft",
        "addition-ft",
        "ni-spanish-qg",
        "ni-stance",
        "ni-ood",
    } <= set(names)
    paper_settings = {"lego-cpt", "addition-cpt", "lego-ft", "addition-ft"}
    paper_settings |= {"ni-spanish-qg", "ni-stance", "ni-ood"}
    assert {"ordered-cpt", "ordered-ft", "lego-query"} <= set(names)
    for name in names:
        suite = load_suite(name)
        assert suite.strategies
        assert ("paper" in suite.variants) == (name in paper_settings)
        for variant in suite.variants:
            assert load_suite(name, variant).steps >= suite.steps


@pytest.mark.slow  # trains the tiny suite
def test_parallel_jobs_give_the_same_results_as_serial(tiny_bench, tmp_path):
    suite = load_suite(str(tiny_bench["suite_file"]))
    suite.strategies = {"random": suite.strategies["random"]}
    parallel = run_suite(suite, tmp_path / "out", jobs=2, progress=False, plots=False)
    serial = json.loads((tiny_bench["out"] / "results.json").read_text())
    assert sorted(r["seed"] for r in parallel["ran"]) == [0, 1]

    def losses(results):
        return {r["seed"]: r["final_loss"] for r in results["runs"] if r["strategy"] == "random"}

    assert losses(parallel) == losses(serial)


@pytest.mark.parametrize(
    "body, message",
    [
        ("steps: 3\nbogus: 1\n", r"suite file .*bad\.yaml: key 'bogus'"),
        ("", r"key 'steps' is required.*bad\.yaml"),
        ("steps: three\n", r"bad\.yaml: key 'steps'.*three"),
        ("steps: 3\nvariants: {gpu: {stepz: 1}}\n", r"bad\.yaml: key 'variants.gpu.stepz'"),
    ],
)
def test_suite_file_errors_name_the_file_and_the_key(tmp_path, body, message):
    (tmp_path / "run.yaml").write_text("name: x\n")
    suite = tmp_path / "bad.yaml"
    suite.write_text("config: run.yaml\nstrategies: {a: [mixing.strategy=random]}\n" + body)
    with pytest.raises(SkillitError, match=message):
        load_suite(str(suite))


@pytest.mark.slow  # trains one short run
def test_steps_that_the_suites_eval_interval_does_not_divide_evaluate_at_round_ends(
    tmp_path, capsys
):
    args = ["bench", "lego-cpt", "--steps", "120", "--seeds", "0-0", "--strategies", "random"]
    assert main([*args, "--no-progress", "--no-plots", "--out", str(tmp_path)]) == 0
    assert "evaluating at round ends only" in capsys.readouterr().err
    history = (tmp_path / "runs" / "random" / "seed0" / "mixture_history.jsonl").read_text()
    assert len(history.splitlines()) == 6


def test_a_strategy_can_name_another_strategys_run_of_the_same_seed(tmp_path):
    from skillit.bench.runner import plan_runs

    suite = load_suite(str(write_tiny_suite(tmp_path)))
    suite.strategies["doremi"] = [
        "mixing.strategy=doremi",
        "mixing.doremi.reference={run:stratified}/checkpoints/last.ckpt",
    ]
    specs = {(s.strategy, s.seed): s for s in plan_runs(suite, tmp_path / "out")}
    for seed in (0, 1):
        doremi, stratified = specs["doremi", seed], specs["stratified", seed]
        assert doremi.after == (stratified.run_dir,)
        assert f"mixing.doremi.reference={stratified.run_dir}/checkpoints/last.ckpt" in (
            doremi.overrides
        )
        assert not doremi.ready and specs["random", seed].after == ()
    suite.strategies["doremi"] = ["mixing.doremi.reference={run:nope}/last.ckpt"]
    with pytest.raises(SkillitError, match=r"\{run:nope\} must name another strategy"):
        plan_runs(suite, tmp_path / "out")


def test_a_suite_can_draw_numerics_variants_of_one_seed_instead_of_seeds(tmp_path):
    """seed_key: model.init_jitter_seed: each of `seeds` sets the jitter draw, and the run's seed
    stays the one its overrides give; an unknown key is refused."""
    from skillit.bench.runner import plan_runs

    path = write_tiny_suite(tmp_path)
    text = path.read_text()
    path.write_text(text + "seed_key: model.init_jitter_seed\n")
    specs = plan_runs(load_suite(str(path)), tmp_path / "out")
    assert specs and all(f"model.init_jitter_seed={s.seed}" in s.overrides for s in specs)
    assert not any(o.startswith("seed=") for s in specs for o in s.overrides)
    path.write_text(text + "seed_key: data.compose.world\n")
    with pytest.raises(SkillitError, match="seed_key must be one of"):
        load_suite(str(path))


@pytest.mark.slow  # trains a tiny suite of 4 runs, two of them after the other two
def test_a_run_that_needs_another_run_waits_for_it_even_with_parallel_jobs(tmp_path):
    from skillit.bench.runner import execute, plan_runs

    suite = load_suite(str(write_tiny_suite(tmp_path)))
    suite.strategies = {
        "doremi": [
            "mixing.strategy=doremi",
            "mixing.doremi.reference={run:stratified}/checkpoints/last.ckpt",
        ],
        "stratified": ["mixing.strategy=stratified"],
    }
    specs = plan_runs(suite, tmp_path / "out")
    done = execute(specs, jobs=2, progress=False)
    order = [(r["strategy"], r["seed"]) for r in done["ran"]]
    for seed in (0, 1):
        assert order.index(("stratified", seed)) < order.index(("doremi", seed))
    with pytest.raises(SkillitError, match="needs the finished run"):
        execute(plan_runs(suite, tmp_path / "other")[:2], jobs=1, progress=False)  # doremi only


def test_a_relative_path_in_a_suites_overrides_is_relative_to_the_suite_file(tmp_path):
    path = write_tiny_suite(tmp_path)
    text = path.read_text().replace(
        "  random: [mixing.strategy=random]",
        "  random: [mixing.strategy=random, mixing.graph.path=graphs/g.json, seed=3]",
    )
    path.write_text(text)
    suite = load_suite(str(path))
    assert (
        suite.strategies["random"][1]
        == f"mixing.graph.path={(tmp_path / 'graphs/g.json').resolve()}"
    )
    assert suite.strategies["random"][2] == "seed=3"


def test_a_corpus_suite_reports_loss_and_perplexity_not_accuracy():
    from skillit.bench.report import markdown_table

    entry = {
        "per_skill": {d: {"acc": [0.0, 0.0], "loss": [5.0, 0.1]} for d in ("web", "code")},
        "mean": {"acc": [0.0, 0.0], "loss": [5.0, 0.1]},
        "steps_to_target": {"per_seed": [None], "reached": 0, "runs": 1, "mean_std": None},
    }
    results = {
        "suite": "s",
        "variant": "default",
        "steps": 10,
        "seeds": [0],
        "target": {"metric": "loss", "description": "mean loss <= 1"},
        "strategies": {"stratified": entry},
        "corpus": True,
    }
    table = markdown_table(results)
    assert "| mean loss | ppl |" in table and "acc" not in table
    assert "148.4" in table  # exp(5.0)
    assert "mean acc" in markdown_table({**results, "corpus": False})


def test_one_seed_prints_means_without_a_spread_or_an_interval():
    from skillit.bench.report import markdown_table, mean_std, paired_table

    assert mean_std([0.5]) == [0.5, None] and mean_std([0.5, 0.7])[1] is not None
    entry = {
        "per_skill": {s: {"acc": mean_std([0.9]), "loss": mean_std([0.2])} for s in ("a", "b")},
        "mean": {"acc": mean_std([0.9]), "loss": mean_std([0.2])},
        "steps_to_target": {"per_seed": [40], "reached": 1, "runs": 1, "mean_std": mean_std([40])},
    }
    results = {
        "suite": "s",
        "variant": "default",
        "steps": 100,
        "seeds": [0],
        "target": {"metric": "acc", "description": "mean acc >= 0.8"},
        "strategies": {"stratified": entry, "skillit": entry},
        "curves": {"strategies": {}, "at": [], "pairs": {}},
    }
    table = markdown_table(results)
    assert "90.0" in table and "±" not in table
    one = {"mean": 0.01, "ci95": [0.01, 0.01], "wins": 1, "n": 1}
    metrics = {"acc@1": mean_std([0.9]), "auc": mean_std([0.5])}
    metrics |= {"reached_target": mean_std([1.0]), "steps_to_target": mean_std([40.0])}
    ratio = {"ratio": 1.0, "candidate_reached": 1, "baseline_reached": 1, "n": 1}
    paired = {
        "skills": [],
        "at": [1.0],
        "metrics": {"stratified": metrics, "skillit": metrics},
        "pairs": {"skillit - stratified": {"acc@1": one, "auc": one, "steps_ratio": ratio}},
    }
    for name in ("stratified", "skillit"):
        results["strategies"][name] = {**entry, "seeds": [0]}
    text = paired_table({**results, "paired": paired})
    assert "(one seed: no interval)" in text and "[+1.0, +1.0]" not in text
    assert "±" not in text


def test_a_run_whose_dependency_finished_starts_before_later_strategies(tmp_path, monkeypatch):
    """With parallel jobs, a freed slot goes to the first ready run in suite order: a run that
    waited on another starts as soon as it may, not after every run that was ready earlier."""
    from concurrent.futures import Future

    import skillit.bench.runner as runner
    from skillit.run.directory import FINAL_FILE

    started = []

    def fake_run_one(spec, graph_learner=None):
        started.append((spec.strategy, spec.seed))
        Path(spec.run_dir).mkdir(parents=True)
        (Path(spec.run_dir) / FINAL_FILE).write_text("{}")
        return {"strategy": spec.strategy, "seed": spec.seed, "seconds": 0.0, "global_step": 0}

    class InlinePool:  # runs each submitted run at once, in submission order
        def submit(self, fn, *args):
            future = Future()
            future.set_result(fn(*args))
            return future

    monkeypatch.setattr(runner, "run_one", fake_run_one)

    def spec(strategy, seed, after=()):
        return runner.RunSpec(
            strategy, seed, str(tmp_path / strategy / str(seed)), "c", (), 1, after
        )

    roots = [spec("stratified", s) for s in (0, 1)]
    todo = [  # suite order: stratified, doremi (waits on stratified), random
        *roots,
        *(spec("doremi", s, (roots[s].run_dir,)) for s in (0, 1)),
        *(spec("random", s) for s in (0, 1)),
    ]
    runner._run_pool(InlinePool(), 2, todo, lambda s, i: None, None)
    assert started == [
        ("stratified", 0),
        ("stratified", 1),
        ("doremi", 0),
        ("doremi", 1),
        ("random", 0),
        ("random", 1),
    ]
