"""Damaged inputs, generated: a command given a damaged graph, mixture history, run folder, corpus
manifest, lock or config value ends in a skillit error (exit 2 and a `skillit <verb>: error:`
line) or succeeds; never a traceback, never a write outside its folder, and never a silent
acceptance of a value no run can have (NaN weights exported, a negative learning rate loaded).

Every example runs in a fresh folder `nest/work/` (the working directory) beside `outside/`,
which holds a user's file: after each command nothing but `nest/work/` may have changed, so a
write through `..` or a link is caught. Commands run in-process through `skillit.cli.main`; an
exception escaping it fails the example. The inputs that found bugs stay as @example cases.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import prepare_corpus, write_word_docs
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from skillit.cli import main
from skillit.config import config_to_yaml, load_config
from skillit.errors import SkillitError
from skillit.graph.io import load_graph
from skillit.run.directory import RunLock
from skillit.sources.tokens import TokensSource, TokensSourceConfig
from skillit.utils.shipped import resolve_config

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HUGE = 10**400  # an integer past any float (JSON and YAML read it as an int)
DEEP = b"[" * 100_000  # nesting past Python's recursion limit

# -- a sandbox: a working folder beside a user's folder that must stay as it is ---------------


def snapshot(root: Path, skip: Path) -> dict[str, object]:
    """Every path under `root` but `skip`: a file's bytes, a link's target, a folder."""
    found: dict[str, object] = {}
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = [d for d in dirs if here / d != skip]
        for name in dirs + files:
            path = here / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                found[key] = ("link", os.readlink(path))
            elif path.is_file():
                found[key] = path.read_bytes()
            else:
                found[key] = "folder"
    return found


@contextlib.contextmanager
def sandbox():
    """Yield a fresh working folder (the cwd inside the block) two levels below a root that
    also holds outside/sentinel.txt; afterwards nothing outside the working folder changed."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        work = root / "nest" / "work"
        work.mkdir(parents=True)
        (root / "outside").mkdir()
        (root / "outside" / "sentinel.txt").write_text("a user's file\n")
        before = snapshot(root, work)
        with contextlib.chdir(work):
            yield work
        assert snapshot(root, work) == before, "a command wrote outside its working folder"


def run_cli(argv: list[str]) -> tuple[int, str]:
    """(exit code, stderr) of `skillit ARGV` in this process; any other exception escapes."""
    err = io.StringIO()
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(err),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")  # numpy's and matplotlib's overflow notes
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
    return code, err.getvalue()


def ends_cleanly(argv: list[str], verb: str) -> int:
    """Run `skillit ARGV` inside a Hypothesis test, check it ends cleanly, and count its exit
    code among the test's events (`--hypothesis-show-statistics`: how often inputs pass)."""
    code, err = run_cli(argv)
    assert_error_or_success(code, err, verb)
    event(f"{' '.join(argv[:2])}: exit {code}")
    return code


def assert_error_or_success(code: int, err: str, verb: str) -> None:
    """Exit 0, or exit 2 with a `skillit <verb>[ <action>]: error: ...` line; no traceback."""
    assert "Traceback" not in err, err
    assert code in (0, 2), f"exit {code}: {err}"
    if code == 2:
        line = re.compile(rf"^skillit {verb}( \w+)?: error: \S", re.M)
        assert line.search(err), f"exit 2 without a `skillit {verb}: error:` line: {err!r}"


# -- strategies: valid documents, then edited and damaged ---------------------------------------

NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN and the infinities included
    st.sampled_from([0, -1, HUGE, -HUGE, 1e308, -0.0, 5e-324, 2**63]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=6))
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
# names that would lead a write out of its folder, or onto a file skillit keeps there
NAMES = st.sampled_from(
    ["", ".", "..", "../x", "../../outside", "a/b", "manifest.json", "tokenizer.json", "a"]
) | st.text(max_size=5)


