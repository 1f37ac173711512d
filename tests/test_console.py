"""The main job's console through a pipe (a cluster log): plain lines on one stream, each round
line on its own, no carriage returns or terminal escape codes."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.slow  # trains a few steps in a child process
def test_the_main_job_through_a_pipe_writes_plain_lines_only(tmp_path, tiny_ordered):
    child = subprocess.run(
        [sys.executable, "-m", "skillit.cli", "train", "ordered", *tiny_ordered(tmp_path / "run")],
        capture_output=True,
        check=True,
    )
    out = child.stdout
    for captured in (out, child.stderr):
        assert b"\r" not in captured and b"\x1b" not in captured
    lines = out.decode().splitlines()
    rounds = [x for x in lines if "(step " in x]
    assert len(rounds) == 6 and all(x.startswith("skillit: round ") for x in rounds)
    assert any(x.startswith("skillit: training on") for x in lines)
    progress = [x for x in lines if x.startswith("skillit: round ") and ": step " in x]
    assert progress  # plain progress lines, each with the loss of its own step's batch
    losses = [float(x.rsplit("batch loss ", 1)[1]) for x in progress]
    assert len(set(losses)) > len(losses) // 2, losses  # not one logged value repeated


def test_train_lists_the_shipped_experiments_with_what_each_is(capsys):
    from skillit.cli import main
    from skillit.utils.shipped import experiment_names

    assert main(["train", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == experiment_names()
    ordered = next(line for line in lines if line.startswith("ordered "))
    assert "quick start" in ordered  # the first line of the file's own comment
