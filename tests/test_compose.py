"""Composition generator and source: answers checked by a solver that reads only the text."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skillit.config import load_config
from skillit.errors import SkillitError
from skillit.sources.base import SkillSource
from skillit.sources.synthetic import ComposeSource, ComposeSourceConfig
from skillit.utils.tokenization import wordlevel_tokenizer
from synthetic import compose


def solve(prompt: str, table: list[list[int]]) -> str:
    """Apply the functions named in the prompt to its symbol, one dictionary lookup at a time."""
    words = [w for w in prompt.split() if w != "="]
    value = int(words[0].removeprefix("x"))
    for name in words[1:]:
        value = table[int(name.removeprefix("f"))][value]
    return f"x{value}"


def sequence_code(prompt: str, n_functions: int) -> int:
    code = 0
    for name in [w for w in prompt.split() if w.startswith("f")]:
        code = code * n_functions + int(name[1:])
    return code


@pytest.mark.parametrize("separator", [None, "="])
def test_every_answer_is_the_composition_named_in_the_prompt(separator):
    task = compose.ComposeTask(
        n_symbols=6, n_functions=5, depths=(1, 2, 4), world=7, separator=separator
    )
    samples = compose.generate(
        600, seed=3, n_symbols=6, n_functions=5, depths=(1, 2, 4), world=7, separator=separator
    )
    table = task.table.tolist()
    for prompt, answer, skill in zip(samples.prompts(), samples.answers(), samples.skill):
        words = prompt.split()
        assert len([w for w in words if w.startswith("f")]) == task.depths[skill]
        assert (words[-1] == "=") == (separator is not None)
        assert answer == solve(prompt, table)


def test_a_world_is_a_set_of_permutations_fixed_by_its_seed():
    a = compose.world_permutations(3, 8, 8)
    assert a.shape == (8, 8)
    assert all(sorted(row) == list(range(8)) for row in a.tolist())
    assert np.array_equal(a, compose.world_permutations(3, 8, 8))
    assert not np.array_equal(a, compose.world_permutations(4, 8, 8))


def test_the_answer_token_is_the_only_scored_token_and_ids_match_the_tokenizer():
    task = compose.ComposeTask(separator="=")
    samples = compose.generate(50, seed=0, separator="=")
    tokenizer = wordlevel_tokenizer(task.vocab)
    for row, text, mask, length in zip(
        samples.ids, samples.texts(), samples.answer_mask, samples.lengths
    ):
        assert tokenizer.encode(text, add_special_tokens=False).ids == row[:length].tolist()
        assert np.flatnonzero(mask).tolist() == [length - 1]


def test_held_out_sequences_are_never_trained_and_are_all_the_novel_skill_draws():
    task = compose.ComposeTask(novel_fraction=0.1, world=5)
    assert task.novel.size == round(0.1 * 8**3)
    assert task.skill_names() == ["depth1", "depth2", "depth3", "depth3_novel"]
    rng = np.random.default_rng(0)
    train = task.sample(np.full(20_000, 2), rng)
    codes = {sequence_code(p, 8) for p in train.prompts()}
    assert not codes & set(task.novel.tolist())
    assert len(codes) == 8**3 - task.novel.size  # uniform over every other sequence: all appear
    novel = task.sample(np.full(2000, 3), rng)
    novel_codes = {sequence_code(p, 8) for p in novel.prompts()}
    assert novel_codes <= set(task.novel.tolist())
    table = task.table.tolist()
    assert all(a == solve(p, table) for p, a in zip(novel.prompts(), novel.answers()))


def test_generation_is_deterministic_in_the_seed():
    a = compose.generate(100, seed=9, proportions=[1, 3, 5])
    b = compose.generate(100, seed=9, proportions=[1, 3, 5])
    assert np.array_equal(a.ids, b.ids)
    assert np.bincount(a.skill).tolist() == [11, 33, 56]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"n_symbols": 1}, "n_symbols"),
        ({"depths": (2, 1)}, "increasing"),
        ({"depths": (0,)}, "depths"),
        ({"separator": "f1"}, "separator"),
        ({"separator": "a b"}, "separator"),
        ({"novel_fraction": 1.0}, "novel_fraction"),
        ({"novel_fraction": 0.0001}, "at least one"),
    ],
)
def test_bad_worlds_are_refused_with_the_field_named(fields, message):
    with pytest.raises(ValueError, match=message):
        compose.ComposeTask(**fields)


def test_source_world_defaults_to_the_run_seed_and_validation_is_fixed():
    cfg = ComposeSourceConfig(val_size=16)
    s10, s11 = ComposeSource(cfg, run_seed=10), ComposeSource(cfg, run_seed=11)
    assert isinstance(s10, SkillSource)
    assert s10.world == 10 and s11.world == 11
    assert not np.array_equal(s10.task.table, s11.task.table)
    pinned = ComposeSource(ComposeSourceConfig(world=4, val_size=16), run_seed=10)
    assert pinned.world == 4
    again = ComposeSource(cfg, run_seed=10)
    for skill in range(3):
        assert np.array_equal(
            s10.validation_examples(skill).input_ids, again.validation_examples(skill).input_ids
        )


def test_source_trains_only_the_depths_and_may_repeat_validation_prompts():
    source = ComposeSource(ComposeSourceConfig(proportions=[1, 3, 5], novel_fraction=0.1), 0)
    assert source.train_skill_names == ["depth1", "depth2", "depth3"]
    assert source.natural_proportions() == pytest.approx([1 / 9, 3 / 9, 5 / 9, 0.0])
    # depth 1 has 64 prompts and 256 validation samples cover nearly all: training still draws
    # them (avoiding the validation set would leave almost nothing to train on)
    depth1 = source.train_examples(0, 500, np.random.default_rng(0))
    val = {tuple(r) for r in source.validation_examples(0).input_ids.tolist()}
    assert len({tuple(r) for r in depth1.input_ids.tolist()} & val) >= 55
    with pytest.raises(SkillitError, match="depth3_novel.*never trained"):
        source.train_examples(3, 4, np.random.default_rng(0))


def test_run_config_defaults_train_every_depth_and_errors_name_the_key(tmp_path):
    cfg = load_config(overrides=["data.source=compose", "data.compose.depths=[1,2]"])
    assert cfg.data.compose.depths == [1, 2]
    with pytest.raises(SkillitError, match="data.compose.proportions must have 2"):
        load_config(overrides=["data.compose.depths=[1,2]", "data.compose.proportions=[1,2,3]"])
    with pytest.raises(SkillitError, match="data.compose: n_symbols"):
        load_config(overrides=["data.compose.n_symbols=1"])


@pytest.mark.slow  # trains a few steps
def test_a_shipped_ordered_run_trains_prints_rounds_and_scores_the_held_out_split(
    tmp_path, capsys, tiny_ordered
):
    from skillit.cli import main
    from skillit.run.evaluate import EXTRA_EVAL_FILE, evaluate_run

    run_dir = tmp_path / "run"
    assert main(["train", "ordered", *tiny_ordered(run_dir)]) == 0
    out = capsys.readouterr()
    shown = out.out + out.err
    # p_1 of the graph, (1 - c) p + c / 3 with the shipped floor c = 0.3 (p: 0.36, 0.36, 0.28)
    assert "round 1 mixture: depth1 0.35  depth2 0.35  depth3 0.30" in shown
    for r in range(1, 6):
        assert f"round {r}/6 (step {2 * r}): acc depth1 " in shown
    assert "round 6/6 (step 12)" in shown and "trained on: depth1" in shown
    final = json.loads((run_dir / "final_eval.json").read_text())
    scored = evaluate_run(run_dir, ["depth3", "depth3_novel"])
    # the final checkpoint scores the run's own validation set exactly as training did
    assert scored["depth3"]["acc"] == pytest.approx(final["eval_acc"]["depth3"])
    assert scored["depth3"]["loss"] == pytest.approx(final["eval_loss"]["depth3"], rel=1e-5)
    assert scored["depth3_novel"]["samples"] == 32 and scored["depth3_novel"]["step"] == 12
    assert set(json.loads((run_dir / EXTRA_EVAL_FILE).read_text())["skills"]) == {
        "depth3",
        "depth3_novel",
    }
    with pytest.raises(SkillitError, match="no skills \\['depth9'\\]"):
        evaluate_run(run_dir, ["depth9"])


def test_the_held_out_split_cannot_be_chosen_as_a_training_skill():
    from skillit.build import build_run

    cfg = load_config(
        overrides=[
            "data.source=compose",
            "data.compose.novel_fraction=0.1",
            "skills.train=[depth1,depth3_novel]",
        ]
    )
    with pytest.raises(SkillitError, match="depth3_novel.*evaluation only"):
        build_run(cfg, network=False)
