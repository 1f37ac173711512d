"""`skillit mixture export RUN_DIR`, `skillit mixture plot RUN_DIR [RUN_DIR ...]` and
`skillit mixture search CONFIG ...` (skillit/commands/search.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from skillit.commands import search
from skillit.errors import SkillitError
from skillit.export.engines import ENGINE_FORMATS, FORMATS
from skillit.export.mixture import AVERAGES, export_mixture, load_run_history, schedule_of

EXPORT_HELP = """\
Write a run's mixture as two config files a new run reads back:
  mixture_schedule.yaml  mixing.strategy=manual with the run's weights per round (mixing.schedule)
  mixture_average.yaml   mixing.strategy=manual with their average (mixing.weights): weighted by
                         steps, or with --average updates the equal-weight mean of the initial
                         mixture and every update (DoReMi's output weights)
e.g. to train a larger model on the mixture a small one found:

  skillit mixture export runs/small
  skillit train big.yaml runs/small/mixture_schedule.yaml

For a run on a prepared corpus, --format writes what an engine that trains at scale reads
instead. Each reads its own copy of the corpus: write it first with
`skillit corpus export CORPUS DIR --format DATA`, then pass --data DIR (OLMo-core reads
skillit's shards as they are). No engine changes a mixture from losses; a schedule reaches it as
stages or phases, or as its average (--average) where the engine has neither.

  format     DATA      writes                     schedule        checked with
  megatron   megatron  megatron_data_path.txt     phases          megatron-core 0.16.1
                       megatron_data_args.json    (megatron_phases.json: --data-path per phase,
                                                   resume between them)
  streaming  mds       streaming_streams.yaml     average         mosaicml-streaming 0.13.0
                       (streams: local, proportion)
  litdata    litdata   litdata_mixture.py         average         litdata 0.2.76
                       (a CombinedStreamingDataset)
  olmo       -         olmo_source_mixture.yaml   average         OLMo-core 2.5 / 3.0 source
                       (NumpyFSLDatasetConfig with source_mixture_config; schema only)
  nanotron   nanotron  nanotron_data_stages.yaml  stages          nanotron 2411b02 source
                       (data_stages: dataset_folder, dataset_weights; schema only)

--engine-steps N moves each stage (and phase) start to the same fraction of an engine run of N
steps: learn the schedule on a small proxy, replay it at scale.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "mixture",
        help="export or plot a run's mixture, or search for a fixed mixture (RegMix)",
        description="Mixtures of finished (or running) runs: export and plot; and an offline "
        "search for a fixed mixture by proxy runs.",
    )
    sub = p.add_subparsers(dest="mixture_command", metavar="ACTION", required=True)
    export = sub.add_parser(
        "export",
        help="write the run's schedule and average mixture as config files",
        description=EXPORT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("run_dir", metavar="RUN_DIR", help="a skillit run directory")
    export.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="folder for the files written (default: RUN_DIR)",
    )
    export.add_argument(
        "--average",
        choices=AVERAGES,
        default="steps",
        help="steps: rounds weighted by their steps (default); updates: the equal-weight mean of "
        "every round's mixture and the last next one, as DoReMi averages its domain weights",
    )
    export.add_argument(
        "--format",
        choices=FORMATS,
        default="skillit",
        help="skillit: the two config files (default); or an engine's file, for a run on a "
        "prepared corpus",
    )
    export.add_argument(
        "--data",
        default=None,
        metavar="DIR",
        help="the engine's own copy of the run's corpus (`skillit corpus export`); every "
        "engine format but olmo needs it",
    )
    export.add_argument(
        "--engine-steps",
        type=int,
        default=None,
        metavar="N",
        help="the engine run's length in steps: stage and phase starts move to the same "
        "fraction of it (default: the run's own steps)",
    )
    export.set_defaults(run=run_export, parser=export)
    plot = sub.add_parser(
        "plot",
        help="draw the mixture trajectories of one or more runs side by side",
        description="Draw the mixture per round of each run, one panel per run, into one PNG.",
    )
    plot.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="skillit run directories")
    plot.add_argument("--out", default="mixtures.png", metavar="PNG", help="(default mixtures.png)")
    plot.set_defaults(run=run_plot, parser=plot)
    search.register(sub)


def run_export(args) -> int:
    if args.out is not None and Path(args.out).exists() and not Path(args.out).is_dir():
        raise SkillitError(f"--out {args.out} is a file; give a folder for the export")
    paths = export_mixture(
        args.run_dir, args.out, args.average, args.format, args.data, args.engine_steps
    )
    if args.format != "skillit":
        print(f"{args.format}: {paths[args.format]}")
        _say_what_the_schedule_becomes(args)
        return 0
    if any("pool_size" in row for row in load_run_history(args.run_dir)):
        print(
            "skillit: warning: a curriculum run: the export repeats the skill mix of each round, "
            "not the order of its samples",
            file=sys.stderr,
        )
    print(f"schedule: {paths['schedule']}\naverage:  {paths['average']}")
    print(f"use one as a config file: skillit train CONFIG {paths['schedule']}")
    return 0


def run_plot(args) -> int:
    parent = Path(args.out).parent
    if not parent.is_dir():
        raise SkillitError(f"--out {args.out}: the folder {parent} does not exist")
    runs = {str(Path(r)): load_run_history(r) for r in args.run_dirs}
    if len(set(runs)) != len(args.run_dirs):
        raise SkillitError("each RUN_DIR may be given once")
    try:
        from skillit.run.plots import plot_mixtures

        print(plot_mixtures(runs, args.out))
    except ImportError:
        raise SkillitError("plots need matplotlib: pip install 'skillit[plots]'") from None
    return 0


def _say_what_the_schedule_becomes(args) -> None:
    """A run whose mixture changed, for an engine without stages: say that the order is lost."""
    _, entries = schedule_of(load_run_history(args.run_dir))
    spec = ENGINE_FORMATS[args.format]
    if len(entries) > 1 and spec.schedule.startswith("the average"):
        print(
            f"skillit: note: {args.format} has no stages: the run's {len(entries)} mixtures are "
            f"written as their average (--average {args.average}); their order is lost",
            file=sys.stderr,
        )
