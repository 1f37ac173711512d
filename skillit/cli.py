"""The `skillit` command: each verb lives in skillit/commands/<verb>.py and only wires objects.

A command module provides ``register(subparsers)`` (cheap: argparse only, no torch import) and
``run(args) -> int``. User errors (:class:`SkillitError`) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from skillit import __version__
from skillit.errors import SkillitError
from skillit.utils.quiet import plain_skillit_warnings

COMMANDS = ("generate", "prepare", "corpus", "train", "graph", "bench", "mixture", "runs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skillit",
        description="Skill-based data selection for language-model training (Skill-It).",
    )
    parser.add_argument("--version", action="version", version=f"skillit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"skillit.commands.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    plain_skillit_warnings()
    args, extra = parser.parse_known_args(argv)
    if extra:  # CONFIG and key=value items may come after a flag too
        if hasattr(args, "items") and not any(e.startswith("-") for e in extra):
            args.items = [*args.items, *extra]
        else:
            getattr(args, "parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.run(args) or 0)
    except SkillitError as exc:
        print(f"skillit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"skillit {args.command}: interrupted", file=sys.stderr)
        return 130
    except MemoryError as exc:  # a size no check caught asks for more memory than there is
        asked = f" ({exc})" if str(exc) else ""
        print(
            f"skillit {args.command}: error: not enough memory{asked}; a size in the config or "
            "a flag (a batch, a validation or sample size, a vocabulary) asks for more than this "
            "machine has: lower it",
            file=sys.stderr,
        )
        return 2
    except BrokenPipeError:  # the reader went away (`skillit bench --list | head`)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (nothing more may be written)
        return 0


if __name__ == "__main__":
    sys.exit(main())
