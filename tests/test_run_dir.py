"""Nothing lost, nothing silent: run directories, the lock, resume, and checkpoints."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY_LEGO, kill_at

from skillit.cli import main
from skillit.errors import SkillitError
from skillit.run.directory import CONFIG_STATE_KEY, RunLock, claim_fresh_run_dir

TINY = TINY_LEGO


def skillit_train(run_dir: Path, *extra: str) -> int:
    return main(["train", "lego", f"run_dir={run_dir}", *TINY, *extra])


# -- the directory and its lock (no training) ------------------------------------------------------
def test_a_new_run_refuses_a_directory_that_holds_a_run(tmp_path):
    from skillit.utils.safe_paths import claim_names

    claim_names(tmp_path, ["config.yaml", "tokenizer.json", "checkpoints"])  # as a run records
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(SkillitError, match=r"already holds a run.*--resume.*--overwrite"):
        claim_fresh_run_dir(tmp_path, overwrite=False)
    claim_fresh_run_dir(tmp_path, overwrite=True)
    assert list(tmp_path.iterdir()) == []


def test_overwrite_never_empties_a_directory_that_is_not_a_run(tmp_path):
    (tmp_path / "config.yaml").write_text("my own settings\n")  # a user's file of that name
    (tmp_path / "thesis.tex").write_text("months of work")
    with pytest.raises(SkillitError, match=r"not a skillit run \(config.yaml, thesis.tex\)"):
        claim_fresh_run_dir(tmp_path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "thesis.tex"]


def test_overwrite_of_a_run_still_training_is_refused_before_anything_is_deleted(tmp_path, capsys):
    """--overwrite into the folder of a live run: the lock is taken first, so nothing goes."""
    from skillit.run.directory import _start_time

    (tmp_path / ".skillit-run").touch()
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    (tmp_path / "mixture_history.jsonl").write_text('{"round": 1}\n')
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "run.lock").write_text(f"{writer.pid} {_start_time(writer.pid) or ''}\n")
        assert skillit_train(tmp_path, "--overwrite") == 2
    finally:
        writer.kill()
        writer.wait()
    assert "being written by another skillit process" in capsys.readouterr().err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [".skillit-run", "config.yaml", "mixture_history.jsonl", "run.lock"]


@pytest.mark.parametrize("name", ["../../escape", "/abs", "a/b", "..", "", "x\\y"])
def test_a_run_name_that_is_not_one_path_component_is_refused(name):
    from skillit.config import load_config

    with pytest.raises(SkillitError, match="name .* is not a valid name"):
        load_config([], [f"name={name}" if name else "name=''"])


def test_deletes_are_confined_to_their_folder(tmp_path):
    from skillit.utils.safe_paths import remove_inside

    run, outside = tmp_path / "run", tmp_path / "precious"
    run.mkdir(), outside.mkdir()
    (outside / "keep.txt").write_text("x")
    (run / "link").symlink_to(outside)
    for target in (run / ".." / "precious", run, run / "link" / "keep.txt", tmp_path):
        with pytest.raises(SkillitError, match="refusing to delete"):
            remove_inside(run, target)
    remove_inside(run, run / "link")  # the link itself is inside: it goes, not what it names
    assert (outside / "keep.txt").read_text() == "x" and not (run / "link").exists()


def test_a_second_writer_is_refused_and_a_dead_writers_lock_is_taken_over(tmp_path):
    from skillit.run.directory import _start_time

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = _start_time(other.pid)
        (tmp_path / "run.lock").write_text(f"{other.pid} {started}\n")  # a live writer
        with pytest.raises(
            SkillitError, match=rf"another skillit process \(pid {other.pid}\).*remove"
        ):
            RunLock(tmp_path).__enter__()
        # the same pid with another start time: the system reused a dead writer's pid
        (tmp_path / "run.lock").write_text(f"{other.pid} 1\n")
        with RunLock(tmp_path) as lock:
            assert lock.path.read_text().split()[0] == str(os.getpid())
            with RunLock(tmp_path):  # the holder taking it again: a no-op
                pass
            assert lock.path.is_file()  # still held until the outer one ends
    finally:
        other.kill()
        other.wait()
    assert not (tmp_path / "run.lock").exists()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (tmp_path / "run.lock").write_text(dead.stdout)  # a writer killed with SIGKILL left this
    with RunLock(tmp_path) as lock:
        assert lock.path.read_text().split()[0] == str(os.getpid())


def test_an_unwritable_run_dir_is_a_clear_error(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert skillit_train(target) == 2
    assert "is a file, not a directory" in capsys.readouterr().err


# -- runs through the CLI -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    assert skillit_train(run_dir) == 0
    return run_dir


@pytest.mark.slow
def test_two_runs_into_one_directory_the_second_is_refused(finished_run, capsys):
    before = (finished_run / "mixture_history.jsonl").read_text()
    assert skillit_train(finished_run) == 2
    assert "--resume" in capsys.readouterr().err
    assert (finished_run / "mixture_history.jsonl").read_text() == before


@pytest.mark.slow
def test_resuming_a_finished_run_says_so_and_exits_zero(finished_run, capsys):
    assert main(["train", "--resume", str(finished_run)]) == 0
    assert "is finished (step 12 of 12)" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize(
    "override, message",
    [
        ("mixing.skillit.eta=2.0", r"change mixing\.skillit\.eta"),
        ("seed=3", r"change seed"),
        ("trainer.max_steps=24", r"cannot be extended.*model\.init_from="),
    ],
)
def test_a_resume_that_would_change_the_trajectory_is_refused_and_changes_nothing(
    finished_run, capsys, override, message
):
    config = (finished_run / "config.yaml").read_text()
    assert main(["train", "--resume", str(finished_run), override]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert (finished_run / "config.yaml").read_text() == config


@pytest.fixture
def stopped_run(tmp_path):
    """A run stopped after its first round: its checkpoint is round 1's, final_eval.json absent."""
    run_dir = tmp_path / "stopped"
    assert skillit_train(run_dir, "trainer.max_steps=4", "mixing.rounds=1") == 0
    config = (run_dir / "config.yaml").read_text().replace("max_steps: 4", "max_steps: 12")
    config = config.replace("rounds: 1", "rounds: 3")
    (run_dir / "config.yaml").write_text(config)
    # the checkpoint keeps the config it was trained with: make it the one of a 3-round run
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    state[CONFIG_STATE_KEY] = config
    torch.save(state, ckpt)
    (run_dir / "final_eval.json").unlink()
    return run_dir


