"""Plan and execute the runs of a suite: strategies x seeds, each a `skillit train` in a worker.

A run is finished when its `final_eval.json` exists; finished runs are skipped, so an interrupted
bench continues where it stopped. A run directory without it is a run that was cut off: it is
cleared and trained again from the start. Every run directory keeps `bench_run.json` (the config
files and overrides it was trained with) so a rerun with other settings into the same output
directory is refused instead of silently mixing results.

A strategy's overrides may name another strategy's run of the same seed as `{run:NAME}` (its run
directory), e.g. DoReMi's reference model `mixing.doremi.reference={run:stratified}/checkpoints/
last.ckpt`: that run is trained first.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import re
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from skillit.bench.report import write_report
from skillit.bench.suite import Suite
from skillit.config import RunConfig, load_config
from skillit.errors import SkillitError
from skillit.run.directory import FINAL_FILE, LOCK_FILE, RunLock
from skillit.training import TrainResult, train
from skillit.utils.progress import progress as live_or_plain
from skillit.utils.quiet import quiet_known_warnings, quiet_lightning
from skillit.utils.safe_paths import claim_names, inside_for_writing, remove_owned, write_inside

SPEC_FILE = "bench_run.json"
# How a run that learns its graph first (mixing.graph.learn) is trained: the command layer passes
# one (skillit.graphlearn.in_run.train_learning_graph), which the bench may not import; every
# other run is trained by skillit.training.train
GraphLearner = Callable[[RunConfig], TrainResult]
LOG_FILE = "train.log"


@dataclass(frozen=True)
class RunSpec:
    strategy: str
    seed: int
    run_dir: str
    config: str
    overrides: tuple[str, ...]
    threads: int = 1
    after: tuple[str, ...] = ()  # run directories that must be finished first
    learns_graph: bool = False  # mixing.graph.learn: learned at the start of the run

    @property
    def ready(self) -> bool:
        return all((Path(d) / FINAL_FILE).is_file() for d in self.after)

    @property
    def finished(self) -> bool:
        return (Path(self.run_dir) / FINAL_FILE).is_file()

    def trained_as_planned(self) -> bool:
        """False where the directory's run was trained with another recipe than this spec's."""
        path = Path(self.run_dir) / SPEC_FILE
        return not path.is_file() or json.loads(path.read_text()) == self.recipe()

    def recipe(self) -> dict:
        """What determines the run's result (not where it is written or how many threads)."""
        return {
            "config": self.config,
            "overrides": [o for o in self.overrides if not o.startswith("run_dir=")],
        }


RUN_REFERENCE = re.compile(r"\{run:([^}]*)\}")


def _link_runs(
    overrides: list[str], suite: Suite, strategy: str, out: Path, seed: int
) -> tuple[list[str], tuple[str, ...]]:
    """Replace `{run:NAME}` by NAME's run directory of this seed; return the directories."""
    needed: list[str] = []

    def resolve(match: re.Match) -> str:
        name = match.group(1)
        if name not in suite.strategies or name == strategy:
            raise SkillitError(
                f"suite {suite.label}, strategy {strategy}: {{run:{name}}} must name another "
                f"strategy of the suite ({', '.join(s for s in suite.strategies if s != strategy)})"
            )
        run_dir = str((out / "runs" / name / f"seed{seed}").resolve())
        needed.append(run_dir)
        return run_dir

    linked = [RUN_REFERENCE.sub(resolve, o) for o in overrides]
    return linked, tuple(dict.fromkeys(needed))


