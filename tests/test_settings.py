"""The three settings: which training skills the stratified baseline samples, and set relations."""

from __future__ import annotations

import numpy as np
import pytest

from skillit.errors import SkillitError
from skillit.mixing.settings import check_setting, stratified_mask


def test_continual_pretraining_stratifies_over_every_skill():
    graph = np.eye(3)
    mask = stratified_mask("continual_pretraining", ["a", "b", "c"], ["c", "a", "b"], graph)
    assert mask.tolist() == [True, True, True]


def test_fine_tuning_stratifies_over_prerequisites_and_targets():
    # LEGO fine-tuning: skills 1..4, target 3 with column [0, 0.5, 1, 0]: skill 2 is its only
    # prerequisite besides itself; skills 1 and 4 are left out.
    train = ["lego1", "lego2", "lego3", "lego4"]
    graph = np.array([[0.0], [0.5], [1.0], [0.0]])
    assert stratified_mask("fine_tuning", train, ["lego3"], graph).tolist() == [
        False,
        True,
        True,
        False,
    ]


def test_fine_tuning_includes_a_target_even_without_its_own_edge():
    train = ["a", "b", "c"]
    graph = np.array([[0.7], [0.0], [0.0]])  # target c has no self-edge
    assert stratified_mask("fine_tuning", train, ["c"], graph).tolist() == [True, False, True]


def test_out_of_domain_stratifies_over_prerequisites_only():
    graph = np.array([[0.0, 0.0], [0.2, 0.0], [0.0, 0.0], [0.0, 1.3]])
    mask = stratified_mask("out_of_domain", ["a", "b", "c", "d"], ["x", "y"], graph)
    assert mask.tolist() == [False, True, False, True]


def test_out_of_domain_without_any_edge_is_an_error():
    with pytest.raises(SkillitError, match="out_of_domain"):
        stratified_mask("out_of_domain", ["a", "b"], ["x"], np.zeros((2, 1)))


@pytest.mark.parametrize(
    ("setting", "evals"),
    [
        ("continual_pretraining", ["a", "b"]),
        ("continual_pretraining", ["a", "b", "c", "z"]),
        ("fine_tuning", ["a", "z"]),
        ("fine_tuning", ["a", "b", "c"]),
        ("out_of_domain", ["x", "a"]),
    ],
)
def test_wrong_relation_between_skill_sets_names_skills_eval(setting, evals):
    with pytest.raises(SkillitError, match="skills.eval"):
        check_setting(setting, ["a", "b", "c"], evals)


def test_unknown_setting_lists_the_valid_settings():
    with pytest.raises(SkillitError, match="fine_tuning") as err:
        check_setting("pretraining", ["a"], ["a"])
    assert "continual_pretraining" in str(err.value) and "out_of_domain" in str(err.value)


def test_graph_shape_must_match_the_skill_sets():
    with pytest.raises(SkillitError, match=r"\(3, 1\)"):
        stratified_mask("fine_tuning", ["a", "b", "c"], ["c"], np.ones((3, 3)))