@pytest.mark.slow
def test_a_refused_resume_then_a_plain_resume_continues(stopped_run, capsys):
    assert main(["train", "--resume", str(stopped_run), "optim.lr=0.5"]) == 2
    assert main(["train", "--resume", str(stopped_run), "trainer.progress_bar=false"]) == 0
    recorded = [json.loads(x) for x in (stopped_run / "resumes.jsonl").read_text().splitlines()]
    assert len(recorded) == 1 and recorded[0]["changed"] == {}  # the same value: nothing changed
    assert json.loads((stopped_run / "final_eval.json").read_text())["global_step"] == 12


@pytest.mark.slow
def test_a_corrupt_checkpoint_names_the_file_and_the_previous_one(stopped_run, capsys):
    ckpt = stopped_run / "checkpoints" / "last.ckpt"
    (stopped_run / "checkpoints" / "previous.ckpt").write_bytes(ckpt.read_bytes())
    ckpt.write_bytes(ckpt.read_bytes()[:100])  # truncated, as a full disk leaves it
    assert main(["train", "--resume", str(stopped_run)]) == 2
    err = capsys.readouterr().err
    assert f"checkpoint {ckpt} cannot be read" in err and "previous.ckpt" in err
    assert not (stopped_run / "resumes.jsonl").exists()  # nothing changed in the run directory


