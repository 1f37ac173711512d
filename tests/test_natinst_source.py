"""The Natural Instructions source on tiny task files written by the tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from skillit.errors import SkillitError
from skillit.sources.base import SkillSource
from skillit.sources.natinst import NatInstSource, NatInstSourceConfig, NatInstWarning
from skillit.sources.natinst.packing import first_fit
from skillit.sources.natinst.slicer import dev_positions, snake_case

pytestmark = pytest.mark.filterwarnings("ignore::skillit.sources.natinst.NatInstWarning")

BLOCK = re.compile(r"Input: (.*?)\nOutput: (.*?)\n\n", re.DOTALL)


def instance_input(name: str, i: int) -> str:
    return f"{name} q{i} " + "blah " * ((i * 7) % 11)  # lengths vary from instance to instance


def write_task(
    root: Path,
    name: str,
    category: str,
    n: int,
    languages: tuple[str, str] = ("English", "English"),
    inputs: list[str] | None = None,
) -> None:
    inputs = inputs or [instance_input(name, i) for i in range(n)]
    obj = {
        "Categories": [category],
        "Definition": [f"Definition text of {name}."],
        "Input_language": [languages[0]],
        "Output_language": [languages[1]],
        "Instruction_language": ["English"],
        "Positive Examples": [],
        "Negative Examples": [],
        "Instances": [
            {"id": f"{name}-{i}", "input": x, "output": [f"ans{i} of {name}", "other answer"]}
            for i, x in enumerate(inputs)
        ],
    }
    (root / "tasks").mkdir(parents=True, exist_ok=True)
    (root / "tasks" / f"{name}.json").write_text(json.dumps(obj, indent=1), encoding="utf-8")


def write_split(root: Path, split: str, names: list[str]) -> None:
    folder, part = split.split("/")
    (root / "splits" / folder).mkdir(parents=True, exist_ok=True)
    (root / "splits" / folder / f"{part}_tasks.txt").write_text("\n".join(names) + "\n")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "ni"
    write_task(r, "qa_en", "Question Answering", 60)
    write_task(r, "qa_en2", "Question Answering", 12)
    write_task(r, "qg_en", "Question Generation", 40)
    write_task(r, "qg_es", "Question Generation", 40, ("Spanish", "Spanish"))
    write_task(r, "stance", "Stance Detection", 30)
    write_task(r, "title", "Title Generation", 20)
    write_split(r, "default/train", ["qa_en", "ghost_a", "qa_en2", "qg_en", "ghost_b", "stance"])
    write_split(r, "default/test", ["title", "ghost_c"])
    return r


def make_cfg(folder: Path, **kw) -> NatInstSourceConfig:
    values = {
        "root": str(folder),
        "cache_dir": str(folder.parent / "cache"),
        "vocab_size": 300,
        "dev_size": 5,
        "max_len": 128,
    }
    values.update(kw)
    return NatInstSourceConfig(**values)


def row_text(src: NatInstSource, ex, r: int) -> str:
    """The text of row r without its right padding."""
    ids = ex.input_ids[r]
    length = int(np.flatnonzero(ids != src.pad_id).max()) + 1
    return src.tokenizer.decode(ids[:length].tolist())


def task_of_row(text: str, names: list[str]) -> str:
    (hit,) = [n for n in names if text.startswith(f"Definition: Definition text of {n}.")]
    return hit


# ---- parsing and slicing ---------------------------------------------------------------------


def test_snake_case_maps_title_case_categories_to_config_names():
    assert snake_case("Question Generation") == "question_generation"
    assert snake_case("Fill in The Blank") == "fill_in_the_blank"
    assert snake_case("Misc.") == "misc."


def test_category_slicer_groups_tasks_by_snake_case_category(root):
    src = NatInstSource(make_cfg(root))
    assert src.skill_names == [
        "question_answering",
        "question_generation",
        "stance_detection",
        "title_generation",
    ]
    assert src.tasks_of("question_generation") == ["qg_en", "qg_es"]
    assert src.tasks_of(0) == ["qa_en", "qa_en2"]


def test_category_language_slicer_names_category_then_input_then_output_language(root):
    src = NatInstSource(make_cfg(root, slicer="category_language"))
    assert "question_generation_spanish_spanish" in src.skill_names
    assert src.tasks_of("question_generation_english_english") == ["qg_en"]
    assert src.tasks_of("question_generation_spanish_spanish") == ["qg_es"]


def test_unknown_skill_name_error_lists_the_valid_ones(root):
    with pytest.raises(SkillitError, match="train_skills") as err:
        NatInstSource(make_cfg(root, train_skills=["question_generaton"]))
    assert "question_generation" in str(err.value) and "stance_detection" in str(err.value)


def test_skill_names_are_train_skills_then_eval_skills_not_among_them(root):
    src = NatInstSource(
        make_cfg(
            root,
            train_skills=["question_generation", "stance_detection"],
            eval_skills=["question_answering", "question_generation"],
        )
    )
    assert src.train_skill_names == ["question_generation", "stance_detection"]
    assert src.eval_skill_names == ["question_answering", "question_generation"]
    assert src.skill_names == ["question_generation", "stance_detection", "question_answering"]


def test_eval_split_supplies_the_evaluation_only_skills(root):
    src = NatInstSource(make_cfg(root, train_split="default/train", eval_split="default/test"))
    assert src.train_skill_names == [
        "question_answering",
        "question_generation",
        "stance_detection",
    ]
    assert src.eval_skill_names == ["title_generation"]
    assert src.tasks_of("title_generation") == ["title"]


def test_source_satisfies_the_skill_source_protocol(root):
    assert isinstance(NatInstSource(make_cfg(root)), SkillSource)


# ---- bad input -------------------------------------------------------------------------------


def test_missing_root_error_names_the_config_key_and_the_env_variable(monkeypatch):
    monkeypatch.delenv("SKILLIT_NATINST", raising=False)
    with pytest.raises(SkillitError, match=r"data\.natinst\.root.*SKILLIT_NATINST"):
        NatInstSource(NatInstSourceConfig())


def test_root_falls_back_to_the_env_variable(root, monkeypatch):
    monkeypatch.setenv("SKILLIT_NATINST", str(root))
    src = NatInstSource(make_cfg(root, root=None))
    assert src.root == root


def test_root_without_tasks_folder_is_an_error_naming_the_key(tmp_path):
    with pytest.raises(SkillitError, match=r"data\.natinst\.root.*tasks"):
        NatInstSource(make_cfg(tmp_path / "nowhere"))


def test_malformed_json_error_names_file_line_and_column(root):
    bad = root / "tasks" / "broken.json"
    bad.write_text('{\n "Categories": ["X"],\n "Definition": [oops]\n}\n')
    with pytest.raises(SkillitError, match=r"broken\.json:3:\d+: malformed JSON"):
        NatInstSource(make_cfg(root))


def test_task_without_instances_is_an_error_naming_the_file(root):
    obj = json.loads((root / "tasks" / "qa_en.json").read_text())
    obj["Instances"] = []
    (root / "tasks" / "empty_task.json").write_text(json.dumps(obj))
    with pytest.raises(SkillitError, match=r"empty_task\.json: the task has no instances"):
        NatInstSource(make_cfg(root))


def test_config_rejects_unknown_keys_and_lists_valid_ones():
    with pytest.raises(SkillitError, match=r"data\.natinst\.min_instance.*valid.*min_instances"):
        NatInstSourceConfig.from_mapping({"min_instance": 3})


def test_config_rejects_bad_values_naming_the_key():
    with pytest.raises(SkillitError, match=r"data\.natinst\.on_missing"):
        NatInstSourceConfig(on_missing="ignore")
    with pytest.raises(SkillitError, match=r"data\.natinst\.train_split"):
        NatInstSourceConfig(train_split="default")
    with pytest.raises(SkillitError, match=r"data\.natinst\.max_len"):
        NatInstSourceConfig(max_len=16)


# ---- missing tasks and small tasks -----------------------------------------------------------


def test_missing_split_tasks_warn_with_count_and_names_then_go_on(root):
    with pytest.warns(NatInstWarning, match=r"2 of 6 tasks .*ghost_a, ghost_b"):
        src = NatInstSource(make_cfg(root, train_split="default/train"))
    assert src.skill_names == ["question_answering", "question_generation", "stance_detection"]
    assert src.summary()["missing_tasks"]["train"] == ["ghost_a", "ghost_b"]


def test_missing_split_tasks_are_an_error_when_on_missing_is_error(root):
    with pytest.raises(SkillitError, match=r"2 of 6 tasks.*on_missing=error"):
        NatInstSource(make_cfg(root, train_split="default/train", on_missing="error"))


def test_skill_left_without_tasks_by_missing_files_is_an_error(root):
    write_split(root, "partial/train", ["ghost_a", "stance"])
    with pytest.raises(
        SkillitError, match=r"question_answering.*1 tasks of that split have no file"
    ):
        NatInstSource(
            make_cfg(root, train_split="partial/train", train_skills=["question_answering"])
        )


def test_min_instances_leaves_out_smaller_tasks(root):
    src = NatInstSource(make_cfg(root, min_instances=20))
    assert src.tasks_of("question_answering") == ["qa_en"]
    assert src.summary()["below_min_instances"] == {"qa_en2": 12}


def test_skill_emptied_by_min_instances_error_names_the_key_and_the_tasks(root):
    with pytest.raises(SkillitError, match=r"stance_detection.*min_instances=50.*stance \(30\)"):
        NatInstSource(make_cfg(root, min_instances=50, train_skills=["stance_detection"]))


# ---- hold-out --------------------------------------------------------------------------------


def test_dev_positions_depend_only_on_seed_and_task_name():
    a = dev_positions("task1", 100, 10, seed=0)
    assert np.array_equal(a, dev_positions("task1", 100, 10, seed=0))
    assert not np.array_equal(a, dev_positions("task2", 100, 10, seed=0))
    assert not np.array_equal(a, dev_positions("task1", 100, 10, seed=1))
    assert len(np.unique(a)) == 10 and a.max() < 100


def test_larger_dev_size_only_adds_instances():
    small, large = dev_positions("t", 50, 5, seed=3), dev_positions("t", 50, 20, seed=3)
    assert set(small) <= set(large)


def test_validation_set_is_identical_across_calls_and_sources(root):
    first = NatInstSource(make_cfg(root))
    again = NatInstSource(make_cfg(root))
    a, b, c = (
        first.validation_examples(1),
        first.validation_examples(1),
        again.validation_examples(1),
    )
    for x in (b, c):
        assert np.array_equal(a.input_ids, x.input_ids)
        assert np.array_equal(a.loss_mask, x.loss_mask)


def test_validation_set_of_a_task_does_not_depend_on_other_tasks(root):
    both = NatInstSource(make_cfg(root))
    alone = NatInstSource(make_cfg(root, train_skills=["question_generation"]), both.tokenizer)
    a = both.validation_examples(both.skill_names.index("question_generation"))
    b = alone.validation_examples(0)
    assert np.array_equal(a.input_ids, b.input_ids)


def test_dev_size_is_clipped_with_a_warning_for_small_tasks(root):
    with pytest.warns(NatInstWarning, match=r"qa_en2 \(6 of its 12"):
        src = NatInstSource(make_cfg(root, dev_size=15))
    counts = src.summary()["skills"]["question_answering"]["tasks"]
    assert counts["qa_en2"] == {"instances": 12, "train": 6, "dev": 6}
    assert counts["qa_en"] == {"instances": 60, "train": 45, "dev": 15}


def test_validation_rows_hold_one_instance_scored_on_its_first_output(root):
    src = NatInstSource(make_cfg(root))
    ex = src.validation_examples(src.skill_names.index("stance_detection"))
    assert len(ex) == 5
    for r in range(len(ex)):
        text = row_text(src, ex, r)
        answer = src.tokenizer.decode(ex.input_ids[r][ex.loss_mask[r]].tolist())
        i = int(re.search(r"stance q(\d+) ", text).group(1))
        assert text.startswith("Definition: Definition text of stance.\n\nInput: stance q")
        assert text.endswith(f"\nOutput: ans{i} of stance")
        assert answer == f" ans{i} of stance"


# ---- training sequences ----------------------------------------------------------------------


@pytest.mark.parametrize("max_len", [64, 100, 128])
def test_training_sequences_never_exceed_max_len(root, max_len):
    src = NatInstSource(make_cfg(root, max_len=max_len))
    rng = np.random.default_rng(0)
    for skill in range(len(src.skill_names)):
        ex = src.train_examples(skill, 16, rng)
        assert ex.input_ids.shape[1] <= max_len
        assert ex.input_ids.dtype == np.int64 and ex.loss_mask.dtype == bool


def test_training_sequences_hold_whole_training_instances_with_outputs_scored(root):
    src = NatInstSource(make_cfg(root))
    ex = src.train_examples(0, 24, np.random.default_rng(1))
    names = src.tasks_of(0)
    for r in range(len(ex)):
        text = row_text(src, ex, r)
        name = task_of_row(text, names)
        body = text.removeprefix(f"Definition: Definition text of {name}.\n\n")
        pairs = BLOCK.findall(body)
        assert pairs and "".join(f"Input: {x}\nOutput: {y}\n\n" for x, y in pairs) == body
        for x, y in pairs:
            i = int(re.match(rf"{name} q(\d+) ", x).group(1))
            assert x == instance_input(name, i) and y == f"ans{i} of {name}"
        scored = src.tokenizer.decode(ex.input_ids[r][ex.loss_mask[r]].tolist())
        assert scored == "".join(f" {y}" for _, y in pairs)


def test_training_sequences_never_contain_validation_instances(root):
    src = NatInstSource(make_cfg(root))
    val = src.validation_examples(2)
    held_out = {
        re.search(r"Input: (.*)\nOutput", row_text(src, val, r), re.DOTALL).group(1)
        for r in range(len(val))
    }
    ex = src.train_examples(2, 40, np.random.default_rng(2))
    seen = {x for r in range(len(ex)) for x, _ in BLOCK.findall(row_text(src, ex, r))}
    assert seen and not seen & held_out


def test_overlong_instance_is_cut_from_the_left_of_its_input(root):
    words = " ".join(f"w{k}" for k in range(300))
    write_task(root, "long", "Summarization", 8, inputs=[f"{words} end{i}" for i in range(8)])
    src = NatInstSource(make_cfg(root, max_len=64, train_skills=["summarization"]))
    ex = src.train_examples(0, 4, np.random.default_rng(0))
    assert ex.input_ids.shape[1] == 64
    for r in range(len(ex)):
        text = row_text(src, ex, r)
        i = int(re.search(r"end(\d+)\nOutput", text).group(1))
        assert text.endswith(f" w299 end{i}\nOutput: ans{i} of long\n\n")
        assert " w0 " not in text and text.count("Input:") == 1


def test_first_fit_leaves_out_only_items_longer_than_the_room_left():
    rng = np.random.default_rng(0)
    for _ in range(200):
        lengths = rng.integers(1, 40, size=int(rng.integers(1, 30)))
        order, room = rng.permutation(len(lengths)), int(rng.integers(1, 120))
        taken = first_fit(lengths, order, room)
        left = room - int(lengths[taken].sum())
        assert left >= 0
        assert np.all(lengths[np.setdiff1d(order, taken)] > left)
        assert list(taken) == [i for i in order if i in set(taken.tolist())]  # walking order


def test_same_rng_state_gives_the_same_training_examples(root):
    src = NatInstSource(make_cfg(root))
    a = src.train_examples(1, 8, np.random.default_rng(7))
    b = src.train_examples(1, 8, np.random.default_rng(7))
    assert np.array_equal(a.input_ids, b.input_ids) and np.array_equal(a.skill, [1] * 8)


def test_tasks_of_a_skill_are_equally_likely_whatever_their_size(root):
    src = NatInstSource(make_cfg(root))
    ex = src.train_examples(0, 400, np.random.default_rng(3))  # qa_en: 55 vs qa_en2: 7 instances
    names = src.tasks_of(0)
    picks = [
        task_of_row(src.tokenizer.decode(ex.input_ids[r][:20].tolist()), names)
        for r in range(len(ex))
    ]
    share = picks.count("qa_en2") / len(picks)
    assert 0.42 < share < 0.58


def test_task_proportions_split_each_skill_weight_evenly_over_its_tasks(root):
    src = NatInstSource(make_cfg(root))
    p = src.task_proportions(np.array([2.0, 1.0, 1.0, 0.0]))
    assert p["qa_en"] == pytest.approx(0.25) and p["qa_en2"] == pytest.approx(0.25)
    assert p["qg_en"] == pytest.approx(0.125) and p["stance"] == pytest.approx(0.25)
    assert p["title"] == 0.0


def test_natural_proportions_follow_training_instance_counts(root):
    src = NatInstSource(make_cfg(root))
    train = [(60 - 5) + (12 - 5), (40 - 5) * 2, 30 - 5, 20 - 5]
    assert np.allclose(src.natural_proportions(), np.array(train) / sum(train))


def test_natural_proportions_by_tasks_give_every_training_task_the_same_share(root):
    src = NatInstSource(make_cfg(root, natural="tasks"))
    tasks = np.array([len(src.tasks_of(s)) for s in range(len(src.skill_names))], dtype=float)
    assert np.allclose(src.natural_proportions(), tasks / tasks.sum())
    assert not np.allclose(
        src.natural_proportions(), NatInstSource(make_cfg(root)).natural_proportions()
    )


def test_evaluation_only_skills_have_no_natural_share(root):
    src = NatInstSource(make_cfg(root, train_split="default/train", eval_split="default/test"))
    p = src.natural_proportions()
    assert p[src.skill_names.index("title_generation")] == 0 and p.sum() == pytest.approx(1)


def test_fully_held_out_evaluation_skill_refuses_training_examples(root):
    cfg = make_cfg(root, train_split="default/train", eval_split="default/test", eval_dev_size=50)
    src = NatInstSource(cfg)
    title = src.skill_names.index("title_generation")
    assert len(src.validation_examples(title)) == 20
    with pytest.raises(SkillitError, match="title_generation.*eval_dev_size"):
        src.train_examples(title, 1, np.random.default_rng(0))


# ---- tokenizer -------------------------------------------------------------------------------


def test_trained_tokenizer_is_cached_by_tasks_and_vocab_size(root):
    first = NatInstSource(make_cfg(root))
    path = Path(first.summary()["tokenizer"])
    stamp = path.stat().st_mtime_ns
    again = NatInstSource(make_cfg(root))
    assert Path(again.summary()["tokenizer"]) == path and path.stat().st_mtime_ns == stamp
    other_vocab = NatInstSource(make_cfg(root, vocab_size=320))
    fewer_tasks = NatInstSource(make_cfg(root, train_skills=["stance_detection"]))
    assert len({path, *(Path(s.summary()["tokenizer"]) for s in (other_vocab, fewer_tasks))}) == 3
    assert first.pad_id == first.tokenizer.token_to_id("<pad>") == 0


def test_nothing_is_written_inside_the_dataset_folder(root):
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    NatInstSource(make_cfg(root)).train_examples(0, 2, np.random.default_rng(0))
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    with pytest.raises(SkillitError, match=r"data\.natinst\.cache_dir.*inside the dataset"):
        NatInstSource(make_cfg(root, cache_dir=str(root / "cache")))


def test_failed_cache_write_leaves_no_file_behind(root, monkeypatch):
    from skillit.sources.natinst import vocab

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(vocab.os, "replace", refuse)
    with pytest.raises(SkillitError, match=r"data\.natinst\.cache_dir"):
        NatInstSource(make_cfg(root))
    assert list((root.parent / "cache").iterdir()) == []


def _tokenizer_without_pad(path: Path) -> Path:
    vocab = {"[UNK]": 0, "Input": 1, "Output": 2, ":": 3}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path))
    return path


def test_user_tokenizer_without_pad_needs_a_configured_pad_id(root, tmp_path):
    path = _tokenizer_without_pad(tmp_path / "tokenizer.json")
    with pytest.raises(SkillitError, match=r"data\.natinst\.pad_id"):
        NatInstSource(make_cfg(root, tokenizer=str(path)))
    assert NatInstSource(make_cfg(root, tokenizer=str(path), pad_id=3)).pad_id == 3


def test_missing_user_tokenizer_file_is_an_error_naming_the_key(root, tmp_path):
    with pytest.raises(SkillitError, match=r"data\.natinst\.tokenizer"):
        NatInstSource(make_cfg(root, tokenizer=str(tmp_path / "absent.json")))


# ---- reporting and configs -------------------------------------------------------------------


def test_summary_reports_instance_counts_per_task_and_missing_tasks(root):
    src = NatInstSource(make_cfg(root, train_split="default/train", eval_split="default/test"))
    s = src.summary()
    assert s["skills"]["question_answering"]["tasks"]["qa_en"] == {
        "instances": 60,
        "train": 55,
        "dev": 5,
    }
    assert s["skills"]["title_generation"]["role"] == "eval"
    assert s["missing_tasks"] == {"train": ["ghost_a", "ghost_b"], "eval": ["ghost_c"]}
    json.dumps(s)  # JSON-ready


@pytest.mark.parametrize("name", ["ni_spanish_qg", "ni_stance", "ni_ood", "ni_cpt"])
def test_shipped_configs_pass_the_skills_block_to_the_source(name):
    from skillit.config import load_config

    path = Path(__file__).resolve().parents[1] / "configs" / "data" / f"{name}.yaml"
    cfg = load_config([path])
    assert cfg.data.source == "natinst"
    assert cfg.data.natinst.train_skills == cfg.skills.train and cfg.skills.train
    assert cfg.data.natinst.eval_skills == cfg.skills.eval and cfg.skills.eval