def places(value, prefix: tuple = ()):
    """The path (keys and indices) to every entry of every dict and list in `value`."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return
    for key, item in items:
        yield (*prefix, key)
        yield from places(item, (*prefix, key))


def at(value, path: tuple):
    for key in path:
        value = value[key]
    return value


# an edit of one entry; "nudge" (a plausible number) most often, so that edited files get past
# the first check often enough to reach the code behind it
EDITS = ("nudge", "nudge", "nudge", "number", "replace", "remove", "wrap", "rename")
PLAUSIBLE = st.one_of(st.integers(0, 20), st.floats(0, 1e6), st.sampled_from([0.0, 5e-324, 1e308]))


@st.composite
def edited(draw, valid, max_edits: int = 2):
    """`valid` (a JSON value) with 1..max_edits entries replaced (by a plausible number, any
    number or any value), removed, put in a list, or, in a dict, renamed."""
    value = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, max_edits))):
        paths = list(places(value))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = at(value, path[:-1]), path[-1]
        action = draw(st.sampled_from(EDITS))
        if action == "remove":
            del parent[key]
        elif action == "wrap":
            parent[key] = [parent[key]]
        elif action == "number":
            parent[key] = draw(NUMBERS)
        elif action == "nudge":  # a plausible number: what a valid file might hold
            parent[key] = draw(PLAUSIBLE)
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(NAMES)] = parent.pop(key)
        else:
            parent[key] = draw(JSON_VALUES)
    return value


@st.composite
def damaged_bytes(draw, text: str) -> bytes:
    """`text` as UTF-8, often as it is, else cut short, with bytes that are not UTF-8, nested
    past the recursion limit, or empty."""
    data = text.encode()
    how = draw(st.sampled_from(["as is"] * 8 + ["cut", "not utf-8", "deep", "empty"]))
    if how == "cut":
        return data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    if how == "not utf-8":
        i = draw(st.integers(0, len(data)))
        return data[:i] + b"\xff\xfe" + data[i:]
    if how == "deep":
        return DEEP + data
    return b"" if how == "empty" else data


def json_document(valid) -> st.SearchStrategy[bytes]:
    """An edited `valid`, or any JSON value, written as JSON (NaN and Infinity as Python
    writes them) and maybe damaged."""
    values = st.one_of(edited(valid), edited(valid), edited(valid), JSON_VALUES)
    return values.map(json.dumps).flatmap(damaged_bytes)


# -- graph files --------------------------------------------------------------------------------

GRAPH = {
    "format": "skillit-graph",
    "version": 1,
    "train_skills": ["a", "b"],
    "eval_skills": ["a", "b"],
    "matrix": [[1.0, 0.5], [0.0, 1.0]],
    "method": "linear",
    "steps": 10,
    "seeds": [0, 1],
    "raw_deltas": [[[0.2, 0.1], [0.0, 0.3]]],
    "notes": "",
}


def graph_with(**changes) -> bytes:
    return json.dumps({**GRAPH, **changes}).encode()


@FUZZ
@given(data=json_document(GRAPH), skills=st.sampled_from([None, ["a"], ["b", "a"]]))
@example(data=graph_with(matrix=[[HUGE, 0], [0, 1]]), skills=None)  # was an OverflowError
@example(data=graph_with(raw_deltas=[[HUGE]]), skills=None)  # was an OverflowError
@example(data=graph_with(seeds=[1e400]), skills=None)  # was an OverflowError
@example(data=graph_with(seeds=[1.5]), skills=None)  # was read as seed 1
@example(data=DEEP, skills=["a"])
def test_a_damaged_graph_file_is_an_error_or_a_graph_of_finite_edges(data, skills):
    with sandbox() as work:
        (work / "g.json").write_bytes(data)
        try:
            graph = load_graph(work / "g.json", skills)
        except SkillitError:
            event("load_graph: an error")
        else:
            event("load_graph: a graph")
            assert np.isfinite(graph.matrix).all() and (graph.matrix >= 0).all()
            assert all(type(s) is int for s in graph.seeds)
        ends_cleanly(["graph", "plot", "g.json", "--out", "g.png"], "graph")


# -- mixture histories --------------------------------------------------------------------------

HISTORY = [
    {
        "round": r,
        "step": 4 * r,
        "weights": {"a": w, "b": 1 - w},
        "next_weights": {"a": 0.5, "b": 0.5},
        "eval_loss": {"a": 1.0, "b": 2.0},
    }
    for r, w in ((1, 0.5), (2, 0.25), (3, 0.75))
]


@st.composite
def odd_mixtures(draw) -> list[dict]:
    """Well-formed rounds over 1 to 3 skills whose weights and steps are any numbers: what
    reaches the averages and the engines' files."""
    skills = draw(st.sampled_from([["a", "b"], ["b", "a"], ["a"], ["a", "b", "c"]]))
    steps = st.integers(1, 20) | st.integers(1, 2**63)
    ends = sorted(draw(st.sets(steps, min_size=1, max_size=4)))
    numbers = draw(st.sampled_from([PLAUSIBLE, PLAUSIBLE | NUMBERS]))
    weights = st.fixed_dictionaries({skill: numbers for skill in skills})
    return [
        {"round": r, "step": end, "weights": draw(weights), "next_weights": draw(weights)}
        for r, end in enumerate(ends, start=1)
    ]


