"""What every system benchmark writes beside its table: one JSON file stamped with date and machine."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU cores"


def write_result(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write `payload` as JSON at `path` (folders created), with the date and machine first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamped = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), **payload}
    path.write_text(json.dumps(stamped, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def best_seconds(fn, repeats: int) -> float:
    """The fastest of `repeats` calls of fn(), in seconds (noise from other processes only slows)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
