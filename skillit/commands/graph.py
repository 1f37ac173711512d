"""`skillit graph learn CONFIG ... --method {brute,linear}` and `skillit graph plot GRAPH`."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from skillit.build import build_source, resolve_skills
from skillit.commands.common import add_config_items, split_items
from skillit.config import load_config, merge_structured
from skillit.errors import SkillitError
from skillit.graph.io import load_graph
from skillit.graph.plot import plot_graph
from skillit.graphlearn.estimate import NORMALIZATIONS
from skillit.graphlearn.learn import LearnSettings
from skillit.graphlearn.probes import METHODS, plan_probes
from skillit.run.directory import RunLock
from skillit.utils.safe_paths import claim_names, remove_owned

LEARN_HELP = """\
Learn a skills graph A (rows: training skills, columns: evaluation skills) from short training runs
("probes") that all start from the same model: the random init of each seed, or model.init_from.
CONFIG files and key=value overrides are read as by `skillit train`; skills.train and skills.eval
choose the skills, data/model/optim keys the probes' training. Each probe is a one-round run of
--steps steps on one device; trainer.max_steps is the default for --steps.

  transfer (default) every seed's start model is first trained --warmup-steps steps on the
          uniform mixture of the training skills; then a control probe continues on that
          mixture, and for every pair i -> j a probe continues with i's share moved to the
          skills other than i and j, so j sees exactly the control's data. A[i, j] from how much
          higher j's loss ends without i (k x m runs per seed; needs 3 or more training skills).
  linear  for every training skill i, train h steps on i alone; A[i, j] from the drop of every
          evaluation skill j's loss (k runs per seed; works out-of-domain).
  brute   for every evaluation skill j, train H steps on j alone and on i and j for every other
          training skill i (each pair trained once); A[i, j] from how much more j's loss drops
          with i mixed in (needs skills.eval within skills.train; O(k^2) runs per seed).

Normalisation (--normalize): diag (default) sets A[j, j] = 1 and divides the other entries of
column j by skill j's own drop, capped at 1 (the shape of the paper's graphs); paper sets the own
entries to 1 and the strongest edge to 0.5, the rest in proportion (the scale of the paper's
synthetic graphs, for edges that are real but small); max divides by the largest entry; raw keeps
the positive drops in nats. Only positive drops become edges; --min-edge
and --min-z drop weak edges and edges the seeds disagree on. The signed drops of every seed are
kept in the graph file (raw_deltas) and summary.json (mean, std).

Writes into --out: graph.json (use it as mixing.graph.path of a Skill-It run), graph.npy,
graph.png (heatmap; also a W&B image unless logger.wandb=off), summary.json, and probes/ with one
small file per finished probe: run the same command again to continue an interrupted run.

  skillit graph learn lego_chain --method brute --seeds 3 --min-z 2 --jobs 2
"""

DEFAULTS = LearnSettings()  # the flags' defaults live in the dataclass only

PLOT_HELP = (
    "Draw a graph file (JSON from `skillit graph learn`, or a paper graph) as a heatmap PNG."
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "graph",
        help="learn a skills graph from short training runs, or plot one",
        description="Skills graphs: `skillit graph learn` and `skillit graph plot`.",
    )
    sub = p.add_subparsers(dest="graph_command", metavar="ACTION", required=True)

    learn = sub.add_parser(
        "learn",
        help="learn a skills graph (transfer probes from a warmed-up model, the default; brute force; linear)",
        description=LEARN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_learn_flags(learn)
    learn.set_defaults(run=run_learn, parser=learn)

    plot = sub.add_parser("plot", help="draw a graph file as a heatmap", description=PLOT_HELP)
    plot.add_argument("graph", metavar="GRAPH", help="a graph .json file")
    plot.add_argument(
        "--out",
        default=None,
        metavar="PNG",
        help="image to write (default: next to GRAPH, with .png)",
    )
    plot.set_defaults(run=run_plot, parser=plot)


def _add_learn_flags(learn: argparse.ArgumentParser) -> None:
    add_config_items(learn, "+", "graph-learning")
    # --help lists the flags in this order: the probes, the edges, the output
    _add_probe_flags(learn)
    _add_edge_flags(learn)
    _add_output_flags(learn)


def _add_probe_flags(learn: argparse.ArgumentParser) -> None:
    """The method and the probe runs' training: steps, seeds, worker processes."""
    learn.add_argument(
        "--method",
        choices=METHODS,
        default=DEFAULTS.method,
        help=f"transfer against a control, brute force (pairs of skills) or linear "
        f"approximation (one skill); default {DEFAULTS.method}",
    )
    learn.add_argument(
        "--warmup-steps",
        type=int,
        default=None,
        metavar="N",
        help="transfer: steps of uniform-mixture training before the probes (default 4 x "
        "--steps); other methods: 0",
    )
    learn.add_argument(
        "--steps",
        type=int,
        default=None,
        metavar="N",
        help="training steps per probe run, h or H (default: trainer.max_steps)",
    )
    learn.add_argument(
        "--seeds",
        type=int,
        default=1,
        metavar="N",
        help="average over N seeds: seed, seed+1, ... from the config (default 1)",
    )
    learn.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help=f"probe runs side by side in N worker processes (default {DEFAULTS.jobs})",
    )


