"""The CPU demo corpus: domains of real text that every Python ships with, no download.

- `python`: the Python standard library's top-level modules (code), one document per file;
- `pydoc`: the Python documentation topics shipped with the interpreter (`pydoc_data.topics`,
  English prose about the language), one document per topic;
- `docstrings`: the docstrings of the standard library's packages (asyncio, email, json, ...;
  their tests left out): English prose about APIs, one document per module;
- `unicode`: the Unicode character database of `unicodedata` for the code points below U+3000
  (alphabets, marks, symbols; no CJK): one line per named character (code point, name, general
  category, bidirectional class, decomposition), one document per block of 256 code points;
- `natinst`: the Natural Instructions sample's task instances (English input and first output),
  one document per instance, when its folder is found (--natinst-root, $SKILLIT_NATINST or
  `../shared/natinst`).

Small on purpose (about 5, 0.5, 0.8, 0.5 and 1 MB of text), and of unequal sizes: prepared and
trained on in minutes.

The second built-in set (`--demo-set stdlib`) is the source code of the standard library's
packages, one domain per family of packages (codec tables, the IDLE application, packaging
tools, concurrency, internet protocols, data formats, UI toolkits, testing, core libraries):
nine domains of one kind of text, from about 0.25 to 1.4 MB.

The text is the running Python's, so another Python version gives somewhat other documents. A domain that cannot be built here is reported by name, with why.
"""

from __future__ import annotations

import ast
import sysconfig
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

from skillit.utils import jsonio

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SKIPPED_PARTS = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}
UNICODE_END = 0x3000  # below the CJK blocks
DemoDomains = dict[str, tuple[str, Callable[[], Iterator[str]]]]
DEMO_SETS = ("mixed", "stdlib")  # --demo-set: the five mixed domains or the stdlib families


def python_sources() -> Iterator[str]:
    for path in sorted(STDLIB.glob("*.py")):
        yield path.read_text(encoding="utf-8", errors="replace")


def package_modules() -> list[Path]:
    """The modules of the standard library's packages (not its top-level files, not tests)."""
    return sorted(
        p for p in STDLIB.glob("*/**/*.py") if not SKIPPED_PARTS & set(p.relative_to(STDLIB).parts)
    )


def module_docstrings() -> Iterator[str]:
    for path in package_modules():
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError):  # e.g. lib2to3's deliberately broken files
            continue
        nodes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        docs = [ast.get_docstring(n) for n in ast.walk(tree) if isinstance(n, nodes)]
        text = "\n\n".join(d for d in docs if d)
        if text:
            yield text


def unicode_blocks() -> Iterator[str]:
    for start in range(0, UNICODE_END, 256):
        lines = []
        for code in range(start, start + 256):
            char = chr(code)
            name = unicodedata.name(char, "")
            if name:
                decomposition = unicodedata.decomposition(char) or "-"
                category, bidi = unicodedata.category(char), unicodedata.bidirectional(char)
                lines.append(f"U+{code:04X} {name} {category} {bidi} {decomposition}")
        if lines:
            yield "\n".join(lines)


def pydoc_topics() -> Iterator[str]:
    from pydoc_data.topics import topics

    for name in sorted(topics):
        yield topics[name]


# family -> its packages (top-level folders of the standard library); 3.12 and later lack
# distutils and lib2to3, so `packaging` is smaller there
STDLIB_FAMILIES = {
    "codecs": ("encodings",),
    "idle": ("idlelib",),
    "packaging": ("distutils", "lib2to3", "ensurepip", "venv"),
    "concurrency": ("asyncio", "concurrent", "multiprocessing"),
    "internet": ("email", "http", "urllib", "xmlrpc", "wsgiref"),
    "formats": ("xml", "html", "json", "tomllib"),
    "ui": ("tkinter", "turtledemo", "curses"),
    "testing": ("unittest",),
    "core": ("importlib", "collections", "re", "logging", "ctypes", "sqlite3", "dbm", "zoneinfo"),
}


def family_modules(packages: tuple[str, ...], modules: list[Path] | None = None) -> list[Path]:
    wanted = set(packages)
    every = package_modules() if modules is None else modules
    return [p for p in every if p.relative_to(STDLIB).parts[0] in wanted]


def family_sources(packages: tuple[str, ...]) -> Iterator[str]:
    for path in family_modules(packages):
        yield path.read_text(encoding="utf-8", errors="replace")


def stdlib_family_domains() -> tuple[DemoDomains, dict[str, str]]:
    """The `stdlib` set: one domain per family of packages (see STDLIB_FAMILIES)."""
    domains: DemoDomains = {}
    skipped: dict[str, str] = {}
    modules = package_modules()
    for family, packages in STDLIB_FAMILIES.items():
        if family_modules(packages, modules):
            where = f"{STDLIB}/{{{','.join(packages)}}}/**/*.py"
            domains[family] = (where, lambda packages=packages: family_sources(packages))
        else:
            skipped[family] = f"none of {', '.join(packages)} is in {STDLIB}"
    return domains, skipped


def natinst_instances(root: Path) -> Iterator[str]:
    for path in sorted((root / "tasks").glob("*.json")):
        task = jsonio.loads(path.read_text(encoding="utf-8"), path)
        for inst in task.get("Instances", []):
            outputs = inst.get("output") or [""]
            yield f"{inst.get('input', '')}\n{outputs[0]}"


def demo_domains(natinst_root: Path | None) -> tuple[DemoDomains, dict[str, str]]:
    """(name -> (where the text comes from, its documents in a fixed order), name -> why it
    cannot be built here)."""
    domains: DemoDomains = {"python": (f"{STDLIB}/*.py", python_sources)}
    skipped: dict[str, str] = {}
    try:
        import pydoc_data.topics  # noqa: F401  (some distributions leave it out)

        domains["pydoc"] = ("pydoc_data.topics", pydoc_topics)
    except ImportError:
        skipped["pydoc"] = "this Python has no pydoc_data (its documentation topics)"
    if package_modules():
        domains["docstrings"] = (f"{STDLIB}/*/**/*.py (docstrings)", module_docstrings)
    else:
        skipped["docstrings"] = f"no package modules under {STDLIB}"
    domains["unicode"] = (f"unicodedata {unicodedata.unidata_version}", unicode_blocks)
    if natinst_root is not None and (natinst_root / "tasks").is_dir():
        domains["natinst"] = (str(natinst_root / "tasks"), lambda: natinst_instances(natinst_root))
    else:
        skipped["natinst"] = (
            "no Natural Instructions folder found (give --natinst-root DIR, or set "
            "SKILLIT_NATINST, to a folder with tasks/*.json)"
        )
    return domains, skipped