def test_a_checkpoint_write_that_fails_keeps_the_last_complete_one(tmp_path):
    from types import SimpleNamespace

    from skillit.run.checkpoints import RoundCheckpoint

    saver = RoundCheckpoint(tmp_path)
    saver.last.parent.mkdir(parents=True)
    saver.last.write_bytes(b"round 1")

    def dies(path, weights_only=False):
        Path(path).write_bytes(b"partial")
        raise OSError("No space left on device")

    trainer = SimpleNamespace(
        sanity_checking=False, is_global_zero=True, save_checkpoint=dies, global_step=8
    )
    with pytest.raises(SkillitError, match=r"step 8.*No space left.*is kept"):
        saver.on_train_epoch_end(trainer, None)
    assert saver.last.read_bytes() == b"round 1" and not saver.tmp.exists()

    def writes(path, weights_only=False):
        torch.save({"round": 2}, path)

    trainer.save_checkpoint = writes
    saver.on_train_epoch_end(trainer, None)
    assert torch.load(saver.last)["round"] == 2 and saver.previous.read_bytes() == b"round 1"


@pytest.fixture
def small_disk(tmp_path):
    """A 400 kB file system: one checkpoint of the tiny run (258 kB) fits, two do not."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({made.stderr.decode().strip()})")
    yield mount
    subprocess.run(["umount", str(mount)], capture_output=True)


@pytest.mark.slow
def test_a_full_disk_stops_the_run_with_a_message_and_keeps_the_last_checkpoint(small_disk, capsys):
    run_dir = small_disk / "run"
    assert skillit_train(run_dir, "logger.csv=false") == 2
    err = capsys.readouterr().err
    assert "could not write the checkpoint" in err and "is kept" in err
    assert not (run_dir / "checkpoints" / ".last.ckpt.tmp").exists()
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert state["global_step"] == 4  # round 1's, whole


KILL_DURING_PUBLISH = """
import os, signal, sys
import skillit.run.checkpoints as ck
real = os.replace
calls = []
def replace(src, dst):
    calls.append(src)
    if str(src).endswith(".last.ckpt.tmp") and len([c for c in calls if str(c).endswith(".last.ckpt.tmp")]) == 2:
        with open(src, "r+b") as fh:
            fh.truncate(100)  # the second checkpoint half written, then the process is killed
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst)
ck.os.replace = replace
from skillit.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_run_killed_while_writing_a_checkpoint_resumes_from_the_last_whole_one(tmp_path):
    run_dir = tmp_path / "run"
    args = ["train", "lego", f"run_dir={run_dir}", *TINY]
    killed = subprocess.run([sys.executable, "-c", KILL_DURING_PUBLISH, *args], capture_output=True)
    assert killed.returncode == -9
    assert (run_dir / "run.lock").exists()  # left by the killed process
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 4
    assert main(["train", "--resume", str(run_dir)]) == 0  # the dead writer's lock is taken over
    assert json.loads((run_dir / "final_eval.json").read_text())["global_step"] == 12
    assert not (run_dir / "run.lock").exists()


def test_a_run_that_fails_before_writing_leaves_no_folder(tmp_path, capsys):
    run_dir = tmp_path / "never"
    assert skillit_train(run_dir, "mixing.strategy=skillit", "mixing.graph.path=nope.json") == 2
    assert "nope.json does not exist" in capsys.readouterr().err
    assert not run_dir.exists()


def test_a_read_only_run_directory_is_a_clear_error_before_training(tmp_path, capsys):
    mount = tmp_path / "ro"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here ({made.stderr.decode().strip()})")
    try:
        assert skillit_train(mount) == 2
        assert f"run_dir={mount}" in capsys.readouterr().err
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


