"""`skillit prepare OUT --domain NAME=PATH ...`: token shards per domain for `data.source=tokens`."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from pathlib import Path

from skillit.corpus.demo import DEMO_SETS
from skillit.errors import SkillitError
from skillit.run.directory import RunLock
from skillit.utils.safe_paths import check_name, claim_names, remove_owned, write_inside

DESCRIPTION = """\
Tokenize text per domain into token shards and a manifest that `data.source=tokens` trains on:

  skillit prepare corpus/ --domain code=src/ --domain web=web.jsonl --bpe-vocab 8192
  skillit prepare corpus/ --domain books=books.parquet --tokenizer neox/tokenizer.json
  skillit prepare corpus/ --bin arxiv=nanogpt/arxiv --tokenizer gpt2/tokenizer.json
  skillit prepare corpus/ --demo --bpe-vocab 4096      # the built-in CPU demo corpus
  skillit prepare stdlib/ --demo --demo-set stdlib --bpe-vocab 4096   # nine stdlib families

A domain's PATH is a folder of .txt files, a .jsonl file or folder (--text-field), parquet files
or a `datasets` folder saved with save_to_disk (pip install 'skillit[corpora]'); --bin lists an
existing train.bin / val.bin pair of flat token ids as it is, once each id is found inside the
tokenizer's vocabulary. Every --val-every-th document is held out for validation. Rerunning
into the same OUT continues an interrupted prepare, with the same settings (a rerun with others
is refused, naming them; --fresh starts again). One prepare at a time writes into OUT
(OUT/prepare.lock).
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
    _add_demo_arguments(p)
    p.add_argument(
        "--tokenizer", metavar="PATH", help="a tokenizer.json to use as it is (or --bpe-vocab)"
    )
    p.add_argument(
        "--bpe-vocab", type=int, metavar="N", help="train a byte BPE of N tokens (or --tokenizer)"
    )
    p.add_argument(
        "--bpe-sample-docs",
        type=int,
        default=2000,
        metavar="N",
        help="documents per domain the BPE is trained on (default 2000; at most 32 MiB of "
        "their text)",
    )
    p.add_argument("--text-field", default="text", help="JSONL / parquet field (default text)")
    p.add_argument("--docs-per-shard", type=int, default=2000, metavar="N", help="(default 2000)")
    p.add_argument(
        "--val-every",
        type=int,
        default=20,
        metavar="N",
        help="hold out every N-th document for validation (default 20; a domain of one "
        "document: its first 1/N of tokens)",
    )
    p.add_argument("--workers", type=int, default=1, help="tokenizer processes (default 1)")
    p.add_argument(
        "--eos-token",
        default=None,
        help="end-of-document token, not the padding token (default: detected)",
    )
    p.add_argument("--bin-dtype", default="uint16", choices=("uint16", "uint32"))
    p.add_argument(
        "--fresh",
        action="store_true",
        help="discard what an earlier prepare wrote into OUT (manifest, tokenizer, settings and "
        "its domain folders) and start again; without it a rerun continues, with the same settings",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run, parser=p)


def _add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--demo", action="store_true", help="the built-in CPU demo domains")
    p.add_argument(
        "--demo-set",
        choices=DEMO_SETS,
        default="mixed",
        help="which built-in set --demo builds: mixed (default: Python sources, Python docs, "
        "docstrings, the Unicode table, Natural Instructions) or stdlib (the standard "
        "library's package sources, one domain per family of packages: nine domains of "
        "unequal sizes)",
    )
    p.add_argument(
        "--natinst-root",
        default=None,
        metavar="DIR",
        help="Natural Instructions folder for --demo (default $SKILLIT_NATINST, ../shared/natinst)",
    )


# names prepare writes at the top of OUT: no domain may take them
SETTINGS_FILE = "prepare.json"  # the settings OUT was prepared with: a rerun must match them
LOCK_NAME = "prepare.lock"  # one prepare at a time into OUT
RESERVED_NAMES = ("manifest.json", "manifest.json.tmp", "tokenizer.json", SETTINGS_FILE, LOCK_NAME)
# flags that decide the shards (not --workers or --no-progress)
SETTING_FLAGS = {
    "bpe_vocab": "--bpe-vocab",
    "bpe_sample_docs": "--bpe-sample-docs",
    "text_field": "--text-field",
    "docs_per_shard": "--docs-per-shard",
    "val_every": "--val-every",
    "eos_token": "--eos-token",
    "bin_dtype": "--bin-dtype",
    "tokenizer_sha256": "--tokenizer",
}


def _settings(args) -> dict:
    from skillit.corpus.shards import file_sha256

    given = Path(args.tokenizer).expanduser() if args.tokenizer else None
    settings = {key: getattr(args, key, None) for key in SETTING_FLAGS if key != "tokenizer_sha256"}
    settings["tokenizer_sha256"] = file_sha256(given) if given and given.is_file() else None
    if given is not None:
        settings["bpe_vocab"] = settings["bpe_sample_docs"] = None  # no BPE is trained
    return settings


