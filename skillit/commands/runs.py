"""`skillit runs [DIR]`, `skillit compare RUN...` and `skillit eval RUN --skills ...`: look at
runs without Python."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from skillit.errors import SkillitError

COMPARE_HELP = """\
Per-skill final metrics of runs side by side (accuracy, or loss for corpora), then the mean.
Runs are grouped by strategy; where two strategies have runs of the same seeds, the paired
difference of their means (first strategy minus each other) with its 95% bootstrap interval:

  skillit compare runs/bench/ordered-cpt/runs/*/seed1*
  skillit compare runs/a runs/b
"""


def register(subparsers) -> None:
    runs = subparsers.add_parser(
        "runs",
        help="list the runs under a folder: name, strategy, steps, status, final metric",
        description="List the skillit runs at or below DIR (default: runs), one line each.",
    )
    runs.add_argument("folder", nargs="?", default="runs", metavar="DIR")
    runs.set_defaults(run=run_list, parser=runs)
    compare = subparsers.add_parser(
        "compare",
        help="per-skill finals of runs side by side, paired differences over shared seeds",
        description=COMPARE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument("run_dirs", nargs="+", metavar="RUN")
    compare.set_defaults(run=run_compare, parser=compare)
    evaluate = subparsers.add_parser(
        "eval",
        help="score a finished run's final model on skills of its source",
        description="Score the final weights of a finished run on the validation sets of "
        "--skills (any skills its source has, e.g. held-out ones); cached in the run's "
        "extra_eval.json.",
    )
    evaluate.add_argument("run_dir", metavar="RUN")
    evaluate.add_argument(
        "--skills", required=True, help="comma-separated skill names of the run's source"
    )
    evaluate.set_defaults(run=run_eval, parser=evaluate)


def _cell(value: float | None, metric: str) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{100 * value:.1f}%" if metric == "acc" else f"{value:.4f}"


def run_list(args) -> int:
    from skillit.run.inspect import find_runs, summarise_run

    summaries = [summarise_run(p) for p in find_runs(args.folder)]
    if not summaries:
        print(f"no skillit runs under {args.folder}")
        return 0
    rows = [("run", "strategy", "seed", "steps", "status", "final mean")]
    for s in summaries:
        final = f"{s.metric} {_cell(s.mean, s.metric)}" if s.mean is not None else "-"
        rows.append(
            (
                str(s.path),
                s.strategy,
                "-" if s.seed is None else str(s.seed),
                f"{s.steps}/{s.max_steps}",
                s.status + (f" ({s.problem})" if s.problem else ""),
                final,
            )
        )
    _print_rows(rows)
    return 0


def _print_rows(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


def run_compare(args) -> int:
    from skillit.run.inspect import summarise_run

    summaries = [summarise_run(Path(p)) for p in args.run_dirs]
    unfinished = [
        f"{s.path} ({s.status}{': ' + s.problem if s.problem else ''})"
        for s in summaries
        if s.status != "finished"
    ]
    if unfinished:  # a damaged run is "unreadable": its problem says which file and why
        raise SkillitError(f"not finished runs (no final evaluation): {', '.join(unfinished)}")
    metrics = {s.metric for s in summaries}
    if len(metrics) > 1:
        raise SkillitError("the runs report different metrics (accuracy and loss); compare alike")
    (metric,) = metrics
    skills = list(dict.fromkeys(k for s in summaries for k in s.final))
    rows = [("run", "strategy", "seed", *skills, "mean")]
    for s in summaries:
        cells = [_cell(s.final.get(k), metric) for k in skills]
        rows.append((str(s.path), s.strategy, str(s.seed), *cells, _cell(s.mean, metric)))
    _print_rows(rows)
    _print_paired(summaries, metric)
    return 0


def _print_paired(summaries, metric: str) -> None:
    from skillit.bench.paired import paired_difference

    by_strategy: dict[str, dict[int, float]] = {}
    for s in summaries:
        by_strategy.setdefault(s.strategy, {})[s.seed] = s.mean
    names = list(by_strategy)
    scale, unit = (100.0, " points") if metric == "acc" else (1.0, "")
    for other in names[1:]:
        diff = paired_difference(by_strategy[names[0]], by_strategy[other])
        if len(diff.seeds) < 2:
            continue
        print(
            f"\n{names[0]} - {other}, mean {metric} over {len(diff.seeds)} shared seeds: "
            f"{scale * diff.mean:+.2f}{unit}, 95% interval [{scale * diff.low:+.2f}, "
            f"{scale * diff.high:+.2f}]; higher in {diff.wins} of {len(diff.seeds)}"
        )


def run_eval(args) -> int:
    from skillit.run.evaluate import evaluate_run
    from skillit.utils.quiet import quiet_lightning

    skills = [s.strip() for s in args.skills.split(",") if s.strip()]
    if not skills:
        raise SkillitError("--skills must name at least one skill")
    quiet_lightning()
    scores = evaluate_run(args.run_dir, skills)
    width = max(len(s) for s in skills)
    print(f"{'skill':<{width}}  {'loss':>8}  {'accuracy':>8}  samples  (step)")
    for skill, r in scores.items():
        print(
            f"{skill:<{width}}  {r['loss']:8.4f}  {100 * r['acc']:7.1f}%  {r['samples']:7d}  "
            f"({r['step']})"
        )
    return 0
