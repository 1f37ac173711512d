"""Learn a skills graph from short training runs (brute force or linear approximation).

The learner only knows a *probe runner*: a callable that takes a :class:`Probe` (seed, skills to
train on, steps) and returns the evaluation skills' losses afterwards, the probe with no skills
being the start model itself. :class:`skillit.graphlearn.runner.TrainerProbeRunner` runs the real
trainer; tests pass a stub with a known answer.

Probes are independent: with ``jobs > 1`` they run in that many worker processes. Each finished
probe leaves one small JSON file in ``<out>/probes/``, written by the process that ran it, so an
interrupted learning run continues where it stopped and never redoes a finished probe. The settings
that change what a probe measures (config, skills) are kept in ``<out>/setup.json``; a later run with
different ones is refused instead of mixing results.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skillit.config import flatten_keys
from skillit.errors import SkillitError
from skillit.graph.io import SkillGraph, export_npy, save_graph
from skillit.graph.plot import plot_graph
from skillit.graphlearn.estimate import (
    DELTAS,
    NORMALIZATIONS,
    GraphEstimate,
    estimate_graph,
)
from skillit.graphlearn.probes import METHODS, Probe, plan_probes
from skillit.utils import jsonio
from skillit.utils.kill_points import kill_point
from skillit.utils.progress import progress
from skillit.utils.safe_paths import write_inside

ProbeRunner = Callable[[Probe], Sequence[float]]  # probe -> loss per evaluation skill

GRAPH_METHOD_NAMES = {
    "linear": "linear",
    "brute": "brute_force",
    "transfer": "transfer",
}  # as stored in graph files


@dataclass
class LearnSettings:
    """How to learn the graph; errors name the `skillit graph learn` flag to change."""

    # transfer (O(k m) runs against a control mixture, from a warmed-up model) | linear (O(k)
    # runs) | brute (O(k^2) runs, eval skills in training)
    method: str = "transfer"
    steps: int = 100  # training steps per probe run (h or H)
    # transfer: each seed's start model is first trained this many steps on the uniform mixture
    # (0: probes start from the random init or model.init_from, as the other methods do)
    warmup_steps: int = 0
    seeds: list[int] = field(default_factory=lambda: [0])  # one start model and data seed each
    normalize: str = "diag"  # diag | paper | max | raw, see skillit.graphlearn.estimate
    min_edge: float = 0.0  # drop edges weaker than this after normalising
    min_z: float = 0.0  # drop edges whose mean drop is within min_z standard errors of 0
    jobs: int = 1  # worker processes running probes side by side
    progress: bool = True  # a progress bar over probe runs

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SkillitError(f"--method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.normalize not in NORMALIZATIONS:
            raise SkillitError(
                f"--normalize must be one of {', '.join(NORMALIZATIONS)}, got {self.normalize!r}"
            )
        if self.steps < 1:
            raise SkillitError(f"--steps must be >= 1 (training steps per probe), got {self.steps}")
        if not self.seeds:
            raise SkillitError("--seeds must be >= 1 (number of seeds to average)")
        if len(set(self.seeds)) != len(self.seeds):
            raise SkillitError(f"seeds must be distinct, got {self.seeds}")
        if self.min_edge < 0:
            raise SkillitError(f"--min-edge must be >= 0, got {self.min_edge}")
        if self.min_z < 0:
            raise SkillitError(f"--min-z must be >= 0, got {self.min_z}")
        if self.jobs < 1:
            raise SkillitError(f"--jobs must be >= 1 (worker processes), got {self.jobs}")
        if self.warmup_steps < 0:
            raise SkillitError(f"--warmup-steps must be >= 0, got {self.warmup_steps}")

    def training_steps(self, probes: Sequence[Probe]) -> int:
        """What learning the graph costs in training steps: warm-ups plus every probe."""
        return self.warmup_steps * len(self.seeds) + sum(p.steps for p in probes)


@dataclass
class LearnResult:
    train_skills: list[str]
    eval_skills: list[str]
    settings: LearnSettings
    estimate: GraphEstimate
    losses: dict[Probe, np.ndarray]  # every probe of the plan
    ran: int  # probes run now (the rest were already on disk)
    seconds: float  # wall time of this call

    @property
    def matrix(self) -> np.ndarray:
        return self.estimate.matrix

    def to_graph(self) -> SkillGraph:
        s = self.settings
        spread = float(np.nanmax(self.estimate.raw_std, initial=0.0))
        return SkillGraph(
            train_skills=list(self.train_skills),
            eval_skills=list(self.eval_skills),
            matrix=self.estimate.matrix,
            method=GRAPH_METHOD_NAMES[s.method],
            steps=s.steps,
            seeds=list(s.seeds),
            raw_deltas=self.estimate.raw,
            notes=(
                f"skillit graph learn --method {s.method}: mean over {len(s.seeds)} seed(s), "
                f"normalize={s.normalize}, min_edge={s.min_edge}, min_z={s.min_z}, "
                f"warmup_steps={s.warmup_steps}; raw_deltas[seed][i][j] are signed effects of "
                f"skill i on skill j's loss, positive = helps (largest std over seeds "
                f"{spread:.4g} nats)"
            ),
        )


# -- finished probes on disk ----------------------------------------------------------------------
class ResultStore:
    """One JSON file per finished probe: its identity, the eval skills and their losses."""

    def __init__(self, root: str | Path, eval_skills: Sequence[str]) -> None:
        self.root = Path(root)
        self.eval_skills = list(eval_skills)

    def path(self, probe: Probe) -> Path:
        return self.root / f"{probe.key}.json"

    def load(self, probe: Probe) -> np.ndarray | None:
        path = self.path(probe)
        if not path.is_file():
            return None
        try:
            record = jsonio.loads(path.read_text(), path)
        except json.JSONDecodeError:
            return None  # never completed (files are written whole, but be forgiving): rerun
        same_probe = (
            record.get("seed") == probe.seed
            and record.get("steps") == probe.steps
            and tuple(record.get("skills", ())) == probe.skills
            and _weights(record.get("weights")) == probe.weights
        )
        if not same_probe:
            return None
        if record.get("eval_skills") != self.eval_skills:
            raise SkillitError(
                f"{path} holds losses for evaluation skills {record.get('eval_skills')}, not "
                f"{self.eval_skills} (skills.eval); use another --out or --fresh to discard it"
            )
        return np.asarray(record["loss"], dtype=np.float64)

    def save(self, probe: Probe, losses: np.ndarray, seconds: float) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        record = {
            "seed": probe.seed,
            "skills": list(probe.skills),
            "steps": probe.steps,
            "weights": None if probe.weights is None else list(probe.weights),
            "eval_skills": self.eval_skills,
            "loss": [float(v) for v in losses],
            "seconds": round(seconds, 3),
        }
        _write_atomic(self.path(probe), json.dumps(record) + "\n")


def _weights(value) -> tuple[float, ...] | None:
    return None if value is None else tuple(float(v) for v in value)


def _write_atomic(path: Path, text: str) -> None:
    write_inside(path.parent, path.name, text)


def check_setup(out_dir: Path, setup: dict[str, Any]) -> None:
    """Record what the probes depend on; refuse an output folder learned with something else."""
    path = out_dir / "setup.json"
    current = json.loads(json.dumps(setup))  # tuples -> lists, as they come back from disk
    if path.is_file():
        before = jsonio.loads(path.read_text(), path)
        if before != current:
            changed = sorted(
                k
                for k in flatten_keys(before).keys() | flatten_keys(current).keys()
                if flatten_keys(before).get(k) != flatten_keys(current).get(k)
            )
            raise SkillitError(
                f"{out_dir} holds probe results of a different setup (changed: "
                f"{', '.join(changed[:8])}); use another --out, or --fresh to discard them"
            )
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, json.dumps(current, indent=2) + "\n")


# -- running probes ---------------------------------------------------------------------------------
def run_probe(runner: ProbeRunner, probe: Probe, store: ResultStore) -> tuple[Probe, np.ndarray]:
    """Run one probe and store its result (in the process that ran it)."""
    start = time.perf_counter()
    losses = np.asarray(runner(probe), dtype=np.float64).reshape(-1)
    m = len(store.eval_skills)
    if losses.shape != (m,):
        raise SkillitError(
            f"probe {probe.key} returned {losses.size} losses for {m} evaluation skills "
            f"{store.eval_skills}"
        )
    if not np.isfinite(losses).all():
        raise SkillitError(
            f"probe {probe.key} ended with a non-finite loss {losses.tolist()}; lower optim.lr "
            "or --steps"
        )
    store.save(probe, losses, time.perf_counter() - start)
    kill_point("graph.probe")
    return probe, losses


def _progress(total: int, enabled: bool, method: str):
    return progress(total=total, desc=f"graph {method} probes", unit="run", enabled=enabled)


def _run_serial(runner, todo, store, bar) -> dict[Probe, np.ndarray]:
    out = {}
    for probe in todo:
        _, losses = run_probe(runner, probe, store)
        out[probe] = losses
        bar.update(1)
    return out


def _run_parallel(runner, todo, store, bar, jobs: int) -> dict[Probe, np.ndarray]:
    out: dict[Probe, np.ndarray] = {}
    # spawn: workers start clean (no forked torch or Lightning state) on every platform.
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=ctx)
    try:
        pending = {pool.submit(run_probe, runner, probe, store) for probe in todo}
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                probe, losses = future.result()  # re-raises a worker's error here
                out[probe] = losses
                bar.update(1)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return out


def learn_graph(
    runner: ProbeRunner,
    train_skills: Sequence[str],
    eval_skills: Sequence[str],
    settings: LearnSettings,
    out_dir: str | Path,
    setup: dict[str, Any] | None = None,
) -> LearnResult:
    """Run the probes the method needs (those not already in `out_dir`) and estimate the graph."""
    began = time.perf_counter()
    train_skills, eval_skills = list(train_skills), list(eval_skills)
    out_dir = Path(out_dir)
    s = settings
    probes = plan_probes(s.method, train_skills, eval_skills, s.seeds, s.steps)
    check_setup(
        out_dir,
        {
            "train_skills": train_skills,
            "eval_skills": eval_skills,
            "warmup_steps": s.warmup_steps,
            **(setup or {}),
        },
    )
    store = ResultStore(out_dir / "probes", eval_skills)
    losses: dict[Probe, np.ndarray] = {}
    for probe in probes:
        found = store.load(probe)
        if found is not None:
            losses[probe] = found
    todo = [p for p in probes if p not in losses]
    with _progress(len(probes), s.progress, s.method) as bar:
        bar.update(len(losses))
        if s.jobs > 1 and len(todo) > 1:
            losses.update(_run_parallel(runner, todo, store, bar, s.jobs))
        else:
            losses.update(_run_serial(runner, todo, store, bar))
    raw = DELTAS[s.method](losses, train_skills, eval_skills, s.seeds, s.steps)
    estimate = estimate_graph(raw, train_skills, eval_skills, s.normalize, s.min_edge, s.min_z)
    return LearnResult(
        train_skills,
        eval_skills,
        settings,
        estimate,
        {p: losses[p] for p in probes},
        ran=len(todo),
        seconds=time.perf_counter() - began,
    )


# -- outputs ----------------------------------------------------------------------------------------
def write_outputs(result: LearnResult, out_dir: str | Path, plot: bool = True) -> dict[str, Path]:
    """graph.json (the file `mixing.graph.path` reads), graph.npy, summary.json and graph.png."""
    out_dir = Path(out_dir)
    graph = result.to_graph()
    paths = {"graph": save_graph(graph, out_dir / "graph.json")}
    kill_point("graph.graph_json")
    paths["npy"] = export_npy(graph, out_dir / "graph.npy")
    est = result.estimate
    summary = {
        "train_skills": result.train_skills,
        "eval_skills": result.eval_skills,
        "settings": asdict(result.settings),
        "matrix": est.matrix.tolist(),
        "raw_mean": _nullable(est.raw_mean),
        "raw_std": _nullable(est.raw_std),
        "matrix_per_seed": est.per_seed.tolist(),
        "start_loss": {
            str(p.seed): losses.tolist() for p, losses in result.losses.items() if p.is_baseline
        },
        "probes": len(result.losses),
        "training_steps": result.settings.training_steps(list(result.losses)),
        "probes_run_now": result.ran,
        "seconds": round(result.seconds, 2),
    }
    paths["summary"] = out_dir / "summary.json"
    _write_atomic(paths["summary"], jsonio.dumps(summary, indent=2) + "\n")
    if plot:
        paths["heatmap"] = plot_graph(graph, out_dir / "graph.png")
    return paths


def _nullable(a: np.ndarray) -> list:
    obj = np.asarray(a, dtype=np.float64).astype(object)
    obj[~np.isfinite(np.asarray(a, dtype=np.float64))] = None
    return obj.tolist()
