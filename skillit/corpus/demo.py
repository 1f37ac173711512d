"""The CPU demo corpus: three domains of real text that every machine has, no download.

- `python`: the Python standard library's top-level modules (code), one document per file;
- `pydoc`: the Python documentation topics shipped with the interpreter (`pydoc_data.topics`,
  English technical prose), one document per topic;
- `natinst`: the Natural Instructions sample's task instances (English input and first output),
  one document per instance, when the sample is present (`../shared/natinst` or
  $SKILLIT_NATINST).

Small on purpose (about 5 MB, 0.5 MB and 1 MB of text): prepared and trained on in minutes.
"""

from __future__ import annotations

import json
import sysconfig
from collections.abc import Callable, Iterator
from pathlib import Path


def python_sources() -> Iterator[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.glob("*.py")):
        yield path.read_text(encoding="utf-8", errors="replace")


def pydoc_topics() -> Iterator[str]:
    from pydoc_data.topics import topics

    for name in sorted(topics):
        yield topics[name]


def natinst_instances(root: Path) -> Iterator[str]:
    for path in sorted((root / "tasks").glob("*.json")):
        task = json.loads(path.read_text(encoding="utf-8"))
        for inst in task.get("Instances", []):
            outputs = inst.get("output") or [""]
            yield f"{inst.get('input', '')}\n{outputs[0]}"


def demo_domains(natinst_root: Path | None) -> dict[str, tuple[str, Callable[[], Iterator[str]]]]:
    """name -> (where the text comes from, a function giving its documents in a fixed order)."""
    domains = {
        "python": (f"{sysconfig.get_paths()['stdlib']}/*.py", python_sources),
        "pydoc": ("pydoc_data.topics", pydoc_topics),
    }
    if natinst_root is not None and (natinst_root / "tasks").is_dir():
        domains["natinst"] = (str(natinst_root / "tasks"), lambda: natinst_instances(natinst_root))
    return domains
