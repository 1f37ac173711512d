"""LEGO generator: answers checked by an independent solver that reads only the rendered text."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from skillit.utils.tokenization import wordlevel_tokenizer
from synthetic import lego
from synthetic.common import row_hashes, skill_counts, validation_set

FORMATS = ("paper", "chain")
STRUCTURES = ("chain", "tree")


def parse_clauses(prompt: str) -> dict[str, tuple[str, str]]:
    """Variable -> (sign, operand) from the clause part of a prompt, in either format."""
    body = prompt.split("Output:")[0].removeprefix("Input:").strip()
    clauses: dict[str, tuple[str, str]] = {}
    if " = " in body:  # paper: "a = val 1 , b = not a ."
        for clause in body.rstrip(" .").split(" , "):
            var, eq, sign, operand = clause.split(" ")
            assert eq == "="
            clauses[var] = (sign, operand)
    else:  # chain: "b=not a a=val 1"
        words = body.split(" ")
        for head, operand in zip(words[::2], words[1::2]):
            var, sign = head.split("=")
            clauses[var] = (sign, operand)
    return clauses


def resolve(clauses: dict[str, tuple[str, str]], var: str) -> tuple[int, int]:
    """(value, depth) of a variable by following clauses to the root."""
    sign, operand = clauses[var]
    if operand in ("0", "1"):
        assert sign == "val"
        return int(operand), 0
    value, depth = resolve(clauses, operand)
    return value ^ (sign == "not"), depth + 1


def answer_listing(prompt: str, answer: str) -> list[tuple[str, str]]:
    """The (name, value) pairs after 'Output:' in a chain-format sample."""
    words = f"{prompt} {answer}".split("Output:")[1].split()
    return list(zip(words[::2], words[1::2]))


@pytest.mark.parametrize("structure", STRUCTURES)
def test_paper_answer_equals_the_value_found_by_resolving_the_clauses(structure):
    batch = lego.generate(400, k=7, structure=structure, seed=3, fmt="paper")
    for prompt, answer in zip(batch.prompts(), batch.answers()):
        asked = prompt.split("Output:")[1].split()[0]
        assert prompt.endswith(f"Output: {asked} = val")
        assert answer == str(resolve(parse_clauses(prompt), asked)[0])


@pytest.mark.parametrize("structure", STRUCTURES)
@pytest.mark.parametrize("answer_loss", ("last", "all"))
def test_chain_answer_section_lists_the_solved_path_from_the_root(structure, answer_loss):
    batch = lego.generate(
        400, k=7, structure=structure, seed=4, fmt="chain", answer_loss=answer_loss
    )
    for prompt, answer, skill in zip(batch.prompts(), batch.answers(), batch.skill):
        clauses = parse_clauses(prompt)
        listing = answer_listing(prompt, answer)
        assert len(listing) == skill + 1
        for depth, (name, value) in enumerate(listing):
            assert (int(value), depth) == resolve(clauses, name)
            if depth:
                assert clauses[name][1] == listing[depth - 1][0]  # parent listed just before
        if answer_loss == "last":
            assert answer == listing[-1][1]
        else:
            assert answer == " ".join(f"{n} {v}" for n, v in listing)


@pytest.mark.parametrize("structure", STRUCTURES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_asked_variable_sits_at_the_depth_of_its_skill(structure, fmt):
    batch = lego.generate(300, k=6, structure=structure, seed=5, fmt=fmt)
    for prompt, answer, skill in zip(batch.prompts(), batch.answers(), batch.skill):
        words = f"{prompt} {answer}".split("Output:")[1].split()
        asked = words[0] if fmt == "paper" else words[-2]
        assert resolve(parse_clauses(prompt), asked)[1] == skill


def test_chain_structure_is_one_path_through_all_variables():
    batch = lego.generate(100, k=8, structure="chain", seed=6)
    for prompt in batch.prompts():
        clauses = parse_clauses(prompt)
        assert sorted(resolve(clauses, v)[1] for v in clauses) == list(range(8))


def test_tree_structure_is_a_balanced_binary_tree_filled_breadth_first():
    batch = lego.generate(100, k=6, structure="tree", seed=7)
    for prompt in batch.prompts():
        clauses = parse_clauses(prompt)
        per_depth = Counter(resolve(clauses, v)[1] for v in clauses)
        children = Counter(op for _, op in clauses.values() if op not in ("0", "1"))
        assert per_depth == {0: 1, 1: 2, 2: 3}
        assert max(children.values()) == 2
        # Breadth-first filling: the first depth-1 variable has two children, the other one.
        depth1 = [v for v in clauses if resolve(clauses, v)[1] == 1]
        assert sorted(children[v] for v in depth1) == [1, 2]


def test_tree_skill_asks_every_variable_of_its_depth():
    # k=5: depth 1 holds one variable with two children and one leaf; both must be asked.
    batch = lego.generate(200, k=5, structure="tree", seed=8, skill=1)
    kinds = Counter()
    for prompt in batch.prompts():
        clauses = parse_clauses(prompt)
        asked = prompt.split("Output:")[1].split()[0]
        kinds[sum(op == asked for _, op in clauses.values())] += 1
    assert set(kinds) == {0, 2}
    assert min(kinds.values()) > 60


def test_skill_count_is_k_for_chains_and_the_number_of_depths_for_trees():
    assert lego.skill_count(5, "chain") == 5
    assert lego.skill_count(4, "tree") == 3
    assert lego.skill_count(7, "tree") == 3
    assert lego.skill_count(8, "tree") == 4
    assert lego.LegoTask(5, "tree").skill_names() == ["lego1", "lego2", "lego3"]


def test_variable_names_are_distinct_lowercase_letters():
    batch = lego.generate(200, k=26, seed=9)
    for prompt in batch.prompts():
        assert sorted(parse_clauses(prompt)) == list("abcdefghijklmnopqrstuvwxyz")


def test_clause_order_is_shuffled():
    batch = lego.generate(300, k=5, seed=10, fmt="chain")
    root_positions = Counter()
    for prompt in batch.prompts():
        heads = prompt.split("Output:")[0].split()[1::2]
        operands = prompt.split("Output:")[0].split()[2::2]
        root_positions[next(i for i, op in enumerate(operands) if op in "01")] += 1
        assert len(heads) == 5
    assert set(root_positions) == set(range(5))


def test_proportions_give_exact_counts():
    batch = lego.generate(1100, seed=0, proportions=[1, 1, 1, 3, 5])
    assert np.bincount(batch.skill, minlength=5).tolist() == [100, 100, 100, 300, 500]


def test_proportion_rounding_hands_leftovers_to_largest_remainders():
    # 7 * [1,1,1,3,5]/11 = 0.64, 0.64, 0.64, 1.91, 3.18 -> floors 0,0,0,1,3; the 3 left over go
    # to the largest fractional parts: 1.91, then the tied 0.64s by lower index.
    assert skill_counts(7, [1, 1, 1, 3, 5], 5).tolist() == [1, 1, 0, 2, 3]
    assert skill_counts(10, None, 3).tolist() == [4, 3, 3]


def test_uniform_mix_without_proportions_is_exactly_balanced():
    batch = lego.generate(500, seed=1)
    assert np.bincount(batch.skill).tolist() == [100] * 5


def test_same_seed_gives_identical_samples():
    a = lego.generate(200, structure="tree", k=7, seed=11, fmt="chain")
    b = lego.generate(200, structure="tree", k=7, seed=11, fmt="chain")
    assert np.array_equal(a.ids, b.ids) and a.texts() == b.texts()


def test_different_seeds_give_different_samples():
    a = lego.generate(200, seed=11)
    b = lego.generate(200, seed=12)
    assert (a.ids != b.ids).any(axis=1).mean() > 0.9


@pytest.mark.parametrize("fmt", FORMATS)
def test_wordlevel_tokenizer_from_the_vocabulary_gives_the_generator_ids(fmt):
    batch = lego.generate(50, k=6, structure="tree", seed=13, fmt=fmt)
    tok = wordlevel_tokenizer(lego.VOCAB)
    for row, length, text in zip(batch.ids, batch.lengths, batch.texts()):
        assert tok.encode(text).ids == row[:length].tolist()
        assert (row[length:] == tok.token_to_id("<pad>")).all()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("answer_loss", ("last", "all"))
def test_answer_mask_marks_exactly_the_value_tokens_of_the_answer(fmt, answer_loss):
    batch = lego.generate(100, k=5, seed=14, fmt=fmt, answer_loss=answer_loss)
    tok = wordlevel_tokenizer(lego.VOCAB)
    for row, mask, prompt, answer in zip(
        batch.ids, batch.answer_mask, batch.prompts(), batch.answers()
    ):
        scored = [tok.id_to_token(i) for i in row[mask]]
        expected = (
            answer.split()
            if fmt == "paper" or answer_loss == "last"
            else [v for _, v in answer_listing(prompt, answer)]
        )
        assert scored == expected


def test_samples_avoid_the_given_validation_hashes():
    # k=1 has only 52 distinct samples, so 40 validation samples force many collisions.
    task = lego.LegoTask(k=1)
    val = validation_set(task, size=40, seed=0)
    train = lego.generate(2000, k=1, seed=0, avoid=val.hashes())
    assert not set(train.texts()) & set(val.texts())
    assert len(set(train.texts())) == 52 - len(set(val.texts()))


def test_row_hash_ignores_trailing_padding_and_separates_rows():
    ids = np.array([[5, 6, 7, 0], [5, 6, 7, 8], [6, 5, 7, 0]])
    padded = np.hstack([ids, np.zeros((3, 3), dtype=ids.dtype)])
    assert np.array_equal(row_hashes(ids), row_hashes(padded))
    assert len(set(row_hashes(ids).tolist())) == 3


@pytest.mark.parametrize("k", (0, 27))
def test_k_outside_the_alphabet_is_rejected(k):
    with pytest.raises(ValueError, match="k must be between 1 and 26"):
        lego.generate(10, k=k)


def test_unknown_format_is_rejected():
    with pytest.raises(ValueError, match="fmt must be one of paper, chain"):
        lego.generate(10, fmt="prose")


def test_query_format_asks_one_variable_whose_value_the_clauses_resolve():
    samples = lego.generate(400, k=6, fmt="query", seed=4)
    for prompt, answer, skill in zip(samples.prompts(), samples.answers(), samples.skill):
        body, asked = prompt.split(" Output: ")
        value, depth = resolve(parse_clauses(body), asked)
        assert depth == skill and answer == str(value)
    assert samples.answer_mask.sum(axis=1).tolist() == [1] * 400
