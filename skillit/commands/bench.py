"""`skillit bench SUITE`: run a benchmark suite (strategies x seeds) and summarise it.

Examples:
    skillit bench lego-cpt --jobs 2                 # CPU-scale default, 5 seeds
    skillit bench lego-cpt --variant paper          # the paper's steps/eta/T/w (GPU)
    skillit bench lego-ft --seeds 0,1 --steps 500 --strategies skillit,target_only
    skillit bench --list
"""

from __future__ import annotations

from pathlib import Path

from skillit.bench import available_suites, load_suite, parse_seeds, restrict
from skillit.errors import SkillitError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="run a benchmark suite (strategies x seeds) and write results.json, a table and plots",
        description=(
            "Run strategies x seeds of one setting; finished runs are skipped on a rerun. The "
            "tables cover every finished run of the suite in --out, so a later call with more "
            "--seeds or some --strategies extends them."
        ),
    )
    p.add_argument(
        "suite", nargs="?", help="suite name (a shipped suite, see --list) or a suite .yaml path"
    )
    p.add_argument(
        "--variant", default="default", help="suite variant, e.g. 'paper' (default: the CPU scale)"
    )
    p.add_argument("--seeds", help="seed count (5) or list (0,1,2 or 0-4); default: the suite's")
    p.add_argument(
        "--steps", type=int, help="training steps per run (trainer.max_steps); default: the suite's"
    )
    p.add_argument(
        "--strategies", help="comma-separated strategy labels of the suite; default: all"
    )
    p.add_argument("--out", help="output directory (default: runs/bench/<suite>[-<variant>])")
    p.add_argument(
        "--set",
        dest="extra",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra config override for every run (repeatable), e.g. --set model.hf_path=/m",
    )
    p.add_argument(
        "--jobs", type=int, default=1, help="runs in parallel, one torch thread each (default 1)"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per run (default 1); another count is another numerics variant: "
        "the same seed gives other floats",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--list", action="store_true", help="list the suites and their variants, then exit"
    )
    p.set_defaults(run=run, parser=p)


def run(args) -> int:
    if args.list:
        for name in available_suites():
            suite = load_suite(name)
            variants = ", ".join(["default", *suite.variants])
            print(f"{name:16s} {suite.description}\n{'':16s} variants: {variants}")
        return 0
    if not args.suite:
        raise SkillitError(f"give a suite name; available: {', '.join(available_suites())}")
    for flag, value in (("--jobs", args.jobs), ("--threads", args.threads)):
        if value < 1:
            raise SkillitError(f"{flag} must be >= 1, got {value}")
    suite = load_suite(args.suite, args.variant)
    seeds = parse_seeds(args.seeds, "--seeds") if args.seeds is not None else None
    strategies = (
        [s.strip() for s in args.strategies.split(",") if s.strip()] if args.strategies else None
    )
    if strategies == []:
        raise SkillitError("--strategies is empty; give labels such as random,skillit")
    suite = restrict(suite, args.steps, seeds, strategies, args.extra)
    # The tables cover the whole suite, the seeds asked for included, so a call that adds seeds
    # or reruns some strategies does not replace the earlier finished runs' rows.
    whole = load_suite(args.suite, args.variant)
    report = restrict(whole, args.steps, sorted({*whole.seeds, *suite.seeds}), None, args.extra)
    from skillit.bench.runner import run_suite  # loads torch and Lightning: only to run
    from skillit.graphlearn.in_run import train_learning_graph

    out = Path(args.out) if args.out else Path("runs") / "bench" / suite.label
    results = run_suite(
        suite,
        out,
        jobs=args.jobs,
        progress=not args.no_progress,
        plots=not args.no_plots,
        threads=args.threads,
        graph_learner=train_learning_graph,  # runs with mixing.graph.learn learn it first
        report=report,
    )
    print((out / "results.md").read_text())
    print(
        f"ran {len(results['ran'])} runs, skipped {len(results['skipped'])} finished; results in {out}"
    )
    return 0
