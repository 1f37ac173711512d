"""What skillit may delete and write: only what it recorded creating in a folder, under the
folder's lock, never through a symbolic link (skillit.utils.safe_paths)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY_GRAPH_YAML, TINY_LEGO, TINY_RUN, kill_at, prepare_corpus, write_word_docs

from skillit.cli import main
from skillit.errors import SkillitError
from skillit.run.directory import (
    FINAL_FILE,
    LOCK_FILE,
    RESUMES_FILE,
    RUN_LAYOUT,
    RUN_MARKER,
    RunLock,
    claim_fresh_run_dir,
)
from skillit.utils import safe_paths
from skillit.utils.safe_paths import OWNED_FILE, claim_names, owned_names, remove_owned

TINY = [*TINY_LEGO, "trainer.max_steps=8", "mixing.rounds=2", "mixing.plots=true"]
GRAPH_YAML = TINY_GRAPH_YAML


def names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def outside_file(tmp_path: Path, text: str = "precious") -> Path:
    """A file of the user's, outside every folder skillit writes into."""
    path = tmp_path / "elsewhere" / "precious.txt"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def recorded_run(folder: Path) -> Path:
    """A run's folder as a run records it (no training): the layout claimed, then its files."""
    folder.mkdir(parents=True, exist_ok=True)
    claim_names(folder, RUN_LAYOUT)
    (folder / RUN_MARKER).touch()
    (folder / "config.yaml").write_text("seed: 0\n")
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "last.ckpt").write_text("weights")
    return folder


