"""docs/own-skills.md: its four commands run as written, on a smaller copy of the example files
and with fewer steps, and print what the page says they print."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "own-skills.md"
# the page's budgets and the smaller ones this test runs (each must be in the page)
FEWER_STEPS = {"--steps 100": "--steps 6", "trainer.max_steps=300": "trainer.max_steps=12"}


def commands_block() -> str:
    """The bash block that follows the page's test marker."""
    text = DOC.read_text()
    found = re.search(r"<!-- tests/test_own_skills_doc\.py.*?-->\n```bash\n(.*?)```", text, re.S)
    assert found, f"{DOC} lost its marked commands block"
    return found.group(1)


def test_the_page_has_at_most_five_commands():
    # a `for` loop with its body is one command
    lines = [line for line in commands_block().splitlines() if line.strip()]
    top_level = [line for line in lines if not line.startswith((" ", "done"))]
    assert len(top_level) <= 5, top_level


@pytest.mark.slow
def test_the_own_skills_commands_run_as_the_page_shows(tmp_path):
    block = commands_block()
    for page, smaller in FEWER_STEPS.items():
        assert page in block, f"{DOC}: the commands no longer say {page!r}"
        block = block.replace(page, smaller)
    python = sys.executable
    subprocess.run(
        [python, str(ROOT / "docs/examples/my_skills.py"), "my_skills", "120"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PATH": f"{Path(python).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout

    graph = json.loads((tmp_path / "my-graph/graph.json").read_text())
    assert sorted(graph["train_skills"]) == ["add", "add_double", "double"]
    for strategy in ("skillit", "stratified"):
        for seed in (1, 2, 3):
            run = tmp_path / f"runs/mine/{strategy}-{seed}"
            final = json.loads((run / "final_eval.json").read_text())
            assert sorted(final["eval_acc"]) == ["add", "add_double", "double"]
            # the graph the first command learned (config.yaml records it as an absolute path)
            assert str(tmp_path / "my-graph/graph.json") in (run / "config.yaml").read_text()
    # `skillit runs`: six finished runs; `skillit compare`: the paired line over three seeds
    listed = [line for line in out.splitlines() if line.startswith("runs/mine/")]
    assert sum("finished" in line for line in listed) == 6
    assert re.search(r"skillit - stratified, mean acc over 3 shared seeds: [+-]\d", out), out[
        -2000:
    ]
