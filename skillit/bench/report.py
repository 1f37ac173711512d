"""Collect finished runs into results.json and a markdown table (mean ± std over seeds).

Everything is read back from the run directories (final_eval.json, mixture_history.jsonl), so a
report can be rebuilt at any time from what is on disk.
"""

from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from skillit.bench.paired import acc_at, area_under_curve, paired_difference
from skillit.bench.plots import plot_suite
from skillit.bench.suite import Suite, Target
from skillit.run.directory import EVAL_FILE, FINAL_FILE, HISTORY_FILE
from skillit.utils import jsonio

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
        return list(self.final_loss)


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [jsonio.loads(line, path) for line in path.read_text().splitlines() if line.strip()]


def read_run(spec: RunSpec) -> RunRecord:
    run_dir = Path(spec.run_dir)
    final = jsonio.loads((run_dir / FINAL_FILE).read_text(), run_dir / FINAL_FILE)
    history = _read_jsonl(run_dir / HISTORY_FILE)
    return RunRecord(
        spec.strategy,
        spec.seed,
        run_dir,
        final["eval_loss"],
        final.get("eval_acc", {}),  # a corpus run records perplexity instead
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


def mean_std(values) -> list[float | None]:
    """[mean, sample std]; the std of a single value is None (unknown, not 0)."""
    arr = np.asarray(values, dtype=np.float64)
    return [float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else None]


def _on_corpus(suite: Suite) -> bool:
    """Whether the suite's source reports perplexity (its table then reports loss, not acc)."""
    from skillit.config import load_config
    from skillit.sources import registry as sources

    try:
        source = load_config([suite.config], suite.overrides).data.source
        return sources.get(source).capabilities.metric == "perplexity"
    except Exception:  # noqa: BLE001  (a table is never worth failing a finished suite)
        return False


def summarise(suite: Suite, records: list[RunRecord]) -> dict:
    """The results.json payload."""
    strategies: dict[str, dict] = {}
    for strategy in suite.strategies:
        runs = [r for r in records if r.strategy == strategy]
        if runs:
            strategies[strategy] = _strategy_summary(runs, suite.target)
    return {
        "suite": suite.name,
        "variant": suite.variant,
        "paired": paired_summary(suite, records),
        "description": suite.description,
        "config": str(suite.config),
        "overrides": suite.overrides,
        "corpus": _on_corpus(suite),
        "steps": suite.steps,
        "seeds": suite.seeds,
        "target": _target_summary(suite.target),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine(),
        "strategies": strategies,
        "runs": [_run_summary(r, suite.target) for r in records],
    }


def _strategy_summary(runs: list[RunRecord], target: Target) -> dict:
    """One strategy's seeds: final accuracy and loss per skill and on average (mean ± std), and
    the steps each seed took to reach the target."""
    has_acc = all(r.final_acc for r in runs)  # a corpus run records perplexity instead
    per_skill = {
        s: {
            **({"acc": mean_std([r.final_acc[s] for r in runs])} if has_acc else {}),
            "loss": mean_std([r.final_loss[s] for r in runs]),
        }
        for s in runs[0].skills
    }
    reach = [steps_to_target(r.curve, target) for r in runs]
    hit = [s for s in reach if s is not None]
    return {
        "seeds": [r.seed for r in runs],
        "per_skill": per_skill,
        "mean": {
            **(
                {"acc": mean_std([np.mean(list(r.final_acc.values())) for r in runs])}
                if has_acc
                else {}
            ),
            "loss": mean_std([np.mean(list(r.final_loss.values())) for r in runs]),
        },
        "steps_to_target": {
            "per_seed": reach,
            "reached": len(hit),
            "runs": len(runs),
            "mean_std": mean_std(hit) if hit else None,
        },
    }


def _target_summary(target: Target) -> dict:
    return {
        "metric": target.metric,
        "value": target.value,
        "skills": list(target.skills) if target.skills else None,
        "description": target.describe(),
    }


def _run_summary(record: RunRecord, target: Target) -> dict:
    return {
        "strategy": record.strategy,
        "seed": record.seed,
        "run_dir": str(record.run_dir),
        "global_step": record.global_step,
        "final_acc": record.final_acc,
        "final_loss": record.final_loss,
        "steps_to_target": steps_to_target(record.curve, target),
    }


def curve_metrics(suite: Suite, record: RunRecord) -> dict[str, float]:
    """The per-run numbers the paired comparisons use: mean accuracy over the report's skills at
    each budget fraction, the area under that curve, and steps to target (the budget if never:
    a censored value, so a ratio of means is a bound when some runs never reach it)."""
    skills = list(suite.paired.skills or record.skills)
    out = {}
    for fraction in suite.paired.at:
        value = acc_at(record.curve, round(fraction * suite.steps), skills)
        out[f"acc@{fraction:g}"] = float("nan") if value is None else value
    out["auc"] = area_under_curve(record.curve, skills, suite.steps)
    reached = steps_to_target(record.curve, suite.target)
    out["steps_to_target"] = float(suite.steps if reached is None else reached)
    out["reached_target"] = float(reached is not None)
    if suite.paired.extra_skills:
        from skillit.run.evaluate import evaluate_run  # loads torch: only when asked for

        for skill, result in evaluate_run(record.run_dir, suite.paired.extra_skills).items():
            out[f"{skill} acc"] = result["acc"]
    return out


def paired_summary(suite: Suite, records: list[RunRecord]) -> dict:
    """Per strategy: each curve metric (mean ± std); per configured pair: candidate - baseline
    per seed with a 95% bootstrap interval and wins, and the ratio of mean steps to target."""
    if not suite.paired.pairs:
        return {}
    by_strategy: dict[str, dict[int, dict[str, float]]] = {}
    for r in records:
        by_strategy.setdefault(r.strategy, {})[r.seed] = curve_metrics(suite, r)
    metrics = {
        name: {
            key: mean_std([m[key] for m in per_seed.values()])
            for key in next(iter(per_seed.values()))
        }
        for name, per_seed in by_strategy.items()
    }
    pairs = {}
    for candidate, baselines in suite.paired.pairs.items():
        for baseline in baselines:
            if candidate not in by_strategy or baseline not in by_strategy:
                continue
            a, b = by_strategy[candidate], by_strategy[baseline]
            keys = [
                k for k in next(iter(a.values())) if k not in ("steps_to_target", "reached_target")
            ]
            entry = {
                key: paired_difference(
                    {s: m[key] for s, m in a.items()}, {s: m[key] for s, m in b.items()}
                ).as_dict()
                for key in keys
            }
            common = sorted(set(a) & set(b))
            steps_a = np.mean([a[s]["steps_to_target"] for s in common])
            steps_b = np.mean([b[s]["steps_to_target"] for s in common])
            entry["steps_ratio"] = {
                "ratio": float(steps_a / steps_b),
                "candidate_reached": int(sum(a[s]["reached_target"] for s in common)),
                "baseline_reached": int(sum(b[s]["reached_target"] for s in common)),
                "n": len(common),
            }
            pairs[f"{candidate} - {baseline}"] = entry
    return {
        "skills": list(suite.paired.skills) if suite.paired.skills else None,
        "at": list(suite.paired.at),
        "extra_skills": list(suite.paired.extra_skills),
        "metrics": metrics,
        "pairs": pairs,
    }


def paired_table(results: dict) -> str:
    paired = results.get("paired") or {}
    if not paired.get("pairs"):
        return ""
    budget = results["steps"]
    over = ", ".join(paired["skills"]) if paired["skills"] else "all eval skills"
    extra = [f"{s} acc" for s in paired.get("extra_skills", [])]
    keys = [f"acc@{f:g}" for f in paired["at"]] + ["auc", *extra]
    heads = [f"mean acc @{round(f * budget)}" for f in paired["at"]] + ["AUC"]
    heads += [f"{s} acc (final)" for s in paired.get("extra_skills", [])]
    lines = [
        "",
        f"Mean accuracy (%) over {over} at fractions of the budget and the area under its curve "
        f"(accuracy averaged over training), {_over_seeds(results)}; steps to target as above, "
        f"counting the budget ({budget}) for runs that never reach it.",
        "",
        "| strategy | " + " | ".join(heads) + " | steps to target |",
        "|---" * (len(heads) + 2) + "|",
    ]
    for name, m in paired["metrics"].items():
        cells = [_pm(m[k], 100) for k in keys]
        reached = round(m["reached_target"][0] * len(results["strategies"][name]["seeds"]))
        cells.append(f"{m['steps_to_target'][0]:.0f} ({reached} reached)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Paired differences (same seed: same initial weights and world), percentage points: mean "
        "[95% bootstrap interval], wins/n; steps ratio = mean steps to target, candidate / baseline.",
        "",
        "| pair | " + " | ".join(heads) + " | steps ratio |",
        "|---" * (len(heads) + 2) + "|",
    ]
    for pair, entry in paired["pairs"].items():
        cells = []
        for k in keys:
            d = entry[k]
            interval = (
                f"[{d['ci95'][0] * 100:+.1f}, {d['ci95'][1] * 100:+.1f}]"
                if d["n"] > 1
                else "(one seed: no interval)"
            )
            cells.append(f"{d['mean'] * 100:+.1f} {interval}, {d['wins']}/{d['n']}")
        ratio = entry["steps_ratio"]
        cells.append(
            f"{ratio['ratio']:.2f} ({ratio['candidate_reached']} vs {ratio['baseline_reached']} "
            f"of {ratio['n']} reached)"
        )
        lines.append(f"| {pair} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()} {platform.release()}"


def _over_seeds(results: dict) -> str:
    one = len(results.get("seeds", ())) == 1
    return "one seed (no spread to show)" if one else "mean ± std over seeds"


def _pm(ms: list[float | None], scale: float = 1.0, digits: int = 1) -> str:
    """mean ± std, or the mean alone where one seed gives no spread."""
    mean = f"{ms[0] * scale:.{digits}f}"
    return mean if ms[1] is None else f"{mean} ± {ms[1] * scale:.{digits}f}"


def _steps_cell(entry: dict, budget: int) -> str:
    if entry["reached"] == 0:
        return f"> {budget} (0/{entry['runs']})"
    mean, std = entry["mean_std"]
    text = f"{mean:.0f}" if std is None else f"{mean:.0f} ± {std:.0f}"
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
    if results.get("corpus"):  # exact match of a whole window means nothing: loss and ppl
        return _loss_tables(results, head, skills, budget)
    lines = [
        f"### {head}: {len(results['seeds'])} seeds, {budget} steps",
        "",
        (
            f"Final accuracy (%), {_over_seeds(results)}; steps to target = first evaluation with "
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
        f"Final loss per skill (answer tokens), {_over_seeds(results)}.",
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


def _loss_tables(results: dict, head: str, skills: list[str], budget: int) -> str:
    """The table of a loss-target suite (corpora): loss per skill, its mean and perplexity."""
    lines = [
        f"### {head}: {len(results['seeds'])} seeds, {budget} steps",
        "",
        (
            f"Final validation loss per domain, {_over_seeds(results)}; ppl = exp(mean loss); "
            f"steps to target = first evaluation with {results['target']['description']} "
            "(seeds that reached it)."
        ),
        "",
        "| strategy | " + " | ".join(skills) + " | mean loss | ppl | steps to target |",
        "|---" * (len(skills) + 4) + "|",
    ]
    for name, entry in results["strategies"].items():
        mean = entry["mean"]["loss"]
        cells = [_pm(entry["per_skill"][s]["loss"], 1, 3) for s in skills]
        cells += [
            _pm(mean, 1, 3),
            f"{math.exp(mean[0]):.1f}",
            _steps_cell(entry["steps_to_target"], budget),
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(suite: Suite, specs: list[RunSpec], out: Path, plots: bool = True) -> dict:
    """Write results.json, results.md and plots for the finished runs of `specs` into `out`
    (a run trained with another recipe than its spec's is left out)."""
    records = [read_run(s) for s in specs if s.finished and s.trained_as_planned()]
    results = summarise(suite, records)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(jsonio.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(markdown_table(results) + paired_table(results))
    if plots and records:
        results["plots"] = {
            k: str(v) for k, v in plot_suite(records, list(suite.strategies), out).items()
        }
        (out / "results.json").write_text(jsonio.dumps(results, indent=2) + "\n")
    return results
