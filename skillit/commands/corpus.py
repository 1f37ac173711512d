"""`skillit corpus export CORPUS OUT --format F`: a prepared corpus in an engine's own layout."""

from __future__ import annotations

import argparse

HELP = """\
Write a prepared corpus (`skillit prepare`) in the layout an engine that trains at scale reads,
into a folder of its own (skillit's shards are never touched):

  skillit corpus export corpus megatron-data --format megatron
  skillit mixture export RUN --format megatron --data megatron-data

  megatron   OUT/<domain>/{train,val}_NNNNN.{bin,idx}: Megatron-LM's indexed dataset, one
             sequence per document with its end-of-document token (as preprocess_data.py
             --append-eod writes it); checked with megatron-core 0.16.1's IndexedDataset

  nanotron   OUT/<domain>/{train,val}/NNNNN.ds: nanotron's tokenized-bytes files, the tokens as
             they are (checked against nanotron's source: it does not install here)

OUT/engine_data.json records the corpus it came from, each domain's prefixes and token counts;
`skillit mixture export --format F --data OUT` points the engine's mixture file at them.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "corpus",
        help="write a prepared corpus in an engine's own data layout (Megatron-LM, nanotron)",
        description="Prepared corpora, for the engines that train at scale.",
    )
    sub = p.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    export = sub.add_parser(
        "export",
        help="write the corpus in an engine's layout, in a folder of its own",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("corpus", metavar="CORPUS", help="a folder written by `skillit prepare`")
    export.add_argument("out", metavar="OUT", help="the folder for the engine's files")
    export.add_argument("--format", required=True, choices=("megatron", "nanotron"))
    export.set_defaults(run=run_export, parser=export)


def run_export(args) -> int:
    from skillit.corpus.engine_data import export_corpus

    path = export_corpus(args.corpus, args.out, args.format)
    print(f"{args.format} data: {path.parent} (record: {path})")
    return 0
