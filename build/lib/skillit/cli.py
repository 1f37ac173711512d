"""The `skillit` command: each verb lives in skillit/commands/<verb>.py and only wires objects.

A command module provides ``register(subparsers)`` (cheap: argparse only, no torch import) and
``run(args) -> int``. User errors (:class:`SkillitError`) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from skillit.errors import SkillitError

COMMANDS = ("generate", "train", "graph", "bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skillit",
        description="Skill-based data selection for language-model training (Skill-It).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"skillit.commands.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except SkillitError as exc:
        print(f"skillit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"skillit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
