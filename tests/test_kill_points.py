"""SIGKILL at every named write point (skillit.utils.kill_points): the same command run again (a
training run: resumed) ends with the files of a run never killed, byte for byte.

Each command runs in a child forked from this process, which has done the imports once: a kill
and its rerun then cost a second or two, not the start of a fresh interpreter each.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_GRAPH_YAML, TINY_RUN, write_word_docs

from skillit.cli import main
from skillit.errors import SkillitError
from skillit.utils import kill_points
from skillit.utils.kill_points import ENV, KILL_POINTS

# each command's cases: a point, or POINT:N for its N-th hit
PREPARE_CASES = ("prepare.tokenizer", "prepare.shards", "prepare.shards:2", "prepare.sidecar:3")
TRAIN_CASES = (
    "train.eval_line:2",
    "train.history_line:2",
    "train.previous_linked:2",
    "train.checkpoint_written:2",
    "train.checkpoint_written:3",
    "train.checkpoint_saved:2",
    "train.final_eval",
)
# with a checkpoint every 2 steps in rounds of 3: the 1st and 3rd saves are inside a round
IN_ROUND_CASES = ("train.checkpoint_saved:1", "train.checkpoint_written:3")
GRAPH_CASES = ("graph.probe", "graph.probe:3", "graph.graph_json")
EXPORT_CASES = ("export.schedule",)


def skillit(args: list[str], cwd: Path, kill_at: str | None = None, timeout: float = 120) -> int:
    """`skillit ARGS` in a forked child with ENV=kill_at: its exit status, or minus the signal
    that ended it (-9: SIGKILL)."""
    log = cwd / f"skillit-{uuid.uuid4().hex[:8]}.log"
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            out = open(log, "w", buffering=1)  # noqa: SIM115 (the child exits holding it)
            os.dup2(out.fileno(), 1)
            os.dup2(out.fileno(), 2)
            sys.stdout = sys.stderr = out
            os.chdir(cwd)
            os.environ.pop(ENV, None)
            if kill_at is not None:
                os.environ[ENV] = kill_at
            os.environ["TOKENIZERS_PARALLELISM"] = "false"  # no warning that this is a fork
            kill_points.arm_from_environment()  # this process may have read ENV before the fork
            code = main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            assert code in (0, -9), (
                f"skillit {' '.join(args)} -> {code}:\n{log.read_text()[-3000:]}"
            )
            return code
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail(
                f"skillit {' '.join(args)} ran past {timeout} s:\n{log.read_text()[-3000:]}"
            )
        time.sleep(0.02)


def killed_then_rerun(args: list[str], cwd: Path, kill_at: str, rerun: list[str] | None = None):
    assert skillit(args, cwd, kill_at) == -9, f"{kill_at} was never reached"
    assert skillit(rerun or args, cwd) == 0


def files_of(folder: Path, names: tuple[str, ...] | None = None) -> dict[str, bytes]:
    """Every file under folder (or the named ones), by relative path; a lock holds a pid."""
    paths = [folder / n for n in names] if names else sorted(folder.rglob("*"))
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in paths
        if p.is_file() and not p.name.endswith(".lock")
    }


def test_every_kill_point_has_a_case():
    every = (*PREPARE_CASES, *TRAIN_CASES, *IN_ROUND_CASES, *GRAPH_CASES, *EXPORT_CASES)
    cases = {c.partition(":")[0] for c in every}
    assert cases == set(KILL_POINTS), f"untested: {sorted(set(KILL_POINTS) - cases)}"
    assert all(KILL_POINTS[name] for name in KILL_POINTS)  # each says what a kill leaves


def test_a_kill_point_name_that_does_not_exist_is_an_error_naming_the_points(monkeypatch):
    monkeypatch.setenv(ENV, "prepare.manifets")
    with pytest.raises(SkillitError, match="prepare.manifets.*prepare.shards"):
        kill_points.arm_from_environment()
    monkeypatch.setenv(ENV, "prepare.shards:0")  # hits count from 1
    with pytest.raises(SkillitError, match="NAME:N"):
        kill_points.arm_from_environment()
    monkeypatch.delenv(ENV)
    assert kill_points.arm_from_environment() is None
    kill_points.kill_point("prepare.shards")  # unset: nothing happens
    with pytest.raises(ValueError, match="not in KILL_POINTS"):
        kill_points.kill_point("prepare.manifets")


# -- skillit prepare: three chunks of one domain ------------------------------------------------
def prepare_args(out: Path, docs: Path) -> list[str]:
    return [
        "prepare", str(out), "--domain", f"prose={docs}", "--bpe-vocab", "300",
        "--docs-per-shard", "10", "--val-every", "5", "--no-progress",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    """(the documents, the files of an uninterrupted prepare of them)."""
    root = tmp_path_factory.mktemp("corpus")
    write_word_docs(root / "docs", 30, (20, 60), np.random.default_rng(0))
    assert skillit(prepare_args(root / "whole", root / "docs"), root) == 0
    return root / "docs", files_of(root / "whole")


@pytest.mark.parametrize("kill_at", PREPARE_CASES)
def test_prepare_killed_at_a_write_point_reruns_to_the_same_corpus(corpus, tmp_path, kill_at):
    docs, whole = corpus
    killed_then_rerun(prepare_args(tmp_path / "cut", docs), tmp_path, kill_at)
    assert files_of(tmp_path / "cut") == whole


def test_a_chunk_of_other_text_killed_before_its_sidecar_is_not_taken_for_the_first(
    corpus, tmp_path
):
    """The shards of a changed input are renamed over a chunk whose sidecar still names the
    earlier text: that sidecar must go first, or a rerun on the earlier text keeps the new shards."""
    docs, whole = corpus
    out = tmp_path / "cut"
    assert skillit(prepare_args(out, docs), tmp_path) == 0
    edited = tmp_path / "edited"
    edited.mkdir()
    for doc in docs.iterdir():
        (edited / doc.name).write_text(doc.read_text() + " omega")
    assert skillit(prepare_args(out, edited), tmp_path, "prepare.shards") == -9
    assert skillit(prepare_args(out, docs), tmp_path) == 0
    assert files_of(out) == whole


# -- skillit mixture export: a run's history written by hand ----------------------------------------
@pytest.fixture
def history_run(tmp_path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    rows = [
        {"round": 1, "step": 4, "weights": {"a": 0.5, "b": 0.5}, "next_weights": {"a": 0.2, "b": 0.8}},
        {"round": 2, "step": 8, "weights": {"a": 0.2, "b": 0.8}, "next_weights": {"a": 0.1, "b": 0.9}},
    ]  # fmt: skip
    (run / "mixture_history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


@pytest.mark.parametrize("kill_at", EXPORT_CASES)
def test_mixture_export_killed_between_its_files_reruns_to_the_same_files(
    history_run, tmp_path, kill_at
):
    assert skillit(["mixture", "export", str(history_run), "--out", "whole"], tmp_path) == 0
    killed_then_rerun(["mixture", "export", str(history_run), "--out", "cut"], tmp_path, kill_at)
    assert files_of(tmp_path / "cut") == files_of(tmp_path / "whole")


# -- training and graph learning: imports done once, here, before the children fork ------------
@pytest.fixture(scope="module")
def preloaded():
    for module in ("skillit.training", "skillit.commands.train", "skillit.graphlearn.runner"):
        importlib.import_module(module)


TRAIN = [
    *TINY_RUN,
    "logger.csv=false",
    "mixing.plots=false",
    "trainer.max_steps=9",
    "mixing.rounds=3",
    "mixing.strategy=skillit",
    "mixing.skillit.eta=5.0",
    "mixing.graph.matrix=[[1,0,0],[0.5,1,0],[0,0.5,1]]",
]
RUN_RESULTS = ("final_eval.json", "mixture_history.jsonl", "eval_history.jsonl")


@pytest.fixture(scope="module")
def uninterrupted_run(preloaded, tmp_path_factory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("run")
    assert skillit(["train", *TRAIN, "run_dir=whole"], root) == 0
    return files_of(root / "whole", RUN_RESULTS)


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill_at,extra",
    [
        *((c, ()) for c in TRAIN_CASES),
        *((c, ("trainer.checkpoint_every=2",)) for c in IN_ROUND_CASES),
    ],
    ids=[*TRAIN_CASES, *(f"{c}-in-round" for c in IN_ROUND_CASES)],
)
def test_a_run_killed_at_a_write_point_resumes_to_the_same_results(
    uninterrupted_run, tmp_path, kill_at, extra
):
    """In-round checkpoints leave the trajectory as it is: those cases end as the run without."""
    start, resume = ["train", *TRAIN, *extra, "run_dir=cut"], ["train", "--resume", "cut"]
    killed_then_rerun(start, tmp_path, kill_at, rerun=resume)
    assert files_of(tmp_path / "cut", RUN_RESULTS) == uninterrupted_run
    assert not list((tmp_path / "cut").rglob("*.tmp"))  # no half-written file left behind


# the shared tiny graph-learning config, its probes 3 steps long in one round
GRAPH_OVERRIDES = [
    "name=kill-graph",
    "optim.warmup_steps=1",
    "trainer.max_steps=3",
    "mixing.rounds=1",
]


def graph_args(root: Path, out: str) -> list[str]:
    return ["graph", "learn", str(root / "tiny.yaml"), *GRAPH_OVERRIDES, "--method", "linear",
            "--out", out, "--no-progress"]  # fmt: skip


@pytest.fixture(scope="module")
def uninterrupted_graph(preloaded, tmp_path_factory) -> tuple[Path, bytes]:
    root = tmp_path_factory.mktemp("graph")
    (root / "tiny.yaml").write_text(TINY_GRAPH_YAML)
    assert skillit(graph_args(root, "whole"), root) == 0
    return root, (root / "whole" / "graph.json").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", GRAPH_CASES)
def test_graph_learn_killed_at_a_write_point_reruns_to_the_same_graph(uninterrupted_graph, kill_at):
    root, graph = uninterrupted_graph
    out = f"cut-{kill_at.replace(':', '-')}"
    killed_then_rerun(graph_args(root, out), root, kill_at)
    assert (root / out / "graph.json").read_bytes() == graph