@st.composite
def damaged_history(draw) -> bytes:
    """mixture_history.jsonl: edited rounds or odd mixtures, then a line made blank, cut,
    repeated, moved or replaced by text that is no JSON, then maybe bytes damage."""
    rows = draw(st.one_of(edited(HISTORY), odd_mixtures()))
    lines = [json.dumps(row) for row in rows]
    how = draw(st.sampled_from(["none"] * 5 + ["blank", "cut", "repeat", "swap", "garbage"]))
    if lines and how != "none":
        i = draw(st.integers(0, len(lines) - 1))
        if how == "blank":
            lines.insert(i, "   ")
        elif how == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif how == "repeat":
            lines.insert(i, lines[i])
        elif how == "swap":
            lines[i], lines[-1] = lines[-1], lines[i]
        else:
            lines[i] = draw(st.text(max_size=10))
    return draw(damaged_bytes("\n".join(lines) + "\n"))


def history_with(*rows: dict) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    """A tiny prepared corpus (domains a and b), its Megatron copy, and the config.yaml of a
    run on it (12 steps in 3 rounds, as HISTORY has them)."""
    root = tmp_path_factory.mktemp("fuzz_corpus")
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write_word_docs(root / "docs" / name, 10, (20, 40), rng)
    corpus = root / "corpus"
    assert prepare_corpus(corpus, {n: root / "docs" / n for n in ("a", "b")}) == 0
    megatron = root / "megatron"
    assert run_cli(["corpus", "export", str(corpus), str(megatron), "--format", "megatron"])[0] == 0
    overrides = [f"data.tokens.path={corpus}", "trainer.max_steps=12", "mixing.rounds=3"]
    config = config_to_yaml(load_config([resolve_config("domains_cpu")], overrides))
    return corpus, megatron, config


HISTORY_COMMANDS = {
    "export": ["mixture", "export", "run", "--out", "exp"],
    "export updates": ["mixture", "export", "run", "--out", "exp", "--average", "updates"],
    "plot": ["mixture", "plot", "run", "--out", "mixtures.png"],
    "olmo": ["mixture", "export", "run", "--out", "exp", "--format", "olmo"],
    "megatron": ["mixture", "export", "run", "--out", "exp", "--format", "megatron", "--data"],
}


def assert_exports_are_finite(exp: Path) -> None:
    """What an export wrote holds no NaN or infinity, and skillit's weights are a mixture."""
    for path in exp.iterdir() if exp.is_dir() else []:
        text = path.read_text()
        assert not re.search(r"\b(nan|inf|infinity)\b", text, re.I), f"{path.name}: {text}"
        if path.name in ("mixture_schedule.yaml", "mixture_average.yaml"):
            mixing = yaml.safe_load(text)["mixing"]
            rows = [e["weights"] for e in mixing.get("schedule", [])] + [mixing.get("weights")]
            for row in filter(None, rows):
                assert all(w >= 0 for w in row) and sum(row) > 0, f"{path.name}: {row}"


