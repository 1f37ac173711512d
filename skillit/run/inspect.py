"""What a run directory says about its run, read without building anything: its name, strategy,
seed, progress, status and final per-skill metrics (for `skillit runs` and `skillit compare`).

A run's metric is its source's (accuracy for generated skills, loss for corpora): a run is
summarised by the mean over its skills of the final accuracy, or of the final loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from skillit.errors import SkillitError
from skillit.run.directory import (
    CHECKPOINT,
    CONFIG_FILE,
    FINAL_FILE,
    HISTORY_FILE,
    LOCK_FILE,
    holds_a_run,
    lock_is_held,
)
from skillit.utils import jsonio

MAX_DEPTH = 4  # folders below DIR searched for runs (runs/bench/<suite>/runs/<strategy>/seedN)
BENCH_RUN = "bench_run.json"  # a run of a suite: its folder is runs/<strategy label>/seedN


@dataclass
class RunSummary:
    path: Path
    name: str
    strategy: str
    seed: int | None
    source: str
    metric: str  # "acc" or "loss"
    steps: int  # the last step the run recorded
    max_steps: int
    status: str  # finished, running, stopped, or unreadable
    final: dict[str, float] = field(default_factory=dict)  # skill -> final metric
    problem: str = ""

    @property
    def mean(self) -> float | None:
        return sum(self.final.values()) / len(self.final) if self.final else None


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _read_json(path: Path) -> dict:
    try:
        data = jsonio.loads(path.read_text(), path)
    except (OSError, ValueError, RecursionError) as exc:
        raise SkillitError(f"{path} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise SkillitError(f"{path} does not hold a JSON object")
    return data


def _seed_of(seed) -> int | None:
    """The run's seed; refused unless an integer (compare pairs runs by it)."""
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise SkillitError(f"{CONFIG_FILE}: seed must be an integer, got {seed!r}")
    return seed


def _last_step(run_dir: Path) -> int:
    """The step of the last round the run recorded (0 before its first round)."""
    path = run_dir / HISTORY_FILE
    last = 0
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            try:
                row = jsonio.loads(line, path)
                last = max(last, int(row["step"]))
            except (ValueError, KeyError, TypeError, RecursionError, OverflowError):
                continue  # a partial or edited line (a step of 1e400) is not a step
    return last


def strategy_label(run_dir: Path, strategy: str) -> str:
    """A suite's label for the run's strategy (skillit_c15 and skillit apart), else the
    strategy."""
    return run_dir.parent.name if (run_dir / BENCH_RUN).is_file() else strategy


def metric_of(source: str) -> str:
    from skillit.sources import registry as sources

    try:
        return "acc" if sources.get(source).capabilities.metric == "accuracy" else "loss"
    except SkillitError:
        return "acc"


def summarise_run(run_dir: str | Path) -> RunSummary:
    """The run in `run_dir` (a run that cannot be read is summarised as `unreadable`)."""
    from omegaconf import OmegaConf

    run_dir = Path(run_dir)
    try:
        cfg = OmegaConf.to_container(OmegaConf.load(run_dir / CONFIG_FILE))
        mixing, data = cfg.get("mixing") or {}, cfg.get("data") or {}
        source = str(data.get("source", "?"))
        summary = RunSummary(
            path=run_dir,
            name=str(cfg.get("name", run_dir.name)),
            strategy=strategy_label(run_dir, str(mixing.get("strategy", "?"))),
            seed=_seed_of(cfg.get("seed")),
            source=source,
            metric=metric_of(source),
            steps=_last_step(run_dir),
            max_steps=int((cfg.get("trainer") or {}).get("max_steps", 0)),
            status="stopped",
        )
    except Exception as exc:  # any damage to a listed run's config: list it as unreadable
        return RunSummary(
            run_dir, run_dir.name, "?", None, "?", "acc", 0, 0, "unreadable", {}, _one_line(exc)
        )
    if lock_is_held(run_dir / LOCK_FILE):
        summary.status = "running"
    elif (run_dir / FINAL_FILE).is_file():
        try:
            final = _read_json(run_dir / FINAL_FILE)
            summary.final = {k: float(v) for k, v in final[f"eval_{summary.metric}"].items()}
            summary.steps = int(final.get("global_step", summary.steps))
            summary.status = "finished"
        except (
            SkillitError,
            KeyError,
            TypeError,
            ValueError,
            AttributeError,
            OverflowError,
        ) as exc:
            summary.status, summary.problem = "unreadable", f"{FINAL_FILE}: {_one_line(exc)}"
    elif not (run_dir / CHECKPOINT).is_file():
        summary.status = "stopped" if summary.steps else "started"
    return summary


def find_runs(folder: str | Path, max_depth: int = MAX_DEPTH) -> list[Path]:
    """Run directories at or below `folder` (not following links), sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SkillitError(f"{folder} is not a folder")
    found, frontier = [], [folder]
    for _ in range(max_depth + 1):
        following = []
        for path in frontier:
            if holds_a_run(path):
                found.append(path)
                continue
            try:
                following += [p for p in path.iterdir() if p.is_dir() and not p.is_symlink()]
            except OSError:
                continue
        frontier = following
    return sorted(found)
