"""`skillit corpus export CORPUS OUT --format F`: a prepared corpus in an engine's own layout."""

from __future__ import annotations

import argparse

from skillit.corpus.engine_data import ExportSettings

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

  mds        OUT/<domain>/{train,val}/: MosaicML streaming's MDS (index.json, shard.NNNNN.mds),
             a column `tokens` of --sample-tokens windows, end-of-document tokens kept; read
             with mosaicml-streaming 0.13.0's StreamingDataset

  litdata    OUT/<domain>/{train,val}/: litdata's optimized layout (index.json, chunk-0-N.bin),
             one item per document, for TokensLoader; read with litdata 0.2.76

  olmo       no export needed: OLMo-core reads skillit's shards as they are (headerless token
             arrays, an end-of-document token after each document); see mixture export

OUT/tokenizer.json is the corpus's tokenizer. OUT/engine_data.json records the corpus it came
from, each domain's files and token counts;
`skillit mixture export --format F --data OUT` points the engine's mixture file at them.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "corpus",
        help="write a prepared corpus in an engine's own data layout (Megatron-LM, MDS, litdata, "
        "nanotron)",
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
    export.add_argument(
        "--format", required=True, choices=("megatron", "mds", "litdata", "nanotron")
    )
    export.add_argument(
        "--sample-tokens",
        type=int,
        default=ExportSettings.sample_tokens,
        help="mds: tokens in each sample (the engine's sequence length; default %(default)s)",
    )
    export.set_defaults(run=run_export, parser=export)


def run_export(args) -> int:
    from skillit.corpus.engine_data import export_corpus

    path = export_corpus(args.corpus, args.out, args.format, ExportSettings(args.sample_tokens))
    print(f"{args.format} data: {path.parent} (record: {path})")
    return 0
