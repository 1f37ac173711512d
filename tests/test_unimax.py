"""UniMax: the budget shared evenly, smallest domains first, none past max_epochs of its tokens;
checked against a hand-worked allocation and end to end on a prepared corpus."""

from __future__ import annotations

import numpy as np
import pytest
from test_repetition import corpus, train  # noqa: F401  (the module's corpus fixture)

from skillit.corpus.shards import read_manifest
from skillit.errors import SkillitError
from skillit.mixing import registry
from skillit.mixing.base import BuildContext
from skillit.mixing.unimax import unimax_allocation, unimax_weights


def test_each_domain_gets_an_even_share_of_what_is_left_capped_at_its_epochs():
    # 600 tokens, N = 2: the 10-token domain is capped at 20, the 100-token one at 200 (its share
    # 290 is above it), the largest gets the 380 left
    given = unimax_allocation([1000, 10, 100], 600, 2)
    np.testing.assert_allclose(given, [380, 20, 200])
    np.testing.assert_allclose(
        unimax_weights([1000, 10, 100], 600, 2), [380 / 600, 20 / 600, 1 / 3]
    )


def test_a_budget_every_domain_fits_evenly_is_uniform_and_one_past_every_cap_is_natural():
    np.testing.assert_allclose(unimax_weights([500, 400, 300], 600, 1), [1 / 3] * 3)
    np.testing.assert_allclose(unimax_weights([500, 400, 300], 6000, 2), [5 / 12, 4 / 12, 3 / 12])


def test_unimax_needs_token_counts_and_refuses_a_bad_epoch_cap():
    ctx = BuildContext(train_skills=["a", "b"], eval_skills=["a", "b"])
    with pytest.raises(SkillitError, match="data.source=tokens"):
        registry.build_strategy("unimax", ctx)
    from skillit.config import load_config

    with pytest.raises(SkillitError, match="mixing.unimax.max_epochs"):
        load_config([], ["mixing.unimax.max_epochs=0"])


def test_a_run_trains_on_unimax_of_its_own_budget_and_no_domain_passes_the_cap(
    corpus,  # noqa: F811
    tmp_path,
):
    cap, steps, batch, window = 1.0, 30, 8, 16
    history = train(
        corpus,
        tmp_path / "unimax",
        "mixing.strategy=unimax",
        f"mixing.unimax.max_epochs={cap}",
        "mixing.weights=null",
    )
    tokens = {n: e.train_tokens for n, e in read_manifest(corpus).domains.items()}
    budget = steps * batch * window
    assert tokens["tiny"] * cap < budget / 2  # the tiny domain is capped, the big one is not
    expected_tiny = tokens["tiny"] * cap / budget
    for row in history:
        assert row["weights"]["tiny"] == pytest.approx(expected_tiny)
        assert row["weights"]["big"] == pytest.approx(1 - expected_tiny)
    assert history[-1]["epochs"]["tiny"] == pytest.approx(cap, abs=0.25)


def test_a_budget_past_every_cap_warns_that_the_mixture_is_the_natural_one():
    from skillit.errors import SkillitWarning

    ctx = BuildContext(
        train_skills=["a", "b"],
        eval_skills=["a", "b"],
        train_tokens=np.array([100.0, 300.0]),
        budget_tokens=2000,
    )
    with pytest.warns(SkillitWarning, match="every domain is capped"):
        strategy = registry.build_strategy("unimax", ctx)  # 2000 > 4 x 400
    np.testing.assert_allclose(strategy.initial_weights(), [0.25, 0.75])