# -- deletes: only what skillit recorded creating ------------------------------------------------
def test_overwrite_refuses_another_tools_folder_that_looks_like_a_run(tmp_path, capsys):
    """config.yaml beside checkpoints/ used to pass for a run, and --overwrite emptied it."""
    (tmp_path / "config.yaml").write_text("another tool's settings\n")
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "model.pt").write_text("weeks of training")
    assert main(["train", "lego", f"run_dir={tmp_path}", *TINY, "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "--overwrite would have removed checkpoints, config.yaml" in err
    assert f"there is no {OWNED_FILE}" in err
    assert names_in(tmp_path) == ["checkpoints", "config.yaml"]
    assert (tmp_path / "checkpoints" / "model.pt").read_text() == "weeks of training"


def test_overwrite_refuses_a_run_holding_files_it_did_not_record_and_lists_them(tmp_path):
    run = recorded_run(tmp_path / "run")
    (run / "notes.txt").write_text("mine")
    before = names_in(run)
    with pytest.raises(SkillitError, match=r"--overwrite .*would have removed notes\.txt"):
        claim_fresh_run_dir(run, overwrite=True)
    assert names_in(run) == before and (run / "checkpoints" / "last.ckpt").is_file()
    (run / "notes.txt").unlink()
    (run / ".mixture.png.tmp.png").write_text("")  # a plot cut off by a kill: skillit's too
    claim_fresh_run_dir(run, overwrite=True)
    assert names_in(run) == []


def test_a_link_among_a_runs_entries_is_unlinked_and_what_it_points_to_is_kept(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    claim_names(run, RUN_LAYOUT)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "last.ckpt").write_text("another run's weights")
    (run / "checkpoints").symlink_to(scratch)
    (run / RUN_MARKER).touch()
    claim_fresh_run_dir(run, overwrite=True)
    assert names_in(run) == [] and (scratch / "last.ckpt").read_text() == "another run's weights"


def test_nothing_is_deleted_without_the_folders_lock(tmp_path):
    run = recorded_run(tmp_path / "run")
    with pytest.raises(SkillitError, match=r"without holding .*run\.lock"):
        remove_owned(run, why="--overwrite", lock=LOCK_FILE)
    assert "checkpoints" in names_in(run)
    with RunLock(run):
        remove_owned(run, why="--overwrite", lock=LOCK_FILE)
    assert names_in(run) == []


def test_every_top_level_entry_of_a_finished_run_is_recorded_so_overwrite_can_clear_it(
    run_config, tmp_path
):
    from skillit.training import train

    run = tmp_path / "run"
    train(run_config(run, "trainer.max_steps=4", "mixing.rounds=2", "mixing.plots=true"))
    assert main(["mixture", "export", str(run)]) == 0  # written into the run: recorded too
    unrecorded = set(names_in(run)) - owned_names(run) - {OWNED_FILE}
    assert not unrecorded, f"written but not in RUN_LAYOUT: {sorted(unrecorded)}"
    claim_fresh_run_dir(run, overwrite=True)
    assert names_in(run) == []


def test_prepare_fresh_never_deletes_in_a_folder_that_never_held_a_corpus(tmp_path, capsys):
    import numpy as np

    write_word_docs(tmp_path / "docs", 10, (10, 20), np.random.default_rng(0))
    out = tmp_path / "out"
    (out / "web").mkdir(parents=True)
    (out / "web" / "crawl.warc").write_text("the user's crawl")
    (out / "tokenizer.json").write_text('{"a tokenizer": "of the user"}')
    assert prepare_corpus(out, {"web": tmp_path / "docs"}, "--fresh") == 2
    err = capsys.readouterr().err
    assert "--fresh would have removed tokenizer.json, web" in err
    assert (out / "web" / "crawl.warc").read_text() == "the user's crawl"
    assert (out / "tokenizer.json").read_text() == '{"a tokenizer": "of the user"}'


@pytest.fixture
def graph_yaml(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(GRAPH_YAML)
    return path


def graph_learn(config: Path, out: Path, *extra: str) -> int:
    return main(["graph", "learn", str(config), "--out", str(out), "--no-progress", *extra])


def test_graph_learn_fresh_never_deletes_the_users_folders(graph_yaml, tmp_path, capsys):
    out = tmp_path / "work"
    (out / "probes").mkdir(parents=True)
    (out / "probes" / "field-notes.md").write_text("mine")
    (out / "setup.json").write_text("{}")
    assert graph_learn(graph_yaml, out, "--method", "linear", "--fresh") == 2
    assert "would have removed probes, setup.json" in capsys.readouterr().err
    assert (out / "probes" / "field-notes.md").read_text() == "mine"
    assert (out / "setup.json").read_text() == "{}"


def test_graph_learn_fresh_deletes_nothing_before_the_config_and_flags_are_checked(
    graph_yaml, tmp_path, capsys
):
    out = tmp_path / "g"
    out.mkdir()
    claim_names(out, ["probes"])  # an earlier learner's probes: --fresh may delete them...
    (out / "probes").mkdir()
    (out / "probes" / "p.json").write_text("{}")
    # ...but not for a learn the flags refuse (brute force needs the eval skills trained)
    skills = ["skills.train=[lego1,lego2]", "skills.eval=[lego3]"]
    assert graph_learn(graph_yaml, out, *skills, "--method", "brute", "--fresh") == 2
    assert "--method linear" in capsys.readouterr().err
    assert (out / "probes" / "p.json").is_file()


def test_graph_learn_fresh_waits_for_the_folders_lock(graph_yaml, tmp_path, capsys):
    from skillit.run.directory import _start_time

    out = tmp_path / "g"
    out.mkdir()
    claim_names(out, ["probes"])
    (out / "probes").mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / "graph.lock").write_text(f"{other.pid} {_start_time(other.pid)}\n")
        assert graph_learn(graph_yaml, out, "--method", "linear", "--fresh") == 2
    finally:
        other.kill()
        other.wait()
    assert "being written by another skillit process" in capsys.readouterr().err
    assert (out / "probes").is_dir()


def test_a_restarted_bench_run_never_deletes_a_folder_skillit_did_not_write(tmp_path):
    from skillit.bench.runner import RunSpec, run_one

    folder = tmp_path / "suite" / "uniform" / "seed0"
    folder.mkdir(parents=True)
    (folder / "results.csv").write_text("the user's")
    spec = RunSpec("uniform", 0, str(folder), "lego", (f"run_dir={folder}", *TINY))
    with pytest.raises(SkillitError, match=r"restarting the unfinished bench run .*results\.csv"):
        run_one(spec)
    assert names_in(folder) == ["results.csv"]


# -- writes: inside the folder, never through a link -----------------------------------------------
def test_checkpoint_rotation_refuses_a_checkpoints_link_out_of_the_run(run_config, tmp_path):
    from skillit.training import train

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("last.ckpt", "previous.ckpt"):
        (elsewhere / name).write_text(f"another project's {name}")
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoints").symlink_to(elsewhere)
    with pytest.raises(SkillitError, match=r"checkpoints is a symbolic link leading out"):
        train(run_config(run, "trainer.max_steps=4", "mixing.rounds=2"))
    assert names_in(elsewhere) == ["last.ckpt", "previous.ckpt"]
    for name in ("last.ckpt", "previous.ckpt"):
        assert (elsewhere / name).read_text() == f"another project's {name}"


def test_checkpoint_rotation_refuses_a_link_planted_at_its_temporary_file(run_config, tmp_path):
    from skillit.training import train

    precious = outside_file(tmp_path)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / ".last.ckpt.tmp").symlink_to(precious)
    with pytest.raises(SkillitError, match=r"\.last\.ckpt\.tmp: it is a symbolic link"):
        train(run_config(run, "trainer.max_steps=4", "mixing.rounds=2"))
    assert precious.read_text() == "precious"


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A run stopped at the start of its second round: round 1's checkpoint, no final_eval."""
    from skillit.config import load_config
    from skillit.training import train

    run = tmp_path_factory.mktemp("stopped") / "run"
    cfg = load_config([], [*TINY_RUN, f"run_dir={run}", "trainer.max_steps=8", "mixing.rounds=2"])
    with pytest.raises(KeyboardInterrupt):
        train(cfg, extra_callbacks=[kill_at(round_number=2, at_round_start=True)])
    return run


@pytest.mark.parametrize("name", [FINAL_FILE, RESUMES_FILE])
def test_a_resume_refuses_a_link_planted_at_a_file_it_writes(stopped_run, tmp_path, capsys, name):
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run, symlinks=True)
    precious = outside_file(tmp_path)
    (run / name).symlink_to(precious)
    assert main(["train", "--resume", str(run)]) == 2
    assert f"{run / name}: it is a symbolic link" in capsys.readouterr().err
    assert precious.read_text() == "precious"
    # refused before training, not at its end: the checkpoint is still round 1's
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 4


