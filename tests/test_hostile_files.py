"""Files a user points skillit at that are hostile or damaged get a skillit error naming them:
JSON nested past the recursion limit, lock files that are folders or name impossible pids, torch
files that load as weights but are no checkpoint, sizes that ask for more memory than there is."""

from __future__ import annotations

import os

import pytest
import torch

from skillit.cli import main
from skillit.errors import SkillitError
from skillit.graph.io import load_graph
from skillit.run.checkpoints import read_checkpoint
from skillit.run.directory import RunLock
from skillit.sources.jsonl import JsonlSource, JsonlSourceConfig

DEEP = "[" * 100_000 + "]" * 100_000


def test_a_graph_nested_past_the_recursion_limit_is_an_error_naming_it(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(DEEP)
    with pytest.raises(SkillitError, match=r"deep\.json: JSON nested too deeply"):
        load_graph(path, ["a", "b"])


def test_a_jsonl_line_nested_past_the_recursion_limit_is_an_error_naming_its_line(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text(
        '{"skill": "a", "prompt": "x", "answer": "y"}\n{"skill": "a", "x": ' + DEEP + "}\n"
    )
    with pytest.raises(SkillitError, match=r"deep\.jsonl:2: JSON nested too deeply"):
        JsonlSource(JsonlSourceConfig(path=str(path), val_size=1))


def test_a_lock_that_is_a_folder_is_refused_and_left_alone(tmp_path):
    (tmp_path / "run.lock").mkdir()
    with pytest.raises(SkillitError, match="not a lock file skillit wrote"):
        with RunLock(tmp_path):
            pass
    assert (tmp_path / "run.lock").is_dir()


@pytest.mark.parametrize("pid", ["99999999999999999999", "-5", "0", "\xff"])
def test_a_lock_naming_an_impossible_pid_is_stale_and_taken_over(tmp_path, pid):
    (tmp_path / "run.lock").write_text(f"{pid} 123\n")
    with RunLock(tmp_path):
        assert (tmp_path / "run.lock").read_text().split()[0] == str(os.getpid())


@pytest.mark.parametrize(
    "content",
    [{"state_dict": {"x": torch.zeros(2)}}, {"a": 1}, [1, 2], torch.zeros(3)],
    ids=["state_dict-only", "dict", "list", "tensor"],
)
def test_a_torch_file_that_is_no_checkpoint_is_refused_naming_what_it_lacks(tmp_path, content):
    path = tmp_path / "last.ckpt"
    torch.save(content, path)
    with pytest.raises(SkillitError, match=r"not a skillit checkpoint \(it has no .*global_step"):
        read_checkpoint(path)


def test_a_size_past_the_machines_memory_is_an_error_not_a_traceback(monkeypatch, capsys):
    from skillit.commands import generate

    def asks_too_much(args):
        raise MemoryError("Unable to allocate 745. GiB for an array")

    monkeypatch.setattr(generate, "run", asks_too_much)
    code = main(["generate", "lego", "--n", "1", "--output", os.devnull])
    err = capsys.readouterr().err
    assert code == 2 and "not enough memory (Unable to allocate 745. GiB" in err
