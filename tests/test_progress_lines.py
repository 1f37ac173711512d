"""Long commands through a pipe write plain progress lines (no carriage returns); a terminal
gets one live bar."""

from __future__ import annotations

import io

import numpy as np
from conftest import write_word_docs
from tqdm import tqdm

from skillit.utils.progress import PlainLines, progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_pipe_gets_a_line_at_each_tenth_and_a_terminal_a_live_bar():
    pipe = io.StringIO()
    with progress(total=20, desc="prepare web", unit="doc", stream=pipe) as bar:
        assert isinstance(bar, PlainLines)
        for _ in range(20):
            bar.update(1)
    lines = pipe.getvalue().splitlines()
    assert lines == [f"skillit: prepare web: {n}/20 doc" for n in range(2, 21, 2)]
    assert "\r" not in pipe.getvalue()
    assert isinstance(progress(total=3, stream=Terminal()), tqdm)
    unknown = io.StringIO()
    with progress(desc="prepare web", unit="doc", stream=unknown) as bar:
        bar.update(7)
    assert unknown.getvalue() == "skillit: prepare web: 7 doc\n"  # the final count, once


def test_prepare_through_a_pipe_writes_plain_progress_lines(tmp_path, capsys):
    write_word_docs(tmp_path / "web", 12, (20, 40), np.random.default_rng(0))
    from skillit.cli import main

    args = ["prepare", str(tmp_path / "corpus"), "--bpe-vocab", "300", "--val-every", "5"]
    assert main([*args, "--domain", f"web={tmp_path / 'web'}"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "skillit: prepare web: 12 doc" in err