ROW = HISTORY[0]


@FUZZ
@given(data=damaged_history(), command=st.sampled_from(list(HISTORY_COMMANDS)))
@example(data=history_with({**ROW, "round": "a"}), command="export")  # was a ValueError
@example(data=history_with({k: v for k, v in ROW.items() if k != "round"}), command="plot")
@example(data=history_with({**ROW, "round": math.nan}), command="megatron")  # a ValueError
@example(data=history_with({**ROW, "weights": {"a": 0, "b": 0}}), command="export")  # NaN out
@example(data=history_with({**ROW, "weights": {"a": 1e308, "b": 1e308}}), command="export")
@example(data=history_with({**ROW, "weights": {"a": HUGE, "b": 0}}), command="export")
@example(data=history_with({**ROW, "step": HUGE}), command="export")  # an OverflowError
@example(data=history_with({**ROW, "next_weights": 5}), command="export updates")  # TypeError
@example(data=history_with({**ROW, "next_weights": {"a": "x", "b": 1}}), command="export updates")
@example(data=history_with(ROW, {**HISTORY[2], "round": 3}), command="olmo")  # a KeyError
@example(data=history_with({**ROW, "weights": {"a": True, "b": 0.5}}), command="export")
@example(data=history_with({**ROW, "weights": {"a": 1e308, "b": 1}}), command="megatron")  # inf
def test_a_damaged_history_is_an_error_or_an_export_of_finite_weights(corpus_run, data, command):
    corpus, megatron, config = corpus_run
    with sandbox() as work:
        (work / "run").mkdir()
        (work / "run" / "config.yaml").write_text(config)
        (work / "run" / "mixture_history.jsonl").write_bytes(data)
        argv = HISTORY_COMMANDS[command] + ([str(megatron)] if command == "megatron" else [])
        if ends_cleanly(argv, "mixture") == 0:
            assert_exports_are_finite(work / "exp")


# -- run folders: `skillit runs` and `skillit compare` --------------------------------------------

CONFIG = {
    "seed": 1,
    "name": "r",
    "data": {"source": "lego"},
    "mixing": {"strategy": "random"},
    "trainer": {"max_steps": 12},
}
FINAL = {"global_step": 12, "eval_acc": {"a": 0.5, "b": 0.25}, "eval_loss": {"a": 1.0, "b": 2.0}}


def yaml_document(valid) -> st.SearchStrategy[bytes]:
    """An edited `valid` or any value written as YAML, or any text; maybe damaged."""
    values = st.one_of(edited(valid), JSON_VALUES).map(lambda v: yaml.safe_dump(v))
    return st.one_of(values, values, st.text(max_size=40)).flatmap(damaged_bytes)


def write_run(folder: Path, config: bytes, final: bytes, history: bytes) -> None:
    folder.mkdir()
    (folder / ".skillit-run").write_text("")
    (folder / "config.yaml").write_bytes(config)
    (folder / "final_eval.json").write_bytes(final)
    (folder / "mixture_history.jsonl").write_bytes(history)


@FUZZ
@given(config=yaml_document(CONFIG), final=json_document(FINAL), history=damaged_history())
@example(  # a seed that is a list: compare's pairing by seed raised a TypeError
    config=yaml.safe_dump({**CONFIG, "seed": [1]}).encode(),
    final=json.dumps(FINAL).encode(),
    history=history_with(*HISTORY),
)
@example(  # a final step of Infinity: an OverflowError; a history step of 1e400: "unreadable"
    config=yaml.safe_dump(CONFIG).encode(),
    final=json.dumps({**FINAL, "global_step": math.inf}).encode(),
    history=history_with({**ROW, "step": 1e400}),
)
def test_damaged_run_files_are_listed_or_an_error_never_a_traceback(config, final, history):
    intact = yaml.safe_dump({**CONFIG, "seed": 2, "mixing": {"strategy": "skillit"}}).encode()
    with sandbox() as work:
        write_run(work / "damaged", config, final, history)
        write_run(work / "intact", intact, json.dumps(FINAL).encode(), history_with(*HISTORY))
        ends_cleanly(["runs", "."], "runs")
        ends_cleanly(["compare", "damaged", "intact"], "compare")


