"""The configs shipped inside the package (skillit/configs/, installed as package data).

Commands accept a shipped config by name wherever they take a YAML path: `lego_cpt` is
experiment/lego_cpt.yaml, `graph_learn/lego_chain` is graph_learn/lego_chain.yaml. They are found
next to this module, so an installed (not editable) skillit finds them from any directory.
"""

from __future__ import annotations

from pathlib import Path

from skillit.errors import SkillitError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
SUITE_DIR = CONFIG_DIR / "suites"
EXPERIMENT_DIR = CONFIG_DIR / "experiment"


def experiment_names() -> list[str]:
    return sorted(p.stem for p in EXPERIMENT_DIR.glob("*.yaml"))


def resolve_config(item: str, default_group: str | tuple[str, ...] = "experiment") -> Path:
    """A YAML path as given, else a shipped config by name (in the first of `default_group` that
    has it, or by group/name)."""
    groups = (default_group,) if isinstance(default_group, str) else tuple(default_group)
    path = Path(item).expanduser()
    if path.is_file():
        return path
    if path.suffix in (".yaml", ".yml"):
        raise SkillitError(f"config file {path} does not exist")
    candidates = [CONFIG_DIR / group / f"{item}.yaml" for group in groups]
    for candidate in (*candidates, CONFIG_DIR / f"{item}.yaml"):
        if candidate.is_file():
            return candidate
    shipped = "; ".join(
        f"{group}: {', '.join(sorted(p.stem for p in (CONFIG_DIR / group).glob('*.yaml')))}"
        for group in groups
    )
    raise SkillitError(
        f"{item!r} is neither a config file nor a shipped config (an override is written "
        f"key=value); shipped configs, {shipped}"
    )
