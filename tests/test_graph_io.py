"""The skills-graph file: round trips, sub-matrix selection and errors that name the file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skillit.errors import SkillitError
from skillit.graph.io import (
    SkillGraph,
    complete_graph,
    export_npy,
    graph_from_config,
    identity_graph,
    load_graph,
    save_graph,
)


def lego_graph() -> SkillGraph:
    names = [f"lego{i}" for i in range(1, 6)]
    matrix = np.eye(5)
    matrix[1, [0, 2, 3]] = 0.5
    deltas = np.random.default_rng(0).normal(size=(2, 5, 5))
    deltas[0, 1, 1] = np.nan
    return SkillGraph(
        names,
        names,
        matrix,
        method="linear",
        steps=300,
        seeds=[0, 1],
        raw_deltas=deltas,
        notes="LEGO continual pre-training",
    )


def test_json_round_trip_keeps_names_matrix_and_metadata(tmp_path):
    graph = lego_graph()
    loaded = load_graph(save_graph(graph, tmp_path / "g.json"))
    assert loaded.train_skills == graph.train_skills and loaded.eval_skills == graph.eval_skills
    np.testing.assert_array_equal(loaded.matrix, graph.matrix)
    assert (loaded.method, loaded.steps, loaded.seeds, loaded.notes) == (
        "linear",
        300,
        [0, 1],
        "LEGO continual pre-training",
    )
    np.testing.assert_array_equal(loaded.raw_deltas, graph.raw_deltas)  # NaN survives as null


def test_saved_json_is_strict_json_with_one_matrix_row_per_line(tmp_path):
    path = save_graph(lego_graph(), tmp_path / "g.json")
    text = path.read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert text.splitlines()[7].strip() == "[0.5, 1.0, 0.5, 0.5, 0.0],"


def test_npy_round_trip_with_names_from_the_caller(tmp_path):
    graph = lego_graph()
    loaded = load_graph(export_npy(graph, tmp_path / "g.npy"), train_skills=graph.train_skills)
    assert loaded.eval_skills == graph.train_skills
    np.testing.assert_array_equal(loaded.matrix, graph.matrix)


def test_bare_npy_without_names_is_an_error_naming_the_file(tmp_path):
    path = export_npy(lego_graph(), tmp_path / "g.npy")
    with pytest.raises(SkillitError, match=str(path)):
        load_graph(path)


def test_bad_json_error_names_the_file_and_position(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"train_skills": ["a"],\n "matrix": [[1.0]\n}')
    with pytest.raises(SkillitError, match=r"broken\.json.*line 3 column 1"):
        load_graph(path)


def test_matrix_shape_that_does_not_match_the_names_is_an_error(tmp_path):
    path = tmp_path / "g.json"
    path.write_text(json.dumps({"train_skills": ["a", "b"], "eval_skills": ["a"], "matrix": [[1]]}))
    with pytest.raises(SkillitError, match=r"g\.json.*shape \(1, 1\).*\(2, 1\)"):
        load_graph(path)


@pytest.mark.parametrize("bad", ["NaN", "-0.5"])
def test_nan_or_negative_entries_are_errors_naming_the_entry(tmp_path, bad):
    path = tmp_path / "g.json"
    path.write_text(f'{{"train_skills": ["a", "b"], "matrix": [[1, 0], [{bad}, 1]]}}')
    with pytest.raises(SkillitError, match=r"g\.json: matrix\[1\]\[0\]"):
        load_graph(path)


def test_missing_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(SkillitError, match="nowhere.json"):
        load_graph(tmp_path / "nowhere.json")


def test_select_returns_the_sub_matrix_in_the_requested_order():
    graph = lego_graph()
    sub = graph.select(["lego3", "lego2", "lego1"], ["lego3"])
    np.testing.assert_array_equal(sub, [[1.0], [0.5], [0.0]])


def test_select_with_unknown_names_lists_the_graphs_names():
    with pytest.raises(SkillitError, match="lego9") as err:
        lego_graph().select(["lego1", "lego9"], ["lego1"])
    assert "lego5" in str(err.value)


def test_load_graph_with_names_selects_from_a_json_graph(tmp_path):
    path = save_graph(lego_graph(), tmp_path / "g.json")
    loaded = load_graph(path, train_skills=["lego1", "lego2", "lego3"], eval_skills=["lego3"])
    assert loaded.shape == (3, 1)
    np.testing.assert_array_equal(loaded.matrix, [[0.0], [0.5], [1.0]])


def test_graph_from_config_errors_name_the_config_key():
    with pytest.raises(SkillitError, match="graph.matrix"):
        graph_from_config([[1, 0], [0, 1]], ["a", "b", "c"])


def test_complete_graph_is_all_ones():
    np.testing.assert_array_equal(complete_graph(["a", "b"]).matrix, np.ones((2, 2)))


def test_identity_graph_matches_skills_by_name():
    graph = identity_graph(["a", "b", "c"], ["b", "c", "a"])
    np.testing.assert_array_equal(graph.matrix, [[0, 0, 1], [1, 0, 0], [0, 1, 0]])


NEGATIVE = {
    "format": "skillit-graph",
    "train_skills": ["a", "b", "c"],
    "eval_skills": ["a", "b", "c"],
    "matrix": [[0.8, 1.0, -0.2], [-0.5, 1.0, 0.0], [1.0, 0.3, 0.6]],
}


def test_a_graph_with_negative_entries_is_refused_naming_the_option(tmp_path):
    path = tmp_path / "neg.json"
    path.write_text(json.dumps(NEGATIVE))
    with pytest.raises(SkillitError, match=r"2 negative entries.*mixing\.graph\.negative=clip"):
        load_graph(path)


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("clip", [[0.8, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.3, 0.6]]),
        # the authors': own entries 1, other entries of exactly 1 -> 0.5, negatives kept
        ("authors", [[1.0, 0.5, -0.2], [-0.5, 1.0, 0.0], [0.5, 0.3, 1.0]]),
    ],
)
def test_negative_entries_are_clipped_or_used_as_the_authors_do(tmp_path, mode, expected):
    from skillit.build import load_run_graph
    from skillit.config import load_config

    path = tmp_path / "neg.json"
    path.write_text(json.dumps(NEGATIVE))
    cfg = load_config([], [f"mixing.graph.path={path}", f"mixing.graph.negative={mode}"])
    graph = load_run_graph(cfg, ["a", "b", "c"], ["a", "b", "c"])
    np.testing.assert_allclose(graph, expected)
