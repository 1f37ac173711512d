"""`skillit prepare OUT --domain NAME=PATH ...`: token shards per domain for `data.source=tokens`."""

from __future__ import annotations

import argparse
import itertools
import os
from pathlib import Path

from skillit.errors import SkillitError
from skillit.safe_paths import check_name

DESCRIPTION = """\
Tokenize text per domain into token shards and a manifest that `data.source=tokens` trains on:

  skillit prepare corpus/ --domain code=src/ --domain web=web.jsonl --bpe-vocab 8192
  skillit prepare corpus/ --domain books=books.parquet --tokenizer neox/tokenizer.json
  skillit prepare corpus/ --bin arxiv=nanogpt/arxiv --tokenizer gpt2/tokenizer.json
  skillit prepare corpus/ --demo --bpe-vocab 4096      # the built-in CPU demo corpus

A domain's PATH is a folder of .txt files, a .jsonl file or folder (--text-field), parquet files
or a `datasets` folder saved with save_to_disk (pip install 'skillit[corpora]'); --bin lists an
existing train.bin / val.bin pair of flat token ids as it is. Every --val-every-th document is
held out for validation. Rerunning into the same OUT continues an interrupted prepare.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "prepare",
        help="tokenize text per domain into token shards (for data.source=tokens)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out", metavar="OUT", help="folder for the shards and manifest.json")
    p.add_argument(
        "--domain", action="append", default=[], metavar="NAME=PATH", help="a text domain"
    )
    p.add_argument(
        "--bin", action="append", default=[], metavar="NAME=DIR", help="train.bin + val.bin"
    )
    p.add_argument("--demo", action="store_true", help="the built-in CPU demo domains")
    p.add_argument("--tokenizer", metavar="PATH", help="a tokenizer.json to use as it is")
    p.add_argument("--bpe-vocab", type=int, metavar="N", help="train a byte BPE of N tokens")
    p.add_argument(
        "--bpe-sample-docs",
        type=int,
        default=2000,
        metavar="N",
        help="documents per domain the BPE is trained on (default 2000)",
    )
    p.add_argument("--text-field", default="text", help="JSONL / parquet field (default text)")
    p.add_argument("--docs-per-shard", type=int, default=2000, metavar="N", help="(default 2000)")
    p.add_argument(
        "--val-every",
        type=int,
        default=20,
        metavar="N",
        help="hold out every N-th document for validation (default 20)",
    )
    p.add_argument("--workers", type=int, default=1, help="tokenizer processes (default 1)")
    p.add_argument("--eos-token", default=None, help="end-of-document token (default: detected)")
    p.add_argument("--bin-dtype", default="uint16", choices=("uint16", "uint32"))
    p.add_argument(
        "--natinst-root",
        default=None,
        metavar="DIR",
        help="Natural Instructions folder for --demo (default $SKILLIT_NATINST, ../shared/natinst)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run, parser=p)


# names prepare writes at the top of OUT: no domain may take them
RESERVED_NAMES = ("manifest.json", "manifest.json.tmp", "tokenizer.json")


def _pairs(values: list[str], flag: str) -> list[tuple[str, Path]]:
    pairs = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise SkillitError(f"{flag} takes NAME=PATH, got {value!r}")
        check_name(name, f"{flag} name", reserved=RESERVED_NAMES)  # OUT/<name>/ holds its shards
        pairs.append((name, Path(path).expanduser()))
    return pairs


def _natinst_root(arg: str | None) -> Path | None:
    beside_checkout = Path(__file__).resolve().parents[3] / "shared" / "natinst"
    for raw in (arg, os.environ.get("SKILLIT_NATINST"), "../shared/natinst", beside_checkout):
        if raw and (Path(raw).expanduser() / "tasks").is_dir():
            return Path(raw).expanduser()
    return None


def run(args) -> int:
    from skillit.corpus.prepare import (
        DomainInput,
        PrepareOptions,
        eos_id_of,
        import_bin,
        iter_documents,
        prepare_domain,
        setup_tokenizer,
        write_manifest,
    )
    from skillit.corpus.shards import dtype_for
    from skillit.tokenization import load_tokenizer

    texts, bins, demo = _inputs(args)

    def documents(name: str):
        if name in demo:
            return demo[name][1]()
        return iter_documents(texts[name], args.text_field)

    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    sample = (
        doc
        for name in [*texts, *demo]
        for doc in itertools.islice(documents(name), args.bpe_sample_docs)
    )
    tokenizer_path = setup_tokenizer(out, args.tokenizer, args.bpe_vocab, sample)
    tokenizer = load_tokenizer(tokenizer_path)
    eos = eos_id_of(tokenizer, args.eos_token)
    dtype = dtype_for(tokenizer.get_vocab_size())
    if bins and args.bin_dtype != dtype:
        raise SkillitError(
            f"--bin-dtype {args.bin_dtype} does not fit the tokenizer's {tokenizer.get_vocab_size()} "
            f"tokens ({dtype}); the .bin files must hold {dtype} ids"
        )
    opts = PrepareOptions(
        docs_per_shard=args.docs_per_shard,
        val_every=args.val_every,
        text_field=args.text_field,
        workers=args.workers,
        progress=not args.no_progress,
    )
    entries = {}
    for name in [*texts, *demo]:
        where = texts[name] if name in texts else DomainInput(name, Path(demo[name][0]), "demo")
        entries[name] = prepare_domain(
            out, where, documents(name), tokenizer_path, dtype, eos, opts
        )
    for name, inp in bins.items():
        entries[name] = import_bin(inp, dtype)
    manifest = write_manifest(out, tokenizer_path, eos, entries)
    _print_summary(out, manifest)
    return 0


def _inputs(args) -> tuple[dict, dict, dict]:
    """(text domains, .bin domains, demo domains) from the flags, checked before any work."""
    from skillit.corpus.demo import demo_domains
    from skillit.corpus.prepare import DomainInput, detect_kind

    for flag, value in (("--docs-per-shard", args.docs_per_shard), ("--workers", args.workers)):
        if value < 1:
            raise SkillitError(f"{flag} must be >= 1, got {value}")
    if args.val_every < 2:
        raise SkillitError(
            f"--val-every must be >= 2 (1 would hold out everything), got {args.val_every}"
        )
    texts = {
        name: DomainInput(name, path, detect_kind(path))
        for name, path in _pairs(args.domain, "--domain")
    }
    bins = {
        name: DomainInput(name, path, detect_kind(path, True))
        for name, path in _pairs(args.bin, "--bin")
    }
    demo = demo_domains(_natinst_root(args.natinst_root)) if args.demo else {}
    names = [*texts, *bins, *demo]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SkillitError(f"domain names must be unique; given twice: {dupes}")
    if not names:
        raise SkillitError("nothing to prepare: give --domain NAME=PATH, --bin NAME=DIR or --demo")
    if bins and args.tokenizer is None:
        raise SkillitError("--bin needs --tokenizer (the tokenizer its token ids come from)")
    return texts, bins, demo


def _print_summary(out: Path, manifest) -> None:
    print(f"{'domain':<12} {'documents':>10} {'train tokens':>14} {'val tokens':>12}")
    for name, e in manifest.domains.items():
        print(f"{name:<12} {e.documents:>10} {e.train_tokens:>14,} {e.val_tokens:>12,}")
    print(f"wrote {out / 'manifest.json'} ({manifest.dtype}, vocabulary {manifest.vocab_size})")
    print(f"train on it: skillit train domains_cpu data.tokens.path={out}")