def test_a_step_past_any_float_in_a_history_line_is_skipped_not_the_whole_run(capsys):
    with sandbox() as work:
        history = history_with(ROW, {**HISTORY[1], "step": 1e400})  # JSON reads it as inf
        write_run(work / "r", yaml.safe_dump(CONFIG).encode(), b"{}", history)
        (work / "r" / "final_eval.json").unlink()
        assert main(["runs", "."]) == 0
    out = capsys.readouterr().out
    assert "4/12" in out and "unreadable" not in out


# -- corpus manifests ---------------------------------------------------------------------------


def manifest_of(corpus: Path) -> dict:
    return json.loads((corpus / "manifest.json").read_text())


def edit_to_bytes(edit):
    """A manifest -> the bytes of the manifest after `edit` (which changes it in place)."""

    def make(manifest: dict) -> bytes:
        edit(manifest)
        return json.dumps(manifest).encode()

    return make


def renamed_domain(name: str):
    return edit_to_bytes(lambda m: m["domains"].__setitem__(name, m["domains"].pop("a")))


def first_shard(key: str, value):
    return edit_to_bytes(lambda m: m["domains"]["a"]["train"][0].__setitem__(key, value))


def set_key(key: str, value):
    return edit_to_bytes(lambda m: m.__setitem__(key, value))


# The manifests that found bugs: (what, manifest -> damaged manifest), from the module's corpus.
MANIFEST_REGRESSIONS = [
    ("nesting past the recursion limit: RecursionError", lambda m: DEEP),
    ("a domain named ../../outside: the export wrote outside OUT", renamed_domain("../../outside")),
    ("a domain named tokenizer.json: OUT's tokenizer in the way", renamed_domain("tokenizer.json")),
    ("a domain named '': shards at the top of OUT", renamed_domain("")),
    ("a shard file that is a number: TypeError", first_shard("file", 5)),
    ("a vocabulary of Infinity: OverflowError", set_key("vocab_size", math.inf)),
    ("an end-of-document id below 0: exported as it is", set_key("eos_id", -3)),
    ("an end-of-document id past the vocabulary", set_key("eos_id", 10**30)),
    ("no domains: a corpus of nothing", set_key("domains", {})),
    ("tokens as a float", first_shard("tokens", 354.5)),
    ("a tokenizer name past the system's limit: OSError", set_key("tokenizer", str(HUGE))),
    ("a shard name past the system's limit: OSError", first_shard("file", "x" * 300)),
]
EXPORT_FORMATS = ("megatron", "nanotron", "mds", "litdata")


def check_manifest_readers(work: Path, manifest: bytes, fmt: str) -> None:
    """The corpus copied into work/ with `manifest`: the tokens source builds or raises a
    SkillitError, and `skillit corpus export` ends cleanly."""
    (work / "corpus" / "manifest.json").write_bytes(manifest)
    try:
        TokensSource(TokensSourceConfig(path="corpus"), seq_len=16)
        event("TokensSource: built")
    except SkillitError:
        event("TokensSource: an error")
    argv = ["corpus", "export", "corpus", "eng", "--format", fmt]
    ends_cleanly(argv, "corpus")


@pytest.mark.parametrize(
    "what, make", MANIFEST_REGRESSIONS, ids=[w for w, _ in MANIFEST_REGRESSIONS]
)
def test_a_manifest_that_found_a_bug_is_now_an_error_naming_it(corpus_run, what, make):
    corpus, _, _ = corpus_run
    with sandbox() as work:
        shutil.copytree(corpus, work / "corpus")
        (work / "corpus" / "manifest.json").write_bytes(make(manifest_of(corpus)))
        with pytest.raises(SkillitError, match=r"manifest\.json|token shard"):
            TokensSource(TokensSourceConfig(path="corpus"), seq_len=16)
        code, err = run_cli(["corpus", "export", "corpus", "eng", "--format", "nanotron"])
        assert code == 2 and re.search(r"manifest\.json|token shard", err), err


