"""benchmarks/gpu_check.py --dry-run: every row's code path on CPU, as a reviewer runs it."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ROWS = ("gpt-eager", "gpt-compile", "neo-eager", "neo-compile", "framework", "fsdp")
# on a CPU: what must run, and what is skipped (torch.compile, and FSDP, which needs CUDA)
MUST_RUN = ("gpt-eager", "neo-eager", "framework")


def test_dry_run_reports_every_row(tmp_path):
    pytest.importorskip("transformers")  # row 2 builds GPT-Neo
    out = tmp_path / "x.json"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")}
    env.update(WANDB_MODE="disabled", CUDA_VISIBLE_DEVICES="")  # the CPU path even on a GPU box
    proc = subprocess.run(
        [
            sys.executable,
            "benchmarks/gpu_check.py",
            "--dry-run",
            "--out",
            str(out),
            "--cache",
            str(tmp_path / "cache"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["dry_run"] is True and result["failed"] == []
    rows = {r["key"]: r for r in result["rows"]}
    assert tuple(rows) == ROWS
    for key, row in rows.items():
        assert row["status"] in ("ok", "skipped"), (key, row["error"])
        assert row["title"] in proc.stdout  # its line of the printed table
        if row["status"] == "ok":
            for name in ("steps_per_s", "tokens_per_s"):
                assert math.isfinite(row[name]) and row[name] > 0, (key, name, row[name])
    for key in MUST_RUN:
        assert rows[key]["status"] == "ok", key
    assert "skipped on CPU" in rows["gpt-compile"]["note"]
    assert "skipped on CPU (needs CUDA)" in rows["fsdp"]["note"]
    # the framework row trains row 1's network and is compared with it
    assert rows["framework"]["params"] == rows["gpt-eager"]["params"]
    ratio = rows["framework"]["extra"]["ratio_to_bare"]
    assert math.isfinite(ratio) and ratio > 0
    assert "| row | status | steps/s | tokens/s | MFU | peak mem (GiB) | note |" in proc.stdout