HISTORY = [
    {"round": 1, "step": 10, "weights": {"a": 0.5, "b": 0.5}},
    {"round": 2, "step": 20, "weights": {"a": 0.2, "b": 0.8}},
]


def test_mixture_export_refuses_a_link_planted_at_its_output(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "mixture_history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in HISTORY))
    precious = outside_file(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "mixture_schedule.yaml").symlink_to(precious)
    assert main(["mixture", "export", str(run), "--out", str(out)]) == 2
    assert "mixture_schedule.yaml: it is a symbolic link" in capsys.readouterr().err
    assert precious.read_text() == "precious"


@pytest.mark.parametrize(
    "fmt,name",
    [
        ("megatron", "megatron_data_args.json"),
        ("streaming", "streaming_streams.yaml"),
        ("litdata", "litdata_mixture.py"),
        ("olmo", "olmo_source_mixture.yaml"),
        ("nanotron", "nanotron_data_stages.yaml"),
    ],
)
def test_engine_exports_refuse_a_link_planted_at_their_file(tmp_path, fmt, name):
    from skillit.export.engines import write_engine
    from skillit.export.engines.base import DomainShards, EngineMixture

    domains = {
        s: DomainShards(s, tmp_path / s, ((tmp_path / s / "train_00000.bin", 100),))
        for s in ("a", "b")
    }
    mix = EngineMixture(
        ["a", "b"],
        [0.5, 0.5],
        [(1, [0.5, 0.5]), (5, [0.2, 0.8])],
        domains,
        1000,
        10,
        "uint16",
        valid=domains,
        vocab_size=300,
        eos_id=0,
        sequence_length=16,
    )
    precious = outside_file(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / name).symlink_to(precious)
    with pytest.raises(SkillitError, match=rf"{name}: it is a symbolic link"):
        write_engine(fmt, mix, out)
    assert precious.read_text() == "precious"


def test_a_write_replaces_a_link_planted_after_the_check_and_an_append_refuses_it(
    tmp_path, monkeypatch
):
    """The second line of defence: a link that appears between the check and the write."""
    precious = outside_file(tmp_path)
    root = tmp_path / "run"
    root.mkdir()
    monkeypatch.setattr(safe_paths, "inside_for_writing", lambda r, rel: Path(r) / rel)
    (root / "final_eval.json").symlink_to(precious)
    safe_paths.write_inside(root, "final_eval.json", "{}\n")
    assert not (root / "final_eval.json").is_symlink() and precious.read_text() == "precious"
    (root / "resumes.jsonl").symlink_to(precious)
    with pytest.raises(SkillitError, match="resumes.jsonl: it is a symbolic link"):
        safe_paths.append_inside(root, "resumes.jsonl", "{}\n")
    assert precious.read_text() == "precious"


def test_a_write_through_a_folder_link_out_of_the_root_or_up_with_dotdot_is_refused(tmp_path):
    root = tmp_path / "run"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (root / "plots").symlink_to(tmp_path / "elsewhere")
    for relative in ("plots/a.png", "../a.png", "/tmp/a.png"):
        with pytest.raises(SkillitError, match="refusing to write"):
            safe_paths.write_inside(root, relative, "x")
    assert names_in(tmp_path / "elsewhere") == [] and not (tmp_path / "a.png").exists()


def test_a_plot_refuses_a_link_planted_at_its_name(tmp_path):
    from skillit.run.plots import plot_run

    run = tmp_path / "run"
    run.mkdir()
    (run / "mixture_history.jsonl").write_text(
        "".join(json.dumps({**r, "eval_loss": {"a": 1.0, "b": 2.0}}) + "\n" for r in HISTORY)
    )
    precious = outside_file(tmp_path)
    (run / "eval_loss.png").symlink_to(precious)
    with pytest.raises(SkillitError, match="eval_loss.png: it is a symbolic link"):
        plot_run(run / "mixture_history.jsonl", run)
    assert precious.read_text() == "precious"