@FUZZ
@given(data=st.data(), fmt=st.sampled_from(EXPORT_FORMATS))
def test_a_damaged_manifest_is_an_error_or_a_corpus_never_a_traceback(corpus_run, data, fmt):
    corpus, _, _ = corpus_run
    manifest = data.draw(json_document(manifest_of(corpus)), label="manifest")
    with sandbox() as work:
        shutil.copytree(corpus, work / "corpus")
        check_manifest_readers(work, manifest, fmt)


# -- locks --------------------------------------------------------------------------------------

PIDS = st.sampled_from([os.getpid(), os.getppid(), 1, 0, -1, 2**22, 2**22 + 1, HUGE])
LOCK_TEXT = st.one_of(
    st.binary(max_size=24),
    st.text(max_size=24).map(str.encode),
    st.builds(lambda pid, start: f"{pid} {start}\n".encode(), PIDS, st.text(max_size=8)),
)
LOCK_KINDS = ("file", "folder", "link to a user's file", "link to nothing")


def plant_lock(work: Path, kind: str, content: bytes) -> None:
    lock = work / "run.lock"
    if kind == "file":
        lock.write_bytes(content)
    elif kind == "folder":
        lock.mkdir()
    elif kind == "link to nothing":
        lock.symlink_to(work / "missing")
    else:
        lock.symlink_to(work.parent.parent / "outside" / "sentinel.txt")


@FUZZ
@given(kind=st.sampled_from(LOCK_KINDS), content=LOCK_TEXT)
@example(kind="file", content=f"{HUGE} 1\n".encode())
@example(kind="link to a user's file", content=b"")
def test_a_planted_lock_is_taken_over_or_refused_with_a_skillit_error(kind, content):
    with sandbox() as work:
        plant_lock(work, kind, content)
        try:
            with RunLock(work) as lock:
                pass
        except SkillitError:
            return
        assert not lock.held


@pytest.mark.parametrize("where", ["a missing folder", "a file"])
def test_a_lock_in_a_folder_that_cannot_hold_one_is_a_skillit_error(where):
    with sandbox() as work:
        (work / "file").write_text("x")
        folder = work / ("missing/run" if where == "a missing folder" else "file")
        with pytest.raises(SkillitError, match="cannot create the lock"):
            with RunLock(folder):
                pass


# -- config values ------------------------------------------------------------------------------


def finite(low: float, high: float = math.inf, low_open: bool = False, high_open: bool = False):
    """A float key's range: a number (integers too) inside it."""

    def holds(value) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        x = float(str(value))  # as YAML reads it: past any float is inf
        above = x > low if low_open else x >= low
        below = x < high if high_open else x <= high
        return math.isfinite(x) and above and below

    return holds


def integer(low: int, high: float = math.inf):
    """An int key's range."""
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


