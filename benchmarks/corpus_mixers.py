"""Paired comparison of mixers on a corpus by held-out loss, from `skillit bench` output folders.

    .venv/bin/python benchmarks/corpus_mixers.py OUT [OUT ...] [--baseline stratified ...]

Each OUT is a `skillit bench` folder (one per numerics variant). The loss of a run is its final
validation loss averaged over its eval domains: every training domain in continual pre-training,
the target(s) in fine-tuning and out-of-domain. Per strategy it reports, over the seeds:

- the final loss and the worst eval domain's loss (mean ± std);
- for each baseline (repeat --baseline), the paired difference method - baseline of each (same
  seed; negative: the method's loss is lower) with a 95% bootstrap interval and the seeds where
  the method's loss is lower;
- tokens to reach the baseline's final loss: per seed, the first evaluation at which the
  method's loss is at or below that seed's baseline final loss (the budget when never: a
  censored value, so the ratio is then a bound), as a ratio of mean tokens, method / baseline;
  once with the graph amortised (learned once and reused: not counted) and once with the
  probe steps of the seed's graph added to every method that reads a graph;
- the mixture it trained on (averaged over rounds by steps), the epochs of each domain it saw,
  and what its graph cost (probe steps; a run reading another run's graph shares that cost).

Prints one Markdown table per OUT and writes corpus_mixers.json beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import yaml
from bench_io import write_result  # this folder: benchmarks run as scripts

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from skillit.bench.paired import paired_difference
from skillit.export.mixture import average_of
from skillit.mixing import registry


def read_jsonl(path: Path) -> list[dict]:
    return (
        [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []
    )


def read_runs(out: Path) -> dict[str, dict[int, dict]]:
    """strategy -> seed -> what the tables need, for every finished run under OUT."""
    runs: dict[str, dict[int, dict]] = {}
    for final_path in sorted(out.glob("runs/*/seed*/final_eval.json")):
        run = final_path.parent
        final = json.loads(final_path.read_text())
        losses = final["eval_loss"]
        history = read_jsonl(run / "mixture_history.jsonl")
        skills, mixture = average_of(history)
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        graph = cfg["mixing"]["graph"]
        curve = [
            (int(r["step"]), float(np.mean(list(r["eval_loss"].values()))))
            for r in read_jsonl(run / "eval_history.jsonl") or history
        ]
        runs.setdefault(run.parent.name, {})[int(run.name.removeprefix("seed"))] = {
            "mean": float(np.mean(list(losses.values()))),
            "worst": float(max(losses.values())),
            "mixture": dict(zip(skills, mixture)),
            "epochs": history[-1].get("epochs", {}),
            "curve": sorted(curve),
            "steps": int(final["global_step"]),
            "tokens_per_step": int(cfg["data"]["global_batch_size"] * cfg["model"]["max_seq_len"]),
            "graph_steps": final.get("graph_learning_steps"),  # learned by this run
            # learned or read from a file: a run whose strategy reads none is not charged for it
            "reads_graph": registry.reads_graph(cfg["mixing"]["strategy"], cfg["mixing"]["setting"])
            and bool(graph.get("learn") or graph.get("path")),
        }
    return runs


def graph_cost(runs: dict[str, dict[int, dict]]) -> dict[int, int]:
    """seed -> probe steps of the graph learned for that seed (0 where none was learned)."""
    cost: dict[int, int] = {}
    for seeds in runs.values():
        for seed, r in seeds.items():
            cost[seed] = max(cost.get(seed, 0), int(r["graph_steps"] or 0))
    return cost


def steps_to_reach(curve: list[tuple[int, float]], value: float, budget: int) -> tuple[int, bool]:
    """First evaluation step with loss <= value, and whether it was reached (else the budget)."""
    for step, loss in curve:
        if loss <= value:
            return step, True
    return budget, False


def tokens_to_reach(method: dict[int, dict], baseline: dict[int, dict], cost: dict[int, int]):
    common = sorted(set(method) & set(baseline))
    if not common:
        return None
    reach = {
        s: steps_to_reach(method[s]["curve"], baseline[s]["mean"], method[s]["steps"])
        for s in common
    }
    base = {
        s: steps_to_reach(baseline[s]["curve"], baseline[s]["mean"], baseline[s]["steps"])
        for s in common
    }

    def mean_tokens(runs, steps, counted):
        return float(
            np.mean(
                [
                    (steps[s][0] + (cost[s] if counted and runs[s]["reads_graph"] else 0))
                    * runs[s]["tokens_per_step"]
                    for s in common
                ]
            )
        )

    out = {"reached": sum(r for _, r in reach.values()), "n": len(common)}
    for name, counted in (("amortised", False), ("counted", True)):
        out[name] = mean_tokens(method, reach, counted) / mean_tokens(baseline, base, counted)
    return out


def summarise(runs: dict[str, dict[int, dict]], baselines: list[str]) -> dict:
    cost = graph_cost(runs)
    out = {}
    for strategy, seeds in runs.items():
        entry: dict = {"seeds": sorted(seeds)}
        for key in ("mean", "worst"):
            values = [seeds[s][key] for s in sorted(seeds)]
            entry[key] = [
                float(np.mean(values)),
                float(np.std(values, ddof=1)) if len(values) > 1 else None,
            ]
        for baseline in baselines:
            if strategy == baseline or baseline not in runs:
                continue
            for key in ("mean", "worst"):
                d = paired_difference(
                    {s: r[key] for s, r in seeds.items()},
                    {s: r[key] for s, r in runs[baseline].items()},
                )
                entry[f"{key}_vs_{baseline}"] = {
                    "mean": d.mean,
                    "std": d.std,
                    "interval": [d.low, d.high],
                    "lower_loss_wins": sum(x < 0 for x in d.differences),
                    "n": len(d.seeds),
                }
            entry[f"tokens_vs_{baseline}"] = tokens_to_reach(seeds, runs[baseline], cost)
        for key in ("mixture", "epochs"):
            names = list(next(iter(seeds.values()))[key])
            entry[key] = {
                n: float(np.mean([r[key].get(n, np.nan) for r in seeds.values()])) for n in names
            }
        reads = [s for s, r in seeds.items() if r["reads_graph"]]
        entry["graph_steps"] = float(np.mean([cost[s] for s in reads])) if reads else 0.0
        out[strategy] = entry
    return out


def _difference(d: dict | None) -> str:
    if d is None:
        return "-"
    return (
        f"{d['mean']:+.3f} [{d['interval'][0]:+.3f}, {d['interval'][1]:+.3f}] "
        f"({d['lower_loss_wins']}/{d['n']})"
    )


def _pm(ms: list) -> str:
    return f"{ms[0]:.3f}" if ms[1] is None else f"{ms[0]:.3f} ± {ms[1]:.3f}"


def table(summary: dict, baselines: list[str]) -> str:
    lines = [
        "| strategy | seeds | loss | worst-domain loss | mixture | epochs seen | graph probe steps |",
        "|---|---|---|---|---|---|---|",
    ]
    for strategy, e in summary.items():
        mix = " ".join(f"{n} {w:.2f}" for n, w in e["mixture"].items())
        epochs = " ".join(f"{n} {v:.2f}" for n, v in e["epochs"].items())
        lines.append(
            f"| {strategy} | {len(e['seeds'])} | {_pm(e['mean'])} | {_pm(e['worst'])} | {mix} | {epochs} | "
            f"{e['graph_steps']:.0f} |"
        )
    for baseline in baselines:
        lines += [
            "",
            f"| strategy - {baseline} | loss [95%] (lower wins) | worst [95%] (lower wins) | "
            f"tokens to {baseline}'s final loss, amortised / counted (reached) |",
            "|---|---|---|---|",
        ]
        for strategy, e in summary.items():
            if f"mean_vs_{baseline}" not in e:
                continue
            t = e[f"tokens_vs_{baseline}"]
            tokens = (
                "-"
                if t is None
                else f"{t['amortised']:.2f} / {t['counted']:.2f} ({t['reached']}/{t['n']})"
            )
            lines.append(
                f"| {strategy} | {_difference(e[f'mean_vs_{baseline}'])} | "
                f"{_difference(e[f'worst_vs_{baseline}'])} | {tokens} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outs", nargs="+", metavar="OUT", help="skillit bench output folders")
    parser.add_argument(
        "--baseline",
        action="append",
        help="a strategy to compare every other with (repeatable; default stratified)",
    )
    args = parser.parse_args()
    baselines = args.baseline or ["stratified"]
    for out in map(Path, args.outs):
        runs = read_runs(out)
        if not runs:
            print(f"{out}: no finished runs", file=sys.stderr)
            return 2
        summary = summarise(runs, baselines)
        print(f"### {out}\n")
        print(table(summary, baselines))
        print()
        write_result(out / "corpus_mixers.json", {"out": str(out), "strategies": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
