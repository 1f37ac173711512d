"""The house rules, checked on the source: light config imports, no package cycles, layering."""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("skillit", "synthetic")


def unit_of(module: str) -> str | None:
    """skillit.mixing.updates -> skillit.mixing; skillit.config -> skillit.config; others None."""
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    return ".".join(parts[:2]) if parts[0] == "skillit" and len(parts) > 1 else parts[0]


@functools.cache
def imports_by_unit() -> dict[str, set[str]]:
    """Every import (module level or inside functions) between units of the code base."""
    edges: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(
                ".__init__"
            )
            source = unit_of(module)
            tree = ast.parse(path.read_text())
            typing_only = {
                id(child)
                for block in ast.walk(tree)
                if isinstance(block, ast.If) and getattr(block.test, "id", None) == "TYPE_CHECKING"
                for child in ast.walk(block)
            }  # imports under `if TYPE_CHECKING:` describe types, not a run-time dependency
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                for name in names:
                    target = unit_of(name)
                    if target and target != source and id(node) not in typing_only:
                        edges.setdefault(source, set()).add(target)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_import_graph_between_packages_has_no_cycle():
    assert find_cycle(imports_by_unit()) is None, find_cycle(imports_by_unit())


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None


# What turns a config into a trained run: the lowest layers know none of it.
RUN_MACHINERY = {
    "skillit.build",
    "skillit.config",
    "skillit.training",
    "skillit.data",
    "skillit.model",
    "skillit.callbacks",
    "skillit.run",
}


@pytest.mark.parametrize(
    "lower, forbidden",
    [
        (
            "skillit.mixing",
            {"skillit.graphlearn", "skillit.training", "skillit.graph", "skillit.model"},
        ),
        (
            "skillit.graph",
            {"skillit.graphlearn", "skillit.training", "skillit.model", "skillit.data"},
        ),
        (
            "skillit.build",
            {
                "skillit.training",
                "skillit.graphlearn",
                "skillit.bench",
                "skillit.data",
                "skillit.callbacks",
            },
        ),
        (
            "skillit.config",
            {
                "skillit.model",
                "skillit.training",
                "skillit.data",
                "skillit.build",
                "skillit.callbacks",
            },
        ),
        # a source knows skills and tokens: nothing of models, mixtures, runs or training
        ("skillit.sources", RUN_MACHINERY | {"skillit.mixing", "skillit.export"}),
        # callbacks are wired by training.py and never reach above it
        (
            "skillit.callbacks",
            {"skillit.training", "skillit.commands", "skillit.bench", "skillit.graphlearn"},
        ),
        (
            "skillit.data",
            {"skillit.build", "skillit.training", "skillit.callbacks", "skillit.config"},
        ),
        # small helpers: nothing of skillit but its errors
        (
            "skillit.utils",
            RUN_MACHINERY | {"skillit.mixing", "skillit.sources", "skillit.commands"},
        ),
        # the search and the bench drive runs: nothing that trains one reaches up to them
        (
            "skillit.training",
            {"skillit.search", "skillit.bench", "skillit.graphlearn", "skillit.commands"},
        ),
        ("skillit.bench", {"skillit.search", "skillit.graphlearn", "skillit.commands"}),
        ("synthetic", {"skillit"}),
    ],
)
def test_lower_layers_import_nothing_from_upper_ones(lower, forbidden):
    edges = imports_by_unit()
    reached = {
        t
        for t in edges.get(lower, set())
        if unit_of(t) in forbidden or t.split(".")[0] in forbidden
    }
    assert not reached, f"{lower} imports {sorted(reached)}"


def test_nothing_outside_synthetic_imports_a_private_module():
    offenders = []
    for folder in ("skillit", "benchmarks", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.ImportFrom)
                    and node.module
                    and node.module.startswith("synthetic.")
                ):
                    if any(part.startswith("_") for part in node.module.split(".")[1:]):
                        offenders.append(f"{path.relative_to(ROOT)}: {node.module}")
    assert not offenders


@pytest.mark.parametrize("module", ["skillit.config", "skillit.build", "skillit.cli"])
def test_config_and_build_layers_load_neither_torch_nor_lightning(module):
    code = (
        f"import sys, {module}; "
        "heavy = [m for m in ('torch', 'lightning', 'lightning.pytorch') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import {module} loaded {out.stdout.strip()}"


def test_building_the_cli_parser_loads_neither_torch_nor_lightning():
    """`skillit --help` must be quick: the parser of every verb is built without them."""
    import subprocess
    import sys

    code = (
        "import sys; from skillit.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('torch', 'lightning', 'matplotlib', 'transformers') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


# What code outside skillit/sources may import from it: the registry, the source interface, and
# (config.py only) the options dataclasses of the built-in sections.
SOURCE_INTERFACE = ("skillit.sources", "skillit.sources.registry", "skillit.sources.base")


def source_imports_outside_sources() -> list[tuple[str, str, list[str]]]:
    found = []
    for path in (ROOT / "skillit").rglob("*.py"):
        if path.is_relative_to(ROOT / "skillit" / "sources"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "skillit.sources"
            ):
                names = [alias.name for alias in node.names]
                found.append((str(path.relative_to(ROOT)), node.module, names))
    return found


def test_no_module_outside_the_sources_names_a_source_class():
    """The build layer, training, callbacks, bench and exports read the registry's
    capabilities; only config.py imports options dataclasses (its typed sections)."""
    offenders = [
        f"{path}: from {module} import {', '.join(names)}"
        for path, module, names in source_imports_outside_sources()
        if module not in SOURCE_INTERFACE
        and not (path == "skillit/config.py" and all(n.endswith("Config") for n in names))
    ]
    assert not offenders, offenders


def test_the_tokens_source_is_named_only_by_its_own_files_and_its_registry_entry():
    allowed = {"skillit/sources/tokens.py", "skillit/sources/registry.py"}
    # MDS's column `tokens` is LLM Foundry's name for the data, not the source
    allowed.add("skillit/corpus/sample_files.py")
    named = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "skillit").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value == "tokens"
    }
    assert named <= allowed, sorted(named - allowed)


def test_no_function_in_skillit_is_longer_than_60_lines():
    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})"
        for path in (ROOT / "skillit").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > 60
    ]
    assert not long, long