def _add_edge_flags(learn: argparse.ArgumentParser) -> None:
    """How loss drops become edge weights, and which weak or noisy edges are dropped."""
    learn.add_argument(
        "--normalize",
        choices=NORMALIZATIONS,
        help=f"how drops become edge weights (default {DEFAULTS.normalize}; see above)",
    )
    learn.add_argument(
        "--min-edge",
        type=float,
        metavar="X",
        help=f"drop edges weaker than X after normalising (default {DEFAULTS.min_edge:g}: keep all)",
    )
    learn.add_argument(
        "--min-z",
        type=float,
        metavar="Z",
        help="drop edges whose mean drop is not above Z standard errors over the "
        f"seeds (default {DEFAULTS.min_z:g}: keep all; needs --seeds >= 2 to act)",
    )


def _add_output_flags(learn: argparse.ArgumentParser) -> None:
    """The output folder, whether to continue in it, and the progress bar."""
    learn.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="output folder (default runs/graph-<name>-<method>)",
    )
    learn.add_argument(
        "--fresh",
        action="store_true",
        help="discard probe results already in --out instead of continuing",
    )
    learn.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_learn(args) -> int:
    files, overrides = _learn_config_items(args)

    # The learner drives real training runs: torch and Lightning load only now.
    from skillit.graphlearn.learn import learn_graph, write_outputs
    from skillit.graphlearn.runner import TrainerProbeRunner

    cfg = load_config(files, overrides)
    settings = _learn_settings(args, cfg)
    train_skills, eval_skills = resolve_skills(cfg, build_source(cfg))
    # every check of the config and flags before the folder changes (--fresh deletes)
    plan_probes(settings.method, train_skills, eval_skills, settings.seeds, settings.steps)
    out = _learn_out_dir(args, cfg)
    with RunLock(out, LEARN_LOCK):  # one learner at a time, and before any delete
        _claim_learn_out(out, args.fresh)
        runner = TrainerProbeRunner(cfg, train_skills, eval_skills, out, settings.warmup_steps)
        try:
            setup = runner.setup()
            result = learn_graph(runner, train_skills, eval_skills, settings, out, setup=setup)
        except KeyboardInterrupt:
            print(
                f"skillit graph learn: interrupted; finished probes are kept in {out / 'probes'}: "
                "run the same command again to continue"
            )
            return 130
        paths = write_outputs(result, out)
    if cfg.logger.wandb != "off":
        _log_heatmap(cfg, args.method, settings, paths, out)
    _print_learn_result(result, settings, paths)
    return 0


def _learn_config_items(args) -> tuple[list[Path], list[str]]:
    """The config files and key=value overrides of `graph learn`, refused before anything loads:
    shipped graph-learning configs or experiments by name, paths, or overrides alone (as `train`
    takes them)."""
    files, overrides = split_items(args.items, default_group=("graph_learn", "experiment"))
    if args.seeds < 1:
        raise SkillitError(f"--seeds must be >= 1 (number of seeds to average), got {args.seeds}")
    return files, overrides