def _claim_out(out: Path, args, names: list[str], inputs: list[Path]) -> None:
    """Refuse a rerun whose settings differ from OUT's (naming them), or with --fresh remove
    what the earlier prepare wrote (only what OUT's .skillit-owned.json records, never a folder
    holding an input); then record this prepare's settings and domains."""
    path = out / SETTINGS_FILE
    earlier = None
    if path.is_file():
        try:
            earlier = json.loads(path.read_text())
        except ValueError:
            earlier = None  # unreadable: rewritten below (it is ours)
    earlier = earlier if isinstance(earlier, dict) else None
    before = earlier.get("settings", {}) if earlier else {}
    settings = _settings(args)
    if args.fresh:
        old_domains = earlier.get("domains", []) if earlier else []
        doomed = {*old_domains, *names, "manifest.json", "manifest.json.tmp", "tokenizer.json"}
        for name in doomed:
            target = out / check_name(str(name), "a domain of the earlier prepare")
            held = [p for p in inputs if p.resolve().is_relative_to(target.resolve())]
            if held:
                raise SkillitError(
                    f"--fresh would delete {target}, which holds the input {held[0]}; prepare "
                    "into another folder"
                )
        remove_owned(out, map(str, doomed), why="--fresh", lock=LOCK_NAME)
    elif earlier is not None:
        changed = [
            f"{flag} ({before.get(key)!r} -> {settings[key]!r})"
            for key, flag in SETTING_FLAGS.items()
            if before.get(key) != settings[key]
        ]
        if changed:
            raise SkillitError(
                f"{out} was prepared with other settings: {', '.join(changed)}; rerun with the "
                "same ones to continue it, prepare into a new folder, or add --fresh to start "
                "it again"
            )
    kept = earlier.get("domains", []) if earlier and not args.fresh else []
    domains = sorted({*names, *map(str, kept)})
    # before any is written: the names a later --fresh may delete (a user's file there stays out)
    owned = [n for n in RESERVED_NAMES if n != LOCK_NAME]
    claim_names(out, [*owned, *names])
    record = json.dumps({"settings": settings, "domains": domains}, indent=2) + "\n"
    write_inside(out, SETTINGS_FILE, record)


def _pairs(values: list[str], flag: str) -> list[tuple[str, Path]]:
    pairs = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise SkillitError(f"{flag} takes NAME=PATH, got {value!r}")
        check_name(name, f"{flag} name", reserved=RESERVED_NAMES)  # OUT/<name>/ holds its shards
        if any(name == n for n, _ in pairs):
            raise SkillitError(f"{flag} names domain {name!r} twice; give each domain once")
        pairs.append((name, Path(path).expanduser()))
    return pairs


def _natinst_root(arg: str | None) -> Path | None:
    beside_checkout = Path(__file__).resolve().parents[3] / "shared" / "natinst"
    for raw in (arg, os.environ.get("SKILLIT_NATINST"), "../shared/natinst", beside_checkout):
        if raw and (Path(raw).expanduser() / "tasks").is_dir():
            return Path(raw).expanduser()
    return None


