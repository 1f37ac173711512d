"""Addition generator: answers checked against the real sum of the operands parsed from the text."""

from __future__ import annotations

import numpy as np
import pytest

from skillit.utils.tokenization import wordlevel_tokenizer
from synthetic import addition
from synthetic.common import validation_set


def parse_operands(prompt: str, digits: int) -> tuple[int, int]:
    words = prompt.split()
    assert words[:3] == ["Input:", "A", "="]
    first = words[3 : 3 + digits]
    assert words[3 + digits] == "+"
    second = words[4 + digits : 4 + 2 * digits]
    return int("".join(first)), int("".join(second))


def sum_digit(a: int, b: int, i: int) -> int:
    return (a + b) // 10**i % 10


@pytest.mark.parametrize("digits", (1, 3, 6))
def test_paper_answer_is_the_asked_digit_of_the_real_sum(digits):
    batch = addition.generate(300, digits=digits, seed=1)
    for prompt, answer, skill in zip(batch.prompts(), batch.answers(), batch.skill):
        a, b = parse_operands(prompt, digits)
        asked = int(prompt.split(",")[1].split()[1])
        assert prompt.endswith(f", A {asked} = ? Output:")
        assert asked == skill
        assert answer == str(sum_digit(a, b, asked))


@pytest.mark.parametrize("answer_loss", ("last", "all"))
def test_chain_answer_lists_the_sum_digits_from_the_ones_digit_up(answer_loss):
    batch = addition.generate(300, digits=4, seed=2, fmt="chain", answer_loss=answer_loss)
    for prompt, answer, skill in zip(batch.prompts(), batch.answers(), batch.skill):
        a, b = parse_operands(prompt, 4)
        listed = f"{prompt} {answer}".split("Output:")[1].split()
        assert listed == [str(sum_digit(a, b, i)) for i in range(skill + 1)]
        assert answer == (listed[-1] if answer_loss == "last" else " ".join(listed))


def test_operands_are_written_with_leading_zeros_and_cover_the_range():
    batch = addition.generate(2000, digits=3, seed=3)
    operands = [parse_operands(p, 3) for p in batch.prompts()]
    firsts = np.array([a for a, _ in operands])
    assert firsts.min() < 100 and firsts.max() >= 900  # small numbers keep their zeros


def test_sum_can_carry_past_the_last_skill():
    batch = addition.generate(500, digits=2, seed=4)
    sums = [sum(parse_operands(p, 2)) for p in batch.prompts()]
    assert max(sums) >= 100  # a third digit exists, but only digits 0 and 1 are skills
    assert set(batch.skill.tolist()) == {0, 1}


@pytest.mark.parametrize("fmt", ("paper", "chain"))
@pytest.mark.parametrize("answer_loss", ("last", "all"))
def test_answer_mask_marks_exactly_the_digit_tokens_of_the_answer(fmt, answer_loss):
    batch = addition.generate(100, digits=3, seed=5, fmt=fmt, answer_loss=answer_loss)
    tok = wordlevel_tokenizer(addition.VOCAB)
    for row, mask, answer in zip(batch.ids, batch.answer_mask, batch.answers()):
        assert [tok.id_to_token(i) for i in row[mask]] == answer.split()


def test_proportions_give_exact_counts():
    batch = addition.generate(4500, seed=6, proportions=[13, 14, 18])
    assert np.bincount(batch.skill).tolist() == [1300, 1400, 1800]


def test_same_seed_gives_identical_samples():
    a = addition.generate(300, digits=5, seed=7, fmt="chain")
    b = addition.generate(300, digits=5, seed=7, fmt="chain")
    assert np.array_equal(a.ids, b.ids) and a.texts() == b.texts()


def test_different_seeds_give_different_samples():
    a = addition.generate(300, seed=7)
    b = addition.generate(300, seed=8)
    assert (a.ids != b.ids).any(axis=1).mean() > 0.9


@pytest.mark.parametrize("fmt", ("paper", "chain"))
def test_wordlevel_tokenizer_from_the_vocabulary_gives_the_generator_ids(fmt):
    batch = addition.generate(50, digits=10, seed=9, fmt=fmt)
    tok = wordlevel_tokenizer(addition.VOCAB)
    for row, length, text in zip(batch.ids, batch.lengths, batch.texts()):
        assert tok.encode(text).ids == row[:length].tolist()
        assert (row[length:] == tok.token_to_id("<pad>")).all()


def test_samples_avoid_the_given_validation_hashes():
    # One digit: 100 operand pairs per skill, so a validation set of 60 forces collisions.
    task = addition.AdditionTask(digits=1)
    val = validation_set(task, size=60, seed=0)
    train = addition.generate(3000, digits=1, seed=0, avoid=val.hashes())
    assert not set(train.texts()) & set(val.texts())
    assert len(set(train.texts())) == 100 - len(set(val.texts()))


def test_validation_set_is_fixed_by_its_seed_and_apart_from_training_seeds():
    task = addition.AdditionTask(digits=3)
    first = validation_set(task, size=20, seed=1234)
    again = validation_set(task, size=20, seed=1234)
    other = validation_set(task, size=20, seed=99)
    assert np.array_equal(first.ids, again.ids)
    assert (first.ids != other.ids).any(axis=1).all()
    assert np.bincount(first.skill).tolist() == [20, 20, 20]


@pytest.mark.parametrize("digits", (0, 11))
def test_digits_outside_one_to_ten_are_rejected(digits):
    with pytest.raises(ValueError, match="digits must be between 1 and 10"):
        addition.generate(10, digits=digits)


def test_skill_and_proportions_together_are_rejected():
    with pytest.raises(ValueError, match="either skill or proportions"):
        addition.generate(10, skill=0, proportions=[1, 1, 1])
