"""Collect finished runs into results.json and a markdown table (mean ± std over seeds).

Everything is read back from the run directories (final_eval.json, mixture_history.jsonl), so a
report can be rebuilt at any time from what is on disk.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from skillit import jsonio
from skillit.bench.plots import plot_suite
from skillit.bench.suite import Suite, Target
from skillit.callback import EVAL_FILE, HISTORY_FILE
from skillit.run_dir import FINAL_FILE

if TYPE_CHECKING:  # the runner imports this module to write its report
    from skillit.bench.runner import RunSpec


@dataclass
class RunRecord:
    strategy: str
    seed: int
    run_dir: Path
    final_loss: dict[str, float]
    final_acc: dict[str, float]
    global_step: int
    history: list[dict]
    evals: list[dict] = field(default_factory=list)

    @property
    def curve(self) -> list[dict]:
        """The finest evaluation record available: every evaluation, else the round ends."""
        return self.evals or self.history

    @property
    def skills(self) -> list[str]:
        return list(self.final_acc)


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_run(spec: RunSpec) -> RunRecord:
    run_dir = Path(spec.run_dir)
    final = json.loads((run_dir / FINAL_FILE).read_text())
    history = _read_jsonl(run_dir / HISTORY_FILE)
    return RunRecord(
        spec.strategy,
        spec.seed,
        run_dir,
        final["eval_loss"],
        final["eval_acc"],
        int(final["global_step"]),
        history,
        _read_jsonl(run_dir / EVAL_FILE),
    )


def steps_to_target(history: list[dict], target: Target) -> int | None:
    """Step of the first evaluation at which the target holds; None if it never does."""
    key = "eval_acc" if target.metric == "acc" else "eval_loss"
    for record in history:
        if target.reached(record[key]):
            return int(record["step"])
    return None


def mean_std(values) -> list[float]:
    """[mean, sample std] (std 0 for a single value)."""
    arr = np.asarray(values, dtype=np.float64)
    return [float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0]


def summarise(suite: Suite, records: list[RunRecord]) -> dict:
    """The results.json payload."""
    strategies: dict[str, dict] = {}
    for strategy in suite.strategies:
        runs = [r for r in records if r.strategy == strategy]
        if not runs:
            continue
        skills = runs[0].skills
        per_skill = {
            s: {
                "acc": mean_std([r.final_acc[s] for r in runs]),
                "loss": mean_std([r.final_loss[s] for r in runs]),
            }
            for s in skills
        }
        reach = [steps_to_target(r.curve, suite.target) for r in runs]
        hit = [s for s in reach if s is not None]
        strategies[strategy] = {
            "seeds": [r.seed for r in runs],
            "per_skill": per_skill,
            "mean": {
                "acc": mean_std([np.mean(list(r.final_acc.values())) for r in runs]),
                "loss": mean_std([np.mean(list(r.final_loss.values())) for r in runs]),
            },
            "steps_to_target": {
                "per_seed": reach,
                "reached": len(hit),
                "runs": len(runs),
                "mean_std": mean_std(hit) if hit else None,
            },
        }
    return {
        "suite": suite.name,
        "variant": suite.variant,
        "description": suite.description,
        "config": str(suite.config),
        "overrides": suite.overrides,
        "steps": suite.steps,
        "seeds": suite.seeds,
        "target": {
            "metric": suite.target.metric,
            "value": suite.target.value,
            "skills": list(suite.target.skills) if suite.target.skills else None,
            "description": suite.target.describe(),
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine(),
        "strategies": strategies,
        "runs": [
            {
                "strategy": r.strategy,
                "seed": r.seed,
                "run_dir": str(r.run_dir),
                "global_step": r.global_step,
                "final_acc": r.final_acc,
                "final_loss": r.final_loss,
                "steps_to_target": steps_to_target(r.curve, suite.target),
            }
            for r in records
        ],
    }


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()} {platform.release()}"


def _pm(ms: list[float], scale: float = 1.0, digits: int = 1) -> str:
    return f"{ms[0] * scale:.{digits}f} ± {ms[1] * scale:.{digits}f}"


def _steps_cell(entry: dict, budget: int) -> str:
    if entry["reached"] == 0:
        return f"> {budget} (0/{entry['runs']})"
    mean, std = entry["mean_std"]
    text = f"{mean:.0f} ± {std:.0f}"
    return (
        text
        if entry["reached"] == entry["runs"]
        else f"{text} ({entry['reached']}/{entry['runs']})"
    )


def markdown_table(results: dict) -> str:
    """Accuracy (%) and loss per skill and on average, plus steps to the target."""
    strategies = results["strategies"]
    if not strategies:
        return "(no finished runs)\n"
    skills = list(next(iter(strategies.values()))["per_skill"])
    budget = results["steps"]
    head = f"{results['suite']}" + (
        "" if results["variant"] == "default" else f" ({results['variant']})"
    )
    lines = [
        f"### {head}: {len(results['seeds'])} seeds, {budget} steps",
        "",
        (
            f"Final accuracy (%), mean ± std over seeds; steps to target = first evaluation with "
            f"{results['target']['description']} (seeds that reached it)."
        ),
        "",
        "| strategy | " + " | ".join(skills) + " | mean acc | mean loss | steps to target |",
        "|---" * (len(skills) + 4) + "|",
    ]
    for name, entry in strategies.items():
        cells = [_pm(entry["per_skill"][s]["acc"], 100) for s in skills]
        cells += [
            _pm(entry["mean"]["acc"], 100),
            _pm(entry["mean"]["loss"], 1, 3),
            _steps_cell(entry["steps_to_target"], budget),
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Final loss per skill (answer tokens), mean ± std over seeds.",
        "",
        "| strategy | " + " | ".join(skills) + " |",
        "|---" * (len(skills) + 1) + "|",
    ]
    for name, entry in strategies.items():
        lines.append(
            f"| {name} | "
            + " | ".join(_pm(entry["per_skill"][s]["loss"], 1, 3) for s in skills)
            + " |"
        )
    return "\n".join(lines) + "\n"


def write_report(suite: Suite, specs: list[RunSpec], out: Path, plots: bool = True) -> dict:
    """Write results.json, results.md and plots for the finished runs of `specs` into `out`."""
    records = [read_run(s) for s in specs if s.finished]
    results = summarise(suite, records)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(jsonio.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(markdown_table(results))
    if plots and records:
        results["plots"] = {
            k: str(v) for k, v in plot_suite(records, list(suite.strategies), out).items()
        }
        (out / "results.json").write_text(jsonio.dumps(results, indent=2) + "\n")
    return results
