"""The JSONL source: parsing, the fixed validation split, answer masks and file:line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skillit.errors import SkillitError
from skillit.sources.base import SkillSource
from skillit.sources.jsonl import JsonlSource, JsonlSourceConfig


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def addition_rows(n_per_skill=6, names=("ones", "tens")):
    rows = []
    for i in range(n_per_skill):
        for s, name in enumerate(names):
            rows.append(
                {"skill": name, "prompt": f"Input: {i} + {i} , A {s} = ? Output:", "answer": str(i)}
            )
    return rows


def source(path, **overrides) -> JsonlSource:
    return JsonlSource(JsonlSourceConfig(path=str(path), val_size=2, **overrides))


def test_source_implements_the_skill_source_protocol(tmp_path):
    assert isinstance(source(write_jsonl(tmp_path / "d.jsonl", addition_rows())), SkillSource)


def test_named_skills_are_ordered_by_first_appearance(tmp_path):
    rows = addition_rows(names=("tens", "ones", "hundreds"))
    assert source(write_jsonl(tmp_path / "d.jsonl", rows)).skill_names == [
        "tens",
        "ones",
        "hundreds",
    ]


def test_integer_skills_are_ordered_by_index_and_named_by_skill_name(tmp_path):
    rows = [
        {"skill": s, "skill_name": f"lego{s + 1}", "prompt": f"q {i}", "answer": "1"}
        for i in range(3)
        for s in (2, 0, 1)
    ]
    assert source(write_jsonl(tmp_path / "d.jsonl", rows)).skill_names == [
        "lego1",
        "lego2",
        "lego3",
    ]


def test_validation_split_is_fixed_by_the_seed_and_disjoint_from_training(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", addition_rows(n_per_skill=8))
    a, b = source(path), source(path)
    val = a.validation_examples(0)
    np.testing.assert_array_equal(val.input_ids, b.validation_examples(0).input_ids)
    train = a.train_examples(0, 200, np.random.default_rng(0))
    val_rows = {tuple(r) for r in val.input_ids.tolist()}
    train_rows = {tuple(r[: val.input_ids.shape[1]]) for r in train.input_ids.tolist()}
    assert len(val_rows) == 2 and len(train_rows) == 6
    assert not val_rows & train_rows


def test_another_validation_seed_holds_out_other_samples(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", addition_rows(n_per_skill=30))
    ids = {
        seed: source(path, val_seed=seed).validation_examples(1).input_ids.tolist()
        for seed in (1, 2)
    }
    assert ids[1] != ids[2]


def test_loss_mask_covers_exactly_the_answer_tokens_and_eos(tmp_path):
    rows = [
        {"skill": "x", "prompt": "Input: a b c Output:", "answer": "yes please"} for _ in range(3)
    ]
    src = source(write_jsonl(tmp_path / "d.jsonl", rows))
    ex = src.validation_examples(0)
    tok = src.tokenizer
    for ids, mask in zip(ex.input_ids, ex.loss_mask, strict=True):
        scored = [tok.id_to_token(int(i)) for i in ids[mask]]
        unscored = [tok.id_to_token(int(i)) for i in ids[~mask] if i != src.pad_id]
        assert scored == ["yes", "please", "<eos>"]
        assert unscored == ["Input:", "a", "b", "c", "Output:"]


def test_without_eos_only_the_answer_tokens_are_scored(tmp_path):
    rows = [{"skill": "x", "prompt": "p q", "answer": "r"} for _ in range(3)]
    src = source(write_jsonl(tmp_path / "d.jsonl", rows), add_eos=False)
    ex = src.validation_examples(0)
    assert ex.loss_mask.sum(axis=1).tolist() == [1, 1]
    assert [src.tokenizer.id_to_token(int(i)) for i in ex.input_ids[ex.loss_mask]] == ["r", "r"]


def test_bpe_tokenizer_masks_a_span_that_decodes_to_the_answer(tmp_path):
    rows = [
        {"skill": "qa", "prompt": f"Question {i}: what colour is it?", "answer": "blue sky"}
        for i in range(5)
    ]
    src = source(write_jsonl(tmp_path / "d.jsonl", rows), tokenizer="bpe", bpe_vocab_size=300)
    ex = src.train_examples(0, 1, np.random.default_rng(0))
    answer_ids = ex.input_ids[0][ex.loss_mask[0]].tolist()
    assert src.tokenizer.decode(answer_ids[:-1]) == " blue sky"
    assert src.tokenizer.id_to_token(answer_ids[-1]) == "<eos>"


def test_wordlevel_vocabulary_reads_generated_text_losslessly(tmp_path):
    rows = addition_rows()
    src = source(write_jsonl(tmp_path / "d.jsonl", rows))
    ex = src.train_examples(1, 5, np.random.default_rng(3))
    for ids in ex.input_ids:
        text = src.tokenizer.decode([int(i) for i in ids if i != src.pad_id])
        assert any(text == f"{r['prompt']} {r['answer']} <eos>" for r in rows)


def test_natural_proportions_are_the_training_counts(tmp_path):
    rows = addition_rows(n_per_skill=4, names=("a",)) + addition_rows(n_per_skill=8, names=("b",))
    src = source(write_jsonl(tmp_path / "d.jsonl", rows))
    np.testing.assert_allclose(src.natural_proportions(), [2 / 8, 6 / 8])


def test_train_examples_repeat_with_the_same_rng_state(tmp_path):
    src = source(write_jsonl(tmp_path / "d.jsonl", addition_rows(n_per_skill=10)))
    a = src.train_examples(0, 16, np.random.default_rng(7))
    b = src.train_examples(0, 16, np.random.default_rng(7))
    np.testing.assert_array_equal(a.input_ids, b.input_ids)
    assert (a.skill == 0).all()


def test_a_folder_reads_every_jsonl_file(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", addition_rows(names=("ones",)))
    write_jsonl(tmp_path / "b.jsonl", addition_rows(names=("tens",)))
    (tmp_path / "notes.txt").write_text("not data")
    assert source(tmp_path).skill_names == ["ones", "tens"]


def test_missing_field_error_names_file_line_and_field(tmp_path):
    rows = addition_rows()
    del rows[4]["answer"]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(SkillitError, match=rf"{path}:5: the field 'answer' is missing"):
        source(path)


def test_bad_json_error_names_file_and_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(addition_rows()[0]) + "\n\n{broken\n")
    with pytest.raises(SkillitError, match=rf"{path}:3: not valid JSON"):
        source(path)


def test_too_few_samples_error_names_the_skill_and_count(tmp_path):
    rows = addition_rows(n_per_skill=6, names=("ones",)) + addition_rows(2, names=("tens",))
    with pytest.raises(SkillitError, match=r"skill 'tens' has only 2 samples"):
        source(write_jsonl(tmp_path / "d.jsonl", rows))


def test_mixing_names_and_integer_skills_is_an_error_naming_the_line(tmp_path):
    rows = addition_rows()
    rows[3]["skill"] = 1
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(SkillitError, match=rf"{path}:4:"):
        source(path)


def test_unknown_tokenizer_names_the_config_key(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", addition_rows())
    with pytest.raises(SkillitError, match="data.jsonl.tokenizer"):
        source(path, tokenizer="sentencepiece")


def test_a_tokenizer_json_path_is_loaded_and_used(tmp_path):
    from skillit.utils.tokenization import save_tokenizer, wordlevel_tokenizer

    words = ["p", "q", "r", "extra"]
    tok_path = save_tokenizer(wordlevel_tokenizer(words), tmp_path / "tokenizer.json")
    rows = [{"skill": "x", "prompt": "p q", "answer": "r"} for _ in range(3)]
    src = source(write_jsonl(tmp_path / "d.jsonl", rows), tokenizer=str(tok_path))
    assert src.tokenizer.get_vocab_size() == 7  # 3 specials + 4 words, 'extra' kept
    assert src.validation_examples(0).input_ids[0].tolist() == [3, 4, 5, 2]


def test_a_tokenizer_that_maps_a_skills_words_to_unk_draws_a_warning(tmp_path):
    from skillit.errors import SkillitWarning
    from skillit.utils.tokenization import save_tokenizer, wordlevel_tokenizer

    data = tmp_path / "d.jsonl"
    lines = [{"skill": "s", "prompt": f"zebra quokka {i}", "answer": "yak"} for i in range(30)]
    data.write_text("".join(json.dumps(x) + "\n" for x in lines))
    tok = save_tokenizer(wordlevel_tokenizer(["0", "1"]), tmp_path / "tok.json")
    with pytest.warns(SkillitWarning, match=r"maps \d+% of skill 's'.*<unk>"):
        JsonlSource(JsonlSourceConfig(path=str(data), tokenizer=str(tok), val_size=5))
