"""Argument handling shared by the verbs that read run configs (train, graph learn)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from skillit.shipped import resolve_config


def split_items(
    items: Sequence[str], default_group: str = "experiment"
) -> tuple[list[Path], list[str]]:
    """CONFIG|KEY=VALUE items -> (config files, dot-list overrides); names become shipped files."""
    files = [resolve_config(i, default_group) for i in items if "=" not in i]
    overrides = [i for i in items if "=" in i]
    return files, overrides
