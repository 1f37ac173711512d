"""The Natural Instructions source on the real sample in /work/shared/natinst (or $SKILLIT_NATINST).

The shipped configs are read as a user would, with the dataset folder and a temporary cache set
on the command line. One small BPE, trained on a slice of the sample, serves every test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skillit.config import load_config
from skillit.errors import SkillitError
from skillit.sources.natinst import NatInstSource, NatInstWarning
from skillit.sources.natinst.loader import read_task, task_path
from skillit.utils.tokenization import train_byte_bpe

CONFIGS = Path(__file__).resolve().parents[1] / "skillit" / "configs" / "data"
OOD_EVAL = [
    "answerability_classification",
    "cause_effect_classification",
    "coreference_resolution",
    "data_to_text",
    "dialogue_act_recognition",
    "grammar_error_correction",
    "keyword_tagging",
    "overlap_extraction",
    "question_rewriting",
    "textual_entailment",
    "title_generation",
    "word_analogy",
]

pytestmark = [pytest.mark.filterwarnings("ignore::skillit.sources.natinst.NatInstWarning")]


@pytest.fixture(scope="module")
def small_bpe(natinst_root):
    """A 512-token byte-level BPE on ~200k characters of the sample (seconds, not minutes)."""
    task = read_task(task_path(natinst_root, "task1610_xquad_es_answer_generation"))
    other = read_task(task_path(natinst_root, "task1608_xquad_en_answer_generation"))
    texts = [*task.inputs[:60], *other.inputs[:60], *task.outputs, *other.outputs]
    return train_byte_bpe(texts, vocab_size=512)


@pytest.fixture
def source(natinst_root, tmp_path, small_bpe):
    """source(config name, *overrides): the shipped data config on the sample, small BPE."""

    def make(name: str, *overrides: str) -> NatInstSource:
        cfg = load_config(
            [CONFIGS / f"{name}.yaml"],
            [
                f"data.natinst.root={natinst_root}",
                f"data.natinst.cache_dir={tmp_path / 'cache'}",
                *overrides,
            ],
        )
        return NatInstSource(cfg.data.natinst, small_bpe)

    return make


def test_spanish_qg_finds_the_four_skills_with_their_xquad_tasks(source):
    src = source("ni_spanish_qg")
    assert {s: src.tasks_of(s) for s in src.skill_names} == {
        "question_answering_english_english": ["task1608_xquad_en_answer_generation"],
        "question_answering_spanish_spanish": ["task1610_xquad_es_answer_generation"],
        "question_generation_english_english": ["task1609_xquad_en_question_generation"],
        "question_generation_spanish_spanish": ["task1611_xquad_es_question_generation"],
    }
    assert src.eval_skill_names == ["question_generation_spanish_spanish"]
    assert len(src.validation_examples(3)) == 100


def test_stance_finds_two_stance_tasks_and_one_text_matching_task(source):
    src = source("ni_stance", "data.natinst.min_instances=0")
    assert src.skill_names == ["stance_detection", "text_matching"]
    assert [len(src.tasks_of(s)) for s in src.skill_names] == [2, 1]


def test_stance_config_names_min_instances_for_the_truncated_sample_task(source):
    with pytest.raises(SkillitError, match=r"text_matching.*min_instances=100.*task1288\S* \(29\)"):
        source("ni_stance")


def test_ood_finds_the_twelve_test_categories_and_reports_missing_tasks(source):
    with pytest.warns(NatInstWarning, match=r"107 of 119 tasks listed in .*test_tasks\.txt"):
        src = source("ni_ood", "skills.train=null")
    assert src.eval_skill_names == OOD_EVAL
    assert all(len(src.tasks_of(s)) == 1 for s in OOD_EVAL)
    assert set(src.train_skill_names) == {
        "question_answering",
        "question_generation",
        "stance_detection",
    }
    assert not set(src.train_skill_names) & set(OOD_EVAL)


def test_real_training_sequences_fit_the_context_and_score_only_real_outputs(source, natinst_root):
    src = source("ni_spanish_qg")
    rng = np.random.default_rng(0)
    for skill in range(len(src.skill_names)):
        (task,) = src.tasks_of(skill)
        outputs = {f" {y}" for y in read_task(task_path(natinst_root, task)).outputs}
        ex = src.train_examples(skill, 4, rng)
        assert ex.input_ids.shape[1] <= 512
        for r in range(len(ex)):
            edges = np.flatnonzero(np.diff(np.r_[0, ex.loss_mask[r].astype(int), 0]))
            spans = [ex.input_ids[r, a:b].tolist() for a, b in zip(edges[::2], edges[1::2])]
            assert spans and all(src.tokenizer.decode(s) in outputs for s in spans)
