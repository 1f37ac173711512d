"""The offline mixture search: its regressions on planted laws, the prior and the repetition
limit, the proposal, a swarm killed mid-way, degenerate swarms, and the command end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skillit.errors import SkillitError
from skillit.search.prior import repetition_limit, sample_mixtures
from skillit.search.propose import propose
from skillit.search.regression import (
    LinearRegressor,
    LogLinearRegressor,
    cross_validate,
    make_regressor,
    ranks,
    spearman,
)

NATURAL = np.array([0.5, 0.3, 0.15, 0.05])


def swarm(n=64, seed=0):
    return sample_mixtures(NATURAL, n, np.random.default_rng(seed))


def test_ranks_share_ties_and_spearman_is_the_pearson_of_ranks():
    np.testing.assert_array_equal(ranks([3.0, 1.0, 3.0, 2.0]), [3.5, 1.0, 3.5, 2.0])
    assert spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)  # 1 - 6*2/(4*15)


def test_the_linear_regression_recovers_a_planted_linear_law():
    X = swarm()
    law = np.array([3.0, 2.5, 4.0, 1.0])  # L(w) = law . w (intercept folded into the simplex)
    y = X @ law + np.random.default_rng(1).normal(0, 1e-4, len(X))
    model = LinearRegressor().fit(X, y)
    test = swarm(32, seed=5)
    np.testing.assert_allclose(model.predict(test), test @ law, atol=1e-3)


@pytest.mark.parametrize("offset", [0.0, 1.5])
def test_the_loglinear_regression_recovers_a_planted_mixing_law(offset):
    X = swarm(96)
    a, b = 0.7, np.array([-1.0, 0.4, -2.0, 1.2])
    law = lambda w: offset + np.exp(a + w @ b)  # noqa: E731
    y = law(X) * (1 + np.random.default_rng(2).normal(0, 1e-4, len(X)))
    model = LogLinearRegressor().fit(X, y)
    assert model.offset == pytest.approx(offset, abs=0.05)
    test = swarm(32, seed=7)
    np.testing.assert_allclose(model.predict(test), law(test), rtol=2e-3)
    # the linear regression cannot follow the curve as closely
    linear = LinearRegressor().fit(X, y)
    assert (
        np.abs(linear.predict(test) - law(test)).max()
        > np.abs(model.predict(test) - law(test)).max()
    )


def test_lightgbm_ranks_a_planted_law_when_installed():
    pytest.importorskip("lightgbm")
    X = swarm(200)
    y = np.exp(X @ np.array([-1.0, 0.4, -2.0, 1.2]))
    folds = cross_validate("lightgbm", X, y, 5, np.random.default_rng(0))
    assert folds.scores["spearman"] > 0.9


def test_an_unknown_regressor_is_refused_naming_the_choices():
    with pytest.raises(SkillitError, match=r"--regressor must be one of \['linear'"):
        make_regressor("forest")


def test_the_prior_opens_with_the_baselines_and_draws_sparse_and_near_natural_mixtures():
    X = swarm(200)
    np.testing.assert_allclose(X[0], NATURAL)
    np.testing.assert_allclose(X[1], 0.25)
    np.testing.assert_allclose(X.sum(axis=1), 1.0)
    assert len({tuple(r) for r in np.round(X, 9)}) == 200  # distinct
    assert (X.max(axis=1) > 0.95).any()  # extreme: almost all on one domain
    assert ((X == 0).sum(axis=1) >= 2).any()  # sparse
    assert (np.abs(X - NATURAL).max(axis=1) < 0.1).any()  # near the natural mixture


def test_the_repetition_limit_bounds_every_swarm_mixture_and_the_proposal():
    tokens = np.array([1000.0, 600.0, 300.0, 100.0])
    upper = repetition_limit(tokens, final_tokens=1000.0, max_epochs=2.0)
    np.testing.assert_allclose(upper, [1.0, 1.0, 0.6, 0.2])
    X = sample_mixtures(NATURAL, 100, np.random.default_rng(0), upper)
    assert (X <= upper + 1e-12).all()
    # a law that wants the small domains: the proposal goes to them only up to their limit
    y = 5.0 - 3.0 * X[:, 3] - 2.0 * X[:, 2]
    model = LinearRegressor().fit(X, y)
    proposal = propose(model, [model, model], NATURAL, upper, np.random.default_rng(1), 20_000, 50)
    assert (proposal.weights <= upper + 1e-9).all()
    assert proposal.weights[3] > 0.1 and proposal.weights[2] > 0.3  # pushed towards its limits
    with pytest.raises(SkillitError, match="sum to less than 1"):
        sample_mixtures(NATURAL, 10, np.random.default_rng(0), [0.2, 0.2, 0.2, 0.2])


def test_the_proposal_follows_the_law_and_reports_the_folds_spread():
    X = swarm(64)
    law = np.array([3.0, 2.0, 4.0, 5.0])  # domain 2 (index 1) is the best to train on
    y = X @ law
    cv = cross_validate("linear", X, y, 4, np.random.default_rng(0))
    model = make_regressor("linear").fit(X, y)
    p = propose(model, cv.models, NATURAL, np.ones(4), np.random.default_rng(3), 20_000, 100)
    assert np.argmax(p.weights) == 1 and p.weights[1] > 0.8
    assert p.predicted == pytest.approx(p.weights @ law, abs=1e-6)
    assert p.predicted_std < 1e-6  # an exact law: every fold agrees
    assert cv.scores["spearman"] == pytest.approx(1.0)


# -- the swarm and the command ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def search_corpus(tmp_path_factory):
    from conftest import prepare_corpus, write_word_docs

    root = tmp_path_factory.mktemp("search")
    rng = np.random.default_rng(0)
    inputs = {}
    for name, docs in (("big", 40), ("small", 25)):
        write_word_docs(root / name, docs, (60, 120), rng)
        inputs[name] = root / name
    assert prepare_corpus(root / "corpus", inputs) == 0
    return root / "corpus"


def search_args(corpus, out, *extra):
    return [
        "mixture",
        "search",
        "domains_cpu",
        f"data.tokens.path={corpus}",
        "model.n_layer=1",
        "model.d_model=32",
        "model.max_seq_len=32",
        "data.tokens.val_windows=4",
        "trainer.threads=1",
        "--runs",
        "5",
        "--steps",
        "4",
        "--folds",
        "2",
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


@pytest.mark.slow  # five tiny proxy runs, then two more after a kill
def test_a_search_writes_its_proposal_and_a_killed_swarm_continues(
    search_corpus, tmp_path, monkeypatch, capsys
):
    import skillit.bench.runner as runner
    from skillit.cli import main

    ran: list[str] = []
    original = runner.run_one

    def counting(spec, graph_learner=None):
        if len(ran) == 3:
            raise KeyboardInterrupt  # killed after three runs
        ran.append(spec.strategy)
        return original(spec, graph_learner)

    monkeypatch.setattr(runner, "run_one", counting)
    out = tmp_path / "search"
    assert main(search_args(search_corpus, out)) == 130
    assert ran == ["mix0000", "mix0001", "mix0002"]
    ran.clear()
    monkeypatch.setattr(runner, "run_one", original)
    monkeypatch.setattr(
        runner, "run_one", lambda spec, learner=None: (ran.append(spec.strategy), original(spec))[1]
    )
    assert main(search_args(search_corpus, out)) == 0
    assert ran == ["mix0003", "mix0004"]  # the finished runs are not trained again
    summary = json.loads((out / "search.json").read_text())
    weights = summary["proposal"]["weights"]
    assert set(weights) == {"big", "small"} and sum(weights.values()) == pytest.approx(1.0)
    assert summary["swarm"] == {
        "runs": 5,
        "steps": 4,
        "cost_tokens": 5 * 4 * 16 * 32,
        "usable_runs": 5,
    }
    assert summary["measured_baselines"]["uniform"] is not None
    for name in (
        "proposal.yaml",
        "engines/olmo_source_mixture.yaml",
    ):
        assert (out / name).is_file(), name
    from skillit.config import load_config

    replay = load_config([out / "proposal.yaml"], ["data.source=tokens"])
    np.testing.assert_allclose(replay.mixing.weights, list(weights.values()))
    assert main(search_args(search_corpus, out, "--steps", "5")) == 2  # other settings: refused
    assert "steps differ" in capsys.readouterr().err


def test_degenerate_swarms_are_clear_errors():
    from skillit.search.search import SearchSettings, fit_and_propose
    from skillit.search.swarm import Swarm

    mixtures = swarm(6).tolist()
    s = Swarm(
        "c.yaml",
        [],
        4,
        0,
        ["a", "b", "c", "d"],
        ["a", "b", "c", "d"],
        mixtures,
        1,
        NATURAL.tolist(),
    )
    settings = SearchSettings(config="c.yaml", overrides=[], out=".", runs=6)
    nan = np.full((6, 4), np.nan)
    with pytest.raises(SkillitError, match="only 0 of 6 swarm runs have a finite mean loss"):
        fit_and_propose(settings, s, nan, np.ones(4))
    flat = np.full((6, 4), 2.0)
    with pytest.raises(SkillitError, match="the same target loss"):
        fit_and_propose(settings, s, flat, np.ones(4))
    with pytest.raises(SkillitError, match="two or more domains"):
        sample_mixtures([1.0], 4, np.random.default_rng(0))
    settings.target = "nope"
    with pytest.raises(SkillitError, match="--target must be mean, worst or an eval skill"):
        fit_and_propose(settings, s, flat, np.ones(4))


def test_a_proxy_run_that_crashes_is_a_clear_error_and_keeps_the_swarm(
    search_corpus, tmp_path, monkeypatch, capsys
):
    import skillit.bench.runner as runner
    from skillit.cli import main

    def crash(spec, graph_learner=None):
        raise ValueError("the disk is full")

    monkeypatch.setattr(runner, "run_one", crash)
    out = tmp_path / "search"
    assert main(search_args(search_corpus, out)) == 2
    err = capsys.readouterr().err
    assert "a proxy run of the swarm failed (ValueError: the disk is full)" in err
    assert "rerun the same command" in err and (out / "swarm.json").is_file()


def test_a_measured_mixture_better_than_the_proposals_prediction_is_pointed_out(capsys):
    from types import SimpleNamespace

    from skillit.commands.search import warn_if_measured_better

    swarm = SimpleNamespace(skills=["a", "b"], mixtures=[[0.5, 0.5], [0.9, 0.1]])
    result = SimpleNamespace(
        swarm=swarm, target=np.array([5.75, 6.0]), proposal=SimpleNamespace(predicted=5.78)
    )
    warn_if_measured_better(result)
    assert "did better than the proposal is predicted to (5.7500 < 5.7800): a 0.500  b 0.500" in (
        capsys.readouterr().out
    )
    result.proposal.predicted = 5.70
    warn_if_measured_better(result)
    assert capsys.readouterr().out == ""
