"""LegoSource / AdditionSource: the SkillSource contract over the synthetic generators."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from skillit.errors import SkillitError
from skillit.sources.base import SkillSource, concat_examples
from skillit.sources.synthetic import (
    AdditionSource,
    AdditionSourceConfig,
    LegoSource,
    LegoSourceConfig,
)


def row_set(examples) -> set[tuple[int, ...]]:
    return {tuple(int(t) for t in row if t != 0) for row in examples.input_ids}


def expected_scored_words(text: str, fmt: str, answer_loss: str) -> list[str]:
    """The tokens a model must predict, read from the text alone (independent of the mask)."""
    after = text.split("Output:")[1].split()
    if fmt == "paper":
        return [after[-1]]
    lego_chain = "=val" in text  # the root clause's merged token; LEGO lists (name, value) pairs
    values = after[1::2] if lego_chain else after
    return values[-1:] if answer_loss == "last" else values


def test_both_sources_satisfy_the_skill_source_protocol():
    assert isinstance(LegoSource(LegoSourceConfig()), SkillSource)
    assert isinstance(AdditionSource(AdditionSourceConfig()), SkillSource)


def test_skill_names_are_numbered_from_one():
    assert LegoSource(LegoSourceConfig(k=4)).skill_names == ["lego1", "lego2", "lego3", "lego4"]
    assert LegoSource(LegoSourceConfig(k=7, structure="tree")).skill_names == [
        "lego1",
        "lego2",
        "lego3",
    ]
    assert AdditionSource(AdditionSourceConfig()).skill_names == ["add1", "add2", "add3"]


def test_natural_proportions_are_the_configured_ones_normalised_or_uniform():
    src = LegoSource(LegoSourceConfig(proportions=[1, 1, 1, 3, 5]))
    assert np.allclose(src.natural_proportions(), np.array([1, 1, 1, 3, 5]) / 11)
    assert np.allclose(AdditionSource(AdditionSourceConfig()).natural_proportions(), 1 / 3)


@pytest.mark.parametrize(
    "cfg",
    [
        LegoSourceConfig(fmt="paper"),
        LegoSourceConfig(fmt="chain", answer_loss="last", structure="tree", k=6),
        LegoSourceConfig(fmt="chain", answer_loss="all"),
        AdditionSourceConfig(fmt="paper"),
        AdditionSourceConfig(fmt="chain", answer_loss="all"),
    ],
    ids=lambda c: f"{type(c).__name__}-{c.fmt}-{c.answer_loss}",
)
def test_loss_mask_covers_exactly_the_answer_tokens(cfg):
    src = LegoSource(cfg) if isinstance(cfg, LegoSourceConfig) else AdditionSource(cfg)
    rng = np.random.default_rng(0)
    parts = [src.train_examples(s, 20, rng) for s in range(len(src.skill_names))]
    parts += [src.validation_examples(s) for s in range(len(src.skill_names))]
    batch = concat_examples(parts, src.pad_id)
    tok = src.tokenizer
    for ids, mask in zip(batch.input_ids, batch.loss_mask):
        text = tok.decode(ids[ids != src.pad_id].tolist())
        scored = [tok.id_to_token(int(i)) for i in ids[mask]]
        assert scored == expected_scored_words(text, cfg.fmt, cfg.answer_loss)
        assert not mask[ids == src.pad_id].any()


def test_train_examples_have_the_requested_skill_and_size():
    src = LegoSource(LegoSourceConfig(fmt="chain"))
    ex = src.train_examples(3, 17, np.random.default_rng(1))
    assert len(ex) == 17 and (ex.skill == 3).all()
    assert ex.input_ids.dtype == np.int64 and ex.loss_mask.dtype == bool


def test_same_rng_state_gives_the_same_training_examples():
    src = AdditionSource(AdditionSourceConfig())
    a = src.train_examples(1, 50, np.random.default_rng(5))
    b = src.train_examples(1, 50, np.random.default_rng(5))
    assert np.array_equal(a.input_ids, b.input_ids)


def test_validation_examples_are_identical_on_every_call_and_every_instance():
    first = LegoSource(LegoSourceConfig())
    a = first.validation_examples(2)
    a.input_ids[:] = 0  # a caller scribbling on its copy must not change the cache
    b = first.validation_examples(2)
    c = LegoSource(LegoSourceConfig()).validation_examples(2)
    assert len(b) == 100 and (b.skill == 2).all()
    assert np.array_equal(b.input_ids, c.input_ids)


def test_validation_sets_do_not_depend_on_the_training_stream():
    src = LegoSource(LegoSourceConfig(val_seed=7))
    before = src.validation_examples(0).input_ids
    src.train_examples(0, 100, np.random.default_rng(0))
    again = LegoSource(LegoSourceConfig(val_seed=7)).validation_examples(0).input_ids
    assert np.array_equal(before, again)
    other = LegoSource(LegoSourceConfig(val_seed=8)).validation_examples(0).input_ids
    assert not np.array_equal(before, other)


def test_training_examples_never_coincide_with_validation_examples():
    # One-digit addition has 100 operand pairs per skill: collisions are certain without dedup.
    src = AdditionSource(AdditionSourceConfig(digits=1, val_size=50))
    held_out = row_set(src.validation_examples(0))
    train = src.train_examples(0, 2000, np.random.default_rng(2))
    assert len(held_out) > 30
    assert not row_set(train) & held_out


def test_exhausted_sample_space_raises_a_user_error_naming_val_size():
    # k=1 LEGO has 52 distinct samples; 2000 validation draws take them all.
    src = LegoSource(LegoSourceConfig(k=1, val_size=2000))
    with pytest.raises(SkillitError, match="val_size"):
        src.train_examples(0, 10, np.random.default_rng(0))


def test_tokenizer_decodes_ids_back_to_the_generator_text():
    src = LegoSource(LegoSourceConfig(fmt="chain"))
    samples = src.validation_samples(1)
    text = samples.texts()[0]
    assert src.tokenizer.encode(text).ids == samples.ids[0, : samples.lengths[0]].tolist()
    assert src.pad_id == src.tokenizer.token_to_id("<pad>")


@pytest.mark.parametrize(
    ("make", "key"),
    [
        (lambda: LegoSourceConfig(k=27), "data.lego.k must be between 1 and 26"),
        (lambda: LegoSourceConfig(structure="ring"), "data.lego.structure"),
        (lambda: LegoSourceConfig(fmt="prose"), "data.lego.fmt"),
        (lambda: LegoSourceConfig(answer_loss="first"), "data.lego.answer_loss"),
        (lambda: LegoSourceConfig(proportions=[1, 2]), "data.lego.proportions must have 5"),
        (lambda: LegoSourceConfig(proportions=[1, -1, 1, 1, 1]), "data.lego.proportions"),
        (lambda: LegoSourceConfig(proportions=[0, 0, 0, 0, 0]), "data.lego.proportions"),
        (lambda: LegoSourceConfig(val_size=0), "data.lego.val_size"),
        (lambda: AdditionSourceConfig(digits=11), "data.addition.digits"),
        (lambda: AdditionSourceConfig(proportions=[1, 1]), "data.addition.proportions"),
    ],
)
def test_bad_config_raises_a_user_error_naming_the_key(make, key):
    with pytest.raises(SkillitError, match=key):
        make()


def test_tree_proportions_need_one_weight_per_depth():
    LegoSourceConfig(k=7, structure="tree", proportions=[1, 2, 3])
    with pytest.raises(SkillitError, match="must have 3 entries"):
        LegoSourceConfig(k=7, structure="tree", proportions=[1, 2, 3, 4, 5, 6, 7])


def test_configs_build_from_omegaconf_dot_lists():
    base = OmegaConf.structured(LegoSourceConfig)
    merged = OmegaConf.merge(base, OmegaConf.from_dotlist(["proportions=[1,1,1,3,5]", "k=5"]))
    cfg = OmegaConf.to_object(merged)
    assert isinstance(cfg, LegoSourceConfig) and cfg.proportions == [1, 1, 1, 3, 5]
