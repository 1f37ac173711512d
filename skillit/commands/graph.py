"""`skillit graph`: not yet available in this build."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("graph", help="(not yet available)")
    p.set_defaults(run=run)


def run(args) -> int:
    from skillit.errors import SkillitError

    raise SkillitError("'skillit graph' is not available in this build yet")
