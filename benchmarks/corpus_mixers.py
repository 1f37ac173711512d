"""Paired comparison of mixers on a corpus by held-out loss, from `skillit bench` output folders.

    .venv/bin/python benchmarks/corpus_mixers.py OUT [OUT ...] [--baseline stratified]

Each OUT is a `skillit bench` folder (e.g. of `mixers-domains`, one per numerics variant). Per
strategy it reports, over the seeds: the final mean per-domain validation loss and the worst
domain's loss (mean ± std), the paired difference method - baseline of each (same seed; negative:
the method's loss is lower) with a 95% bootstrap interval and the wins (seeds where the method's
loss is lower), the mixture the run trained on (averaged over rounds by steps) and the epochs
of each domain it saw by the end. Prints one Markdown table per OUT and writes JSON beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from bench_io import write_result  # this folder: benchmarks run as scripts

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from skillit.bench.paired import paired_difference
from skillit.export.mixture import average_of


def read_runs(out: Path) -> dict[str, dict[int, dict]]:
    """strategy -> seed -> {mean, worst, mixture, epochs} of every finished run under OUT."""
    runs: dict[str, dict[int, dict]] = {}
    for final in sorted(out.glob("runs/*/seed*/final_eval.json")):
        run = final.parent
        losses = json.loads(final.read_text())["eval_loss"]
        history = [json.loads(x) for x in (run / "mixture_history.jsonl").read_text().splitlines()]
        skills, mixture = average_of(history)
        runs.setdefault(run.parent.name, {})[int(run.name.removeprefix("seed"))] = {
            "mean": float(np.mean(list(losses.values()))),
            "worst": float(max(losses.values())),
            "mixture": dict(zip(skills, mixture)),
            "epochs": history[-1].get("epochs", {}),
        }
    return runs


def summarise(runs: dict[str, dict[int, dict]], baseline: str) -> dict:
    out = {}
    for strategy, seeds in runs.items():
        entry: dict = {"seeds": sorted(seeds)}
        for key in ("mean", "worst"):
            values = [seeds[s][key] for s in sorted(seeds)]
            entry[key] = [float(np.mean(values)), float(np.std(values, ddof=1))]
            if strategy != baseline and baseline in runs:
                d = paired_difference(
                    {s: r[key] for s, r in seeds.items()},
                    {s: r[key] for s, r in runs[baseline].items()},
                )
                lower = sum(x < 0 for x in d.differences)
                entry[f"{key}_vs_{baseline}"] = {
                    "mean": d.mean,
                    "std": d.std,
                    "interval": [d.low, d.high],
                    "lower_loss_wins": lower,
                    "n": len(d.seeds),
                }
        for key in ("mixture", "epochs"):
            names = list(next(iter(seeds.values()))[key])
            entry[key] = {
                n: float(np.mean([r[key].get(n, np.nan) for r in seeds.values()])) for n in names
            }
        out[strategy] = entry
    return out


def table(summary: dict, baseline: str) -> str:
    lines = [
        f"| strategy | mean loss | worst-domain loss | mean - {baseline} [95%] (lower wins) | "
        f"worst - {baseline} [95%] (lower wins) | mixture | epochs seen |",
        "|---|---|---|---|---|---|---|",
    ]
    for strategy, e in summary.items():
        cells = []
        for key in ("mean", "worst"):
            d = e.get(f"{key}_vs_{baseline}")
            cells.append(
                "-"
                if d is None
                else f"{d['mean']:+.3f} [{d['interval'][0]:+.3f}, {d['interval'][1]:+.3f}] "
                f"({d['lower_loss_wins']}/{d['n']})"
            )
        mix = " ".join(f"{n} {w:.2f}" for n, w in e["mixture"].items())
        epochs = " ".join(f"{n} {v:.2f}" for n, v in e["epochs"].items())
        lines.append(
            f"| {strategy} | {e['mean'][0]:.3f} ± {e['mean'][1]:.3f} | "
            f"{e['worst'][0]:.3f} ± {e['worst'][1]:.3f} | {cells[0]} | {cells[1]} | {mix} | {epochs} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outs", nargs="+", metavar="OUT", help="skillit bench output folders")
    parser.add_argument("--baseline", default="stratified", help="(default stratified)")
    args = parser.parse_args()
    for out in map(Path, args.outs):
        runs = read_runs(out)
        if not runs:
            print(f"{out}: no finished runs", file=sys.stderr)
            return 2
        summary = summarise(runs, args.baseline)
        print(f"### {out}\n")
        print(table(summary, args.baseline))
        print()
        write_result(out / "corpus_mixers.json", {"out": str(out), "strategies": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