def plan_runs(suite: Suite, out: Path, threads: int = 1) -> list[RunSpec]:
    """One RunSpec per (strategy, seed), strategies in suite order; configs validated up front."""
    specs = []
    _fit_eval_every(suite)
    for strategy, strategy_overrides in suite.strategies.items():
        for seed in suite.seeds:
            run_dir = out / "runs" / strategy / f"seed{seed}"
            linked, after = _link_runs(list(strategy_overrides), suite, strategy, out, seed)
            overrides = (
                *suite.overrides,
                *linked,
                f"{suite.seed_key}={seed}",
                f"trainer.max_steps={suite.steps}",
                f"name={suite.label}-{strategy}-seed{seed}",
                f"run_dir={run_dir.resolve()}",
                "trainer.progress_bar=false",
                f"trainer.threads={threads}",
            )
            try:
                cfg = load_config([suite.config], overrides)
            except SkillitError as exc:
                raise SkillitError(
                    f"suite {suite.label}, strategy {strategy}: {exc} (skillit bench sets keys "
                    "with --set KEY=VALUE)"
                ) from exc
            specs.append(
                RunSpec(
                    strategy,
                    seed,
                    str(run_dir.resolve()),
                    str(suite.config),
                    overrides,
                    threads,
                    after,
                    learns_graph=cfg.mixing.graph.learn is not None,
                )
            )
    return specs


def _fit_eval_every(suite: Suite) -> None:
    """A --steps that the suite's mixing.eval_every does not divide evaluates at round ends only.

    The user did not set mixing.eval_every (the suite's run config did), so say what happens
    instead of failing on a key they never wrote.
    """
    if any(o.startswith("mixing.eval_every=") for o in suite.overrides):
        return  # the user's own choice: validated (and refused if it does not fit) as given
    try:
        load_config([suite.config], [*suite.overrides, f"trainer.max_steps={suite.steps}"])
    except SkillitError as exc:
        if "mixing.eval_every" not in str(exc):
            return  # reported with the strategy's name in plan_runs
        suite.overrides = [*suite.overrides, "mixing.eval_every=null"]
        print(
            f"skillit bench: the suite's mixing.eval_every does not divide the rounds of "
            f"--steps {suite.steps}; evaluating at round ends only (--set mixing.eval_every=N "
            "to choose another interval)",
            file=sys.stderr,
        )


def check_reuse(spec: RunSpec) -> None:
    """Refuse to count a finished run that was trained with a different recipe."""
    if spec.finished and not spec.trained_as_planned():
        previous = json.loads((Path(spec.run_dir) / SPEC_FILE).read_text())
        raise SkillitError(
            f"{spec.run_dir} holds a finished run made with other settings "
            f"(overrides {previous.get('overrides')}); choose another --out or delete that directory"
        )