def run(args) -> int:
    from skillit.corpus.prepare import iter_documents

    texts, bins, demo = _inputs(args)

    def documents(name: str):
        if name in demo:
            return demo[name][1]()
        return iter_documents(texts[name], args.text_field)

    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise SkillitError(f"OUT {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SkillitError(f"OUT {out} cannot be created: {exc.strerror or exc}") from None
    with RunLock(out, LOCK_NAME):
        inputs = [d.path for d in (*texts.values(), *bins.values())]
        try:
            _claim_out(out, args, [*texts, *bins, *demo], inputs)
            _prepare_into(out, args, texts, bins, demo, documents)
        except OSError as exc:
            raise _os_error(out, exc) from None
    return 0


def _os_error(out: Path, exc: OSError) -> SkillitError:
    """A failed read or write (a full disk, a file it may not read) as what to do about it; the
    chunks already complete are kept, what was half-written is gone."""
    where = exc.filename or out
    rerun = "then rerun the same command: it keeps the chunks already complete"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return SkillitError(
            f"no space left on the device writing {where} ({exc.strerror}); free some space, "
            f"or prepare into a folder on another disk; {rerun}"
        )
    return SkillitError(f"{where}: {exc.strerror or exc}; fix it, {rerun}")


def _prepare_into(out: Path, args, texts: dict, bins: dict, demo: dict, documents) -> None:
    from skillit.corpus.prepare import (
        DomainInput,
        PrepareOptions,
        bpe_sample,
        import_bin,
        prepare_domain,
        setup_tokenizer,
        write_manifest,
    )
    from skillit.corpus.shards import dtype_for
    from skillit.utils.tokenization import load_tokenizer

    sample = bpe_sample((documents(name) for name in [*texts, *demo]), args.bpe_sample_docs)
    tokenizer_path = setup_tokenizer(out, args.tokenizer, args.bpe_vocab, sample)
    tokenizer = load_tokenizer(tokenizer_path)
    eos = end_of_document_id(tokenizer, args.eos_token)
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
        entries[name] = import_bin(inp, dtype, tokenizer.get_vocab_size())
    manifest = write_manifest(out, tokenizer_path, eos, entries)
    _print_summary(out, manifest)


def _inputs(args) -> tuple[dict, dict, dict]:
    """(text domains, .bin domains, demo domains) from the flags, checked before any work."""
    from skillit.corpus.demo import demo_domains, stdlib_family_domains
    from skillit.corpus.prepare import DomainInput, detect_kind

    for flag, value in (("--docs-per-shard", args.docs_per_shard), ("--workers", args.workers)):
        if value < 1:
            raise SkillitError(f"{flag} must be >= 1, got {value}")
    if args.bpe_vocab is not None and not 260 <= args.bpe_vocab <= 2**22:
        raise SkillitError(
            f"--bpe-vocab must be between 260 (the 256 bytes and the special tokens) and "
            f"{2**22}, got {args.bpe_vocab}"
        )
    if args.bpe_sample_docs < 1:
        raise SkillitError(f"--bpe-sample-docs must be >= 1, got {args.bpe_sample_docs}")
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
    demo: dict = {}
    if args.demo_set != "mixed" and not args.demo:
        raise SkillitError(f"--demo-set {args.demo_set} chooses what --demo builds: add --demo")
    if args.demo:
        demo, skipped = (
            stdlib_family_domains()
            if args.demo_set == "stdlib"
            else demo_domains(_natinst_root(args.natinst_root))
        )
        for name, why in skipped.items():
            print(f"skillit prepare: demo domain {name!r} not built: {why}", file=sys.stderr)
    names = [*texts, *bins, *demo]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SkillitError(f"domain names must be unique; given twice: {dupes}")
    if not names:
        raise SkillitError("nothing to prepare: give --domain NAME=PATH, --bin NAME=DIR or --demo")
    if bins and args.tokenizer is None:
        raise SkillitError("--bin needs --tokenizer (the tokenizer its token ids come from)")
    _check_tokenizer_flags(args)
    return texts, bins, demo


def _check_tokenizer_flags(args) -> None:
    """--tokenizer, --bpe-vocab and --eos-token checked before anything is written into OUT."""
    from skillit.utils.tokenization import PAD, SPECIAL_TOKENS, load_tokenizer

    if args.tokenizer is not None and args.bpe_vocab is not None:
        raise SkillitError(
            "give --tokenizer (a tokenizer used as it is) or --bpe-vocab (a byte BPE trained on "
            "the domains), not both"
        )
    if args.tokenizer is not None:
        end_of_document_id(load_tokenizer(Path(args.tokenizer).expanduser()), args.eos_token)
    elif args.eos_token == PAD:  # the trained BPE pads with it
        raise SkillitError(_eos_is_pad(PAD, PAD, SPECIAL_TOKENS.index(PAD)))


def end_of_document_id(tokenizer, eos_token: str | None) -> int:
    """The tokenizer's end-of-document id, refused where it is also its padding token: the
    tokens source would read every end of document as padding."""
    from skillit.corpus.prepare import eos_id_of
    from skillit.utils.tokenization import pad_id_of

    eos = eos_id_of(tokenizer, eos_token)
    pad = pad_id_of(tokenizer, tokenizer.get_vocab_size())
    if eos == pad:
        raise SkillitError(_eos_is_pad(tokenizer.id_to_token(eos), tokenizer.id_to_token(pad), pad))
    return eos


def _eos_is_pad(eos: str, pad: str, pad_id: int) -> str:
    return (
        f"the end-of-document token {eos!r} (--eos-token) is the tokenizer's padding token "
        f"{pad!r} (id {pad_id}): every end of document would be read as padding; name another "
        "token with --eos-token"
    )


def _print_summary(out: Path, manifest) -> None:
    print(f"{'domain':<12} {'documents':>10} {'train tokens':>14} {'val tokens':>12}")
    for name, e in manifest.domains.items():
        print(f"{name:<12} {e.documents:>10} {e.train_tokens:>14,} {e.val_tokens:>12,}")
    print(f"wrote {out / 'manifest.json'} ({manifest.dtype}, vocabulary {manifest.vocab_size})")
    print(f"train on it: skillit train domains_cpu data.tokens.path={out}")
