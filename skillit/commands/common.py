"""Argument handling shared by the verbs that read run configs (train, graph learn)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from skillit.utils.shipped import resolve_config


def add_config_items(parser, nargs: str, what: str) -> None:
    """The CONFIG|KEY=VALUE positional of the verbs that read run configs."""
    parser.add_argument(
        "items",
        nargs=nargs,
        metavar="CONFIG|KEY=VALUE",
        help=f"YAML config files or names of shipped {what} configs, then dot-list overrides "
        "such as trainer.max_steps=200 or skills.train=[lego1,lego2]",
    )


def split_items(
    items: Sequence[str], default_group: str | tuple[str, ...] = "experiment"
) -> tuple[list[Path], list[str]]:
    """CONFIG|KEY=VALUE items -> (config files, dot-list overrides); names become shipped files."""
    files = [resolve_config(i, default_group) for i in items if "=" not in i]
    overrides = [i for i in items if "=" in i]
    return files, overrides