# key -> the values a run can have; a number outside them must be a SkillitError
NUMERIC_KEYS = {
    "optim.lr": finite(0, low_open=True),
    "optim.weight_decay": finite(0),
    "optim.min_lr_ratio": finite(0, 1),
    "optim.grad_clip": finite(0),
    "optim.warmup_steps": integer(0),
    "data.global_batch_size": integer(1),
    "data.eval_batch_size": integer(1),
    "data.lego.val_seed": integer(0),
    "data.compose.val_seed": integer(0),
    "data.tokens.val_windows": integer(1),
    "model.d_model": integer(1),
    "model.n_layer": integer(1),
    "model.max_seq_len": integer(1),
    "model.dropout": finite(0, 1, high_open=True),
    "mixing.rounds": integer(1),
    "mixing.skillit.eta": finite(0),
    "mixing.skillit.window": integer(1),
    "mixing.skillit.smoothing": finite(0, 1),
    "mixing.doremi.eta": finite(0),
    "mixing.aioli.eta": finite(0),
    "mixing.odm.alpha": finite(0, 1, high_open=True),
    "trainer.max_steps": integer(1),
    "trainer.log_every_n_steps": integer(0),
    "seed": integer(0, 2**32 - 1),
}
# values a command line holds that are no plain number: checked for a clean end only
ODD_VALUES = st.sampled_from(
    ["abc", "''", "[1,2]", "{a: 1}", "null", "true", "0x10", "1_000", ".5", "1e400", "[", "{"]
)
# a key that takes a list given a mapping, or the other way round
CONTAINER_MISMATCHES = [
    ("optim.betas", "{a: 1}"),
    ("mixing.graph.matrix", "{a: 1}"),
    ("mixing.schedule", "{a: 1}"),
    ("data.options", "[1,2]"),
    ("model.hf_config", "[1,2]"),
]


def as_text(value) -> str:
    return (
        value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    )


def load_or_error(key: str, value, via_file: bool, work: Path) -> bool:
    """Whether the config loads with key=value (on the command line or in a YAML file); a
    SkillitError is False, any other exception escapes."""
    try:
        if via_file:
            *parents, leaf = key.split(".")
            lines = [f"{'  ' * depth}{part}:" for depth, part in enumerate(parents)]
            lines.append(f"{'  ' * len(parents)}{leaf}: {as_text(value)}")
            (work / "c.yaml").write_text("\n".join(lines) + "\n")
            load_config([work / "c.yaml"], [])
        else:
            load_config([], [f"{key}={as_text(value)}"])
    except SkillitError:
        return False
    return True


@FUZZ
@given(
    key=st.sampled_from(list(NUMERIC_KEYS)),
    value=st.one_of(NUMBERS, ODD_VALUES),
    via_file=st.booleans(),
)
@example(key="data.lego.val_seed", value=-1, via_file=False)  # failed at the first draw
@example(key="data.compose.val_seed", value=-5, via_file=True)
@example(key="trainer.log_every_n_steps", value=-1, via_file=False)
@example(key="optim.lr", value=HUGE, via_file=True)  # OmegaConf's OverflowError escaped
@example(key="data.global_batch_size", value=HUGE, via_file=False)  # an OverflowError
@example(key="optim.lr", value=-1e-3, via_file=False)
@example(key="optim.lr", value=math.nan, via_file=True)
def test_a_number_a_run_cannot_have_is_refused_and_none_is_a_traceback(key, value, via_file):
    with sandbox() as work, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = load_or_error(key, value, via_file, work)
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if is_number and not NUMERIC_KEYS[key](value):
        assert not loaded, f"{key}={as_text(value)} was accepted"


@pytest.mark.parametrize("key, value", CONTAINER_MISMATCHES)
def test_a_list_for_a_mapping_or_the_other_way_round_is_an_error_naming_the_key(key, value):
    with pytest.raises(SkillitError, match=f"key '{re.escape(key)}' takes a"):  # was a TypeError
        load_config([], [f"{key}={value}"])


@settings(max_examples=20, deadline=None)
@given(key=st.sampled_from(list(NUMERIC_KEYS)), value=st.one_of(NUMBERS, ODD_VALUES))
@example(key="optim.betas", value="{a: 1}")  # OmegaConf's TypeError escaped `skillit train`
@example(key="data.global_batch_size", value=HUGE)  # its size in GiB: an OverflowError
def test_train_print_config_ends_in_an_error_line_or_the_config(key, value):
    with sandbox():
        argv = ["train", "ordered", f"{key}={as_text(value)}", "--print-config"]
        code = ends_cleanly(argv, "train")
    if key in NUMERIC_KEYS and not isinstance(value, (str, bool)) and not NUMERIC_KEYS[key](value):
        assert code == 2, f"{key}={as_text(value)} was accepted"
