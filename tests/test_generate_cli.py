"""`skillit generate`: JSONL content, determinism, and one-line errors that leave no file behind."""

from __future__ import annotations

import json

import pytest

import synthetic.common
from skillit.cli import main
from synthetic import lego


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def sum_digit_answer(prompt: str) -> str:
    words = prompt.split()
    plus = words.index("+")
    a = int("".join(words[3:plus]))
    b = int("".join(words[plus + 1 : 2 * plus - 2]))
    asked = int(prompt.split(",")[1].split()[1])
    return str((a + b) // 10**asked % 10)


def test_lego_train_file_matches_the_python_api_and_the_proportions(tmp_path):
    out = tmp_path / "lego.jsonl"
    rc = main(
        [
            "generate",
            "lego",
            "--n",
            "110",
            "--seed",
            "3",
            "--proportions",
            "1,1,1,3,5",
            "--output",
            str(out),
        ]
    )
    rows = read_jsonl(out)
    assert rc == 0 and len(rows) == 110
    assert [sum(r["skill"] == s for r in rows) for s in range(5)] == [10, 10, 10, 30, 50]
    assert all(r["skill_name"] == f"lego{r['skill'] + 1}" for r in rows)
    val = synthetic.common.validation_set(lego.LegoTask(), size=100, seed=1234)
    api = lego.generate(110, seed=3, proportions=[1, 1, 1, 3, 5], avoid=val.hashes())
    assert [r["prompt"] for r in rows] == api.prompts()
    assert [r["answer"] for r in rows] == api.answers()


def test_addition_val_split_writes_every_skill_validation_set_with_true_answers(tmp_path):
    out = tmp_path / "val.jsonl"
    assert main(["generate", "addition", "--split", "val", "--val-size", "4", "-o", str(out)]) == 0
    rows = read_jsonl(out)
    assert [r["skill"] for r in rows] == [0] * 4 + [1] * 4 + [2] * 4
    assert all(r["answer"] == sum_digit_answer(r["prompt"]) for r in rows)


def test_train_split_never_repeats_a_validation_sample(tmp_path):
    common = ["generate", "addition", "--digits", "1", "--val-size", "40"]
    assert main([*common, "--split", "val", "-o", str(tmp_path / "val.jsonl")]) == 0
    assert main([*common, "--n", "600", "-o", str(tmp_path / "train.jsonl")]) == 0
    seen = {r["prompt"] for r in read_jsonl(tmp_path / "val.jsonl")}
    assert not seen & {r["prompt"] for r in read_jsonl(tmp_path / "train.jsonl")}


def test_same_flags_give_the_same_file_and_another_seed_a_different_one(tmp_path):
    args = ["generate", "lego", "--format", "chain", "--structure", "tree", "--n", "50"]
    main([*args, "--seed", "1", "-o", str(tmp_path / "a")])
    main([*args, "--seed", "1", "-o", str(tmp_path / "b")])
    main([*args, "--seed", "2", "-o", str(tmp_path / "c")])
    assert (tmp_path / "a").read_text() == (tmp_path / "b").read_text()
    assert (tmp_path / "a").read_text() != (tmp_path / "c").read_text()


def test_dash_writes_to_stdout(capsys):
    assert main(["generate", "lego", "--n", "3", "--output", "-"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and {"skill", "skill_name", "prompt", "answer"} <= set(
        json.loads(lines[0])
    )


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "lego", "--help"])
    text = capsys.readouterr().out
    assert exit_info.value.code == 0
    for flag in (
        "--n",
        "--seed",
        "--k",
        "--structure",
        "--format",
        "--answer-loss",
        "--proportions",
        "--split",
        "--val-size",
        "--val-seed",
        "--output",
    ):
        assert flag in text


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["lego", "--n", "0"], "--n"),
        (["addition", "--n", "-5"], "--n"),
        (["lego", "--k", "27"], "--k"),
        (["addition", "--digits", "11"], "--digits"),
        (["lego", "--proportions", "1,1,1"], "--proportions"),
        (["lego", "--proportions", "1,1,-1,3,5"], "--proportions"),
        (["lego", "--proportions", "0,0,0,0,0"], "--proportions"),
        (["addition", "--proportions", "a,b,c"], "--proportions"),
        (["addition", "--split", "val", "--n", "5"], "--n"),
        (["lego", "--val-size", "0"], "--val-size"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag_and_no_file(tmp_path, capsys, args, flag):
    out = tmp_path / "out.jsonl"
    rc = main(["generate", *args, "--output", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and flag in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ("under_a_file", "a_directory", "missing_directory"))
def test_unwritable_output_exits_2_naming_output_and_leaves_nothing(tmp_path, capsys, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    target = {
        "under_a_file": blocker / "out.jsonl",
        "a_directory": tmp_path,
        "missing_directory": tmp_path / "nope" / "out.jsonl",
    }[where]
    rc = main(["generate", "lego", "--n", "5", "--output", str(target)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "--output" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_interrupt_mid_write_removes_the_partial_file(tmp_path, monkeypatch):
    import skillit.commands.generate as command

    real_draw = synthetic.common.draw
    calls = []

    def draw_then_interrupt(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_draw(*args, **kwargs)

    monkeypatch.setattr(command, "CHUNK", 10)
    monkeypatch.setattr(command, "draw", draw_then_interrupt)
    rc = main(["generate", "lego", "--n", "100", "--output", str(tmp_path / "out.jsonl")])
    assert rc == 130 and len(calls) == 3
    assert list(tmp_path.iterdir()) == []


def test_the_version_and_items_after_a_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("skillit ")
    assert main(["train", "lego", "--print-config", "seed=7", "trainer.max_steps=9"]) == 0
    out = capsys.readouterr().out
    assert "seed: 7" in out and "max_steps: 9" in out


def test_an_unknown_flag_is_reported_with_the_verbs_usage(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "lego", "--bogus"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "skillit train" in err and "--bogus" in err


def test_bench_list_shows_every_suites_variants(capsys):
    assert main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    assert "lego-cpt" in out and "variants: default, paper" in out


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--answer-loss", "all"], "--answer-loss applies to --format chain"),
        (["--split", "val", "--seed", "3"], "--seed applies to --split train"),
    ],
)
def test_a_generate_flag_that_would_do_nothing_is_refused(tmp_path, capsys, flags, message):
    assert main(["generate", "lego", *flags, "--output", str(tmp_path / "x.jsonl")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()


def test_compose_train_file_follows_the_world_and_never_holds_the_novel_split(tmp_path):
    from synthetic import compose

    out, val = tmp_path / "train.jsonl", tmp_path / "val.jsonl"
    common = ["--world", "5", "--novel-fraction", "0.25", "--depths", "1,2"]
    assert (
        main(["generate", "compose", *common, "--n", "90", "--proportions", "1,2", "-o", str(out)])
        == 0
    )
    assert (
        main(["generate", "compose", *common, "--split", "val", "--val-size", "3", "-o", str(val)])
        == 0
    )
    rows, val_rows = read_jsonl(out), read_jsonl(val)
    assert [sum(r["skill"] == s for r in rows) for s in range(3)] == [30, 60, 0]
    assert {r["skill_name"] for r in val_rows} == {"depth1", "depth2", "depth2_novel"}
    task = compose.ComposeTask(
        n_symbols=8, n_functions=8, depths=(1, 2), world=5, novel_fraction=0.25
    )
    table = task.table.tolist()
    held = set(task.novel.tolist())
    for r in rows + val_rows:
        words = r["prompt"].split()
        value = int(words[0][1:])
        for f in words[1:]:
            value = table[int(f[1:])][value]
        assert r["answer"] == f"x{value}"
        if len(words) == 3:  # a depth-2 prompt: novel exactly when its sequence is held out
            code = int(words[1][1:]) * 8 + int(words[2][1:])
            assert (code in held) == (r["skill_name"] == "depth2_novel")