@pytest.mark.slow  # one tiny run in a subprocess, as a user sees it
def test_the_console_shows_one_device_line_and_no_framework_banners(tmp_path):
    cmd = [sys.executable, "-m", "skillit.cli", "train", "lego", f"run_dir={tmp_path / 'r'}", *TINY]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert out.count("skillit: training on 1 x cpu") == 1
    for banner in ("GPU available", "TPU available", "Tip:", "wandb: WARNING", "weights_only"):
        assert banner not in out


def test_the_progress_bar_names_the_round_and_the_step_and_drops_the_logger_version():
    from types import SimpleNamespace

    from skillit.callbacks.progress import RoundProgressBar

    bar = RoundProgressBar(rounds=4, total_steps=2000)
    logger = SimpleNamespace(version="u81q")
    trainer = SimpleNamespace(
        loggers=[logger], progress_bar_metrics={"train/loss": 0.5}, global_step=750
    )
    items = bar.get_metrics(trainer, None)
    assert "v_num" not in items and items["step"] == "750/2000" and items["train/loss"] == 0.5


@pytest.mark.slow
def test_a_resume_refused_because_another_run_writes_there_writes_nothing(stopped_run, capsys):
    from skillit.run.directory import _start_time

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (stopped_run / "run.lock").write_text(f"{other.pid} {_start_time(other.pid)}\n")
        assert main(["train", "--resume", str(stopped_run)]) == 2
    finally:
        other.kill()
        other.wait()
    assert "being written by another skillit process" in capsys.readouterr().err
    assert not (stopped_run / "resumes.jsonl").exists()


def test_a_run_killed_before_its_first_checkpoint_is_still_a_run_for_overwrite(
    run_config, tmp_path
):
    from skillit.training import train

    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(run_config(run_dir), extra_callbacks=[kill_at()])
    (run_dir / "tokenizer.json").unlink()  # as if killed before it was written
    assert (run_dir / ".skillit-run").is_file() and not (run_dir / "checkpoints").exists()
    claim_fresh_run_dir(run_dir, overwrite=True)  # the marker says it is a run: emptied
    assert list(run_dir.iterdir()) == []


def test_a_run_killed_after_its_last_checkpoint_resumes_into_its_final_evaluation(tmp_path):
    # the window between the last round's checkpoint and final_eval.json: the final weights
    # were evaluated before that checkpoint was saved, so a resume finishes from the record
    run_dir = tmp_path / "run"
    assert skillit_train(run_dir) == 0
    final = (run_dir / "final_eval.json").read_text()
    (run_dir / "final_eval.json").unlink()
    assert main(["train", "--resume", str(run_dir)]) == 0
    assert (run_dir / "final_eval.json").read_text() == final


def test_a_resume_after_an_input_file_changed_is_refused_naming_it_unless_accepted(
    tmp_path, capsys
):
    data = tmp_path / "skills.jsonl"
    rows = [
        {"skill": s, "prompt": f"{s} {i} =", "answer": str(i % 7)} for s in "ab" for i in range(40)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run_dir = tmp_path / "run"
    args = [*TINY[3:], "data.source=jsonl", f"data.jsonl.path={data}", "data.jsonl.val_size=8"]
    assert main(["train", f"run_dir={run_dir}", *args]) == 0
    recorded = json.loads((run_dir / "inputs.json").read_text())
    assert recorded["data.jsonl.path"]["path"] == str(data.resolve())
    (run_dir / "final_eval.json").unlink()  # as if killed before it: the resume has work to do
    data.write_text(data.read_text().replace("a 3 =", "a 3 ="[::-1]))  # one line edited
    assert main(["train", "--resume", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "data.jsonl.path" in err and "changed" in err and "--accept-changed-inputs" in err
    assert not (run_dir / "resumes.jsonl").exists() and not (run_dir / "final_eval.json").exists()
    assert main(["train", "--resume", str(run_dir), "--accept-changed-inputs"]) == 0
    line = json.loads((run_dir / "resumes.jsonl").read_text().splitlines()[-1])
    assert line["accepted_changed_inputs"] == [f"data.jsonl.path ({data.resolve()}: changed)"]