def _learn_settings(args, cfg) -> LearnSettings:
    """The probes' settings, from the flags (steps default to the config's trainer.max_steps)."""
    # Flags merge onto LearnSettings' defaults like overrides onto a run config (one mechanism).
    steps = args.steps if args.steps is not None else cfg.trainer.max_steps
    warmup = args.warmup_steps
    if warmup is None:
        warmup = 4 * steps if args.method == "transfer" else 0
    flags = {
        "method": args.method,
        "steps": steps,
        "warmup_steps": warmup,
        "seeds": [cfg.seed + i for i in range(args.seeds)],
        "normalize": args.normalize,
        "min_edge": args.min_edge,
        "min_z": args.min_z,
        "jobs": args.jobs,
        "progress": not args.no_progress,
    }
    given = {key: value for key, value in flags.items() if value is not None}
    return merge_structured(LearnSettings, [("skillit graph learn flags", given)])


# What `graph learn` writes at the top of --out, and what --fresh discards of it.
LEARN_LOCK = "graph.lock"
LEARN_LAYOUT = (
    "probes",
    "start",
    "tmp",
    "setup.json",
    "graph.json",
    "graph.npy",
    "summary.json",
    "graph.png",
)
EARLIER_PROBES = ("probes", "start", "tmp", "setup.json")


def _learn_out_dir(args, cfg) -> Path:
    """The output folder (--out or its default), made."""
    out = Path(args.out or Path("runs") / f"graph-{cfg.name}-{args.method}")
    if out.exists() and not out.is_dir():
        raise SkillitError(f"--out {out} is a file; give a folder for the probe runs and graph")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SkillitError(f"--out {out} cannot be created: {exc.strerror or exc}") from None
    return out


def _claim_learn_out(out: Path, fresh: bool) -> None:
    """With --fresh, discard the earlier probes: only what skillit recorded writing into --out
    (a folder of the user's named probes/ is refused, not emptied); then record the names this
    learner writes there."""
    if fresh:
        remove_owned(out, EARLIER_PROBES, why="--fresh", lock=LEARN_LOCK)
    claim_names(out, LEARN_LAYOUT)


def _log_heatmap(cfg, method: str, settings: LearnSettings, paths: dict, out: Path) -> None:
    """Log the heatmap as a W&B image (wandb loads only here)."""
    from skillit.graph.plot import log_heatmap_to_wandb

    log_heatmap_to_wandb(
        paths["heatmap"],
        cfg.logger.wandb,
        cfg.logger.project,
        f"{cfg.name}-graph-{method}",
        out,
        asdict(settings),
    )


def _print_learn_result(result, settings: LearnSettings, paths: dict) -> None:
    """The graph as a table, what the run cost, and where its files are."""
    print_graph(result.train_skills, result.eval_skills, result.matrix)
    cost = settings.training_steps(list(result.losses))
    print(
        f"\n{result.ran} probe run(s) now, {len(result.losses) - result.ran} reused; "
        f"{result.seconds:.1f} s; {cost} training steps in all (warm-ups and probes)"
    )
    print(f"graph: {paths['graph']}  (Skill-It: mixing.graph.path={paths['graph']})")
    print(f"heatmap: {paths['heatmap']}  summary: {paths['summary']}")


def print_graph(train_skills, eval_skills, matrix) -> None:
    width = max(len(s) for s in train_skills)
    cols = [max(6, len(s)) for s in eval_skills]
    print(f"\n{'A[i, j]':<{width}}  " + "  ".join(f"{s:>{w}}" for s, w in zip(eval_skills, cols)))
    for name, row in zip(train_skills, matrix):
        print(f"{name:<{width}}  " + "  ".join(f"{v:>{w}.3f}" for v, w in zip(row, cols)))


def run_plot(args) -> int:
    graph = load_graph(args.graph)
    out = plot_graph(graph, args.out or Path(args.graph).with_suffix(".png"))
    print(out)
    return 0