def run_one(spec: RunSpec, graph_learner: GraphLearner | None = None) -> dict:
    """Train one run (in this process; one that learns its graph with `graph_learner`); returns
    timing. Output of the trainer goes to train.log."""
    run_dir = Path(spec.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(run_dir):  # a run cut off earlier: start it again, deleting only what it wrote
        remove_owned(run_dir, why="restarting the unfinished bench run", lock=LOCK_FILE)
        claim_names(run_dir, (SPEC_FILE, LOG_FILE))
        write_inside(run_dir, SPEC_FILE, json.dumps(spec.recipe(), indent=2) + "\n")
    torch.set_num_threads(spec.threads)
    quiet_lightning()
    quiet_known_warnings()
    start = time.perf_counter()
    with (
        inside_for_writing(run_dir, LOG_FILE).open("w") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        cfg = load_config([spec.config], list(spec.overrides))
        result = graph_learner(cfg) if spec.learns_graph else train(cfg)
    return {
        "strategy": spec.strategy,
        "seed": spec.seed,
        "seconds": time.perf_counter() - start,
        "global_step": result.global_step,
    }


def _worker_init() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def execute(
    specs: list[RunSpec],
    jobs: int = 1,
    progress: bool = True,
    on_done: Callable[[RunSpec, dict], None] | None = None,
    graph_learner: GraphLearner | None = None,
) -> dict[str, list]:
    """Run every unfinished spec, `jobs` at a time; a run that learns its graph first with
    `graph_learner` (a module-level function: workers are spawned). Returns {"ran": [...],
    "skipped": [...]}."""
    if jobs < 1:
        raise SkillitError(f"--jobs must be >= 1, got {jobs}")
    learners = [f"{s.strategy}/seed{s.seed}" for s in specs if s.learns_graph]
    if learners and graph_learner is None:  # refused before any run trains
        raise SkillitError(
            f"runs {', '.join(learners)} set mixing.graph.learn, which this caller of the bench "
            "cannot learn (`skillit bench` can: it passes the graph learner)"
        )
    for spec in specs:
        check_reuse(spec)
    todo = [s for s in specs if not s.finished]
    skipped = [asdict_short(s) for s in specs if s.finished]
    ran: list[dict] = []
    bar = live_or_plain(
        total=len(specs), initial=len(skipped), desc="runs", unit="run", enabled=progress
    )

    def done(spec: RunSpec, info: dict) -> None:
        ran.append(info)
        bar.set_postfix_str(f"{spec.strategy}/seed{spec.seed} {info['seconds']:.0f}s")
        bar.update(1)
        if on_done:
            on_done(spec, info)

    try:
        if jobs == 1 or len(todo) <= 1:
            while todo:
                spec = _next_ready(todo)
                todo.remove(spec)
                done(spec, run_one(spec, graph_learner))
        else:
            # spawn: a clean interpreter per worker (no forked torch/Lightning state).
            with ProcessPoolExecutor(
                jobs, mp_context=mp.get_context("spawn"), initializer=_worker_init
            ) as pool:
                try:
                    _run_pool(pool, jobs, todo, done, graph_learner)
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)  # queued runs never start
                    raise
    finally:
        bar.close()
    return {"ran": ran, "skipped": skipped}


def _next_ready(todo: list[RunSpec]) -> RunSpec:
    for spec in todo:
        if spec.ready:
            return spec
    spec = todo[0]
    missing = [d for d in spec.after if not (Path(d) / FINAL_FILE).is_file()]
    raise SkillitError(
        f"run {spec.strategy}/seed{spec.seed} needs the finished run(s) {missing}, which this "
        "bench does not train (include their strategies in --strategies)"
    )


def _run_pool(
    pool,
    jobs: int,
    todo: list[RunSpec],
    done: Callable[[RunSpec, dict], None],
    graph_learner: GraphLearner | None,
) -> None:
    """Keep `jobs` runs going: whenever one finishes, start the first run in suite order whose
    dependencies are finished (so a run waiting on another starts as soon as it may, not after
    every run that was ready earlier). The first failure is raised (the caller cancels the rest)."""
    pending: dict = {}
    while todo or pending:
        while len(pending) < jobs and (ready := [s for s in todo if s.ready]):
            todo.remove(ready[0])
            pending[pool.submit(run_one, ready[0], graph_learner)] = ready[0]
        if not pending:
            _next_ready(todo)  # raises: what is left waits for runs that will never exist
        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in finished:
            spec = pending.pop(future)
            try:
                info = future.result()
            except SkillitError:
                raise
            except Exception as exc:
                raise RuntimeError(
                    f"run {spec.strategy}/seed{spec.seed} failed; see {spec.run_dir}/{LOG_FILE}"
                ) from exc
            done(spec, info)


def asdict_short(spec: RunSpec) -> dict:
    d = asdict(spec)
    return {"strategy": d["strategy"], "seed": d["seed"]}


def run_suite(
    suite: Suite,
    out,
    jobs: int = 1,
    progress: bool = True,
    plots: bool = True,
    threads: int = 1,
    graph_learner: GraphLearner | None = None,
    report: Suite | None = None,
) -> dict:
    """Run every unfinished run of `suite` into `out` (`threads` torch threads each; a run that
    learns its graph first by `graph_learner`), then write results.json, results.md, plots.

    The report covers the finished runs of `report` (default `suite`) trained with its recipe:
    when this call runs part of a suite (some strategies, extra seeds), passing the whole suite
    keeps every earlier finished run in the tables instead of replacing them by this part.
    Returns the results.json payload with "ran"/"skipped" lists of this invocation added.
    """
    out = Path(out)
    specs = plan_runs(suite, out, threads)
    done = execute(specs, jobs=jobs, progress=progress, graph_learner=graph_learner)
    if report is not None:  # with the overrides planning settled for `suite` (eval_every)
        report = replace(report, overrides=list(suite.overrides))
    reported = specs if report is None else plan_runs(report, out, threads)
    results = write_report(report or suite, reported, out, plots=plots)
    results.update(done)
    return results
