"""Epochs seen per domain of a corpus and the cap `data.tokens.max_epochs`: the water-filling
by hand values, and a run whose tiny domain under a large weight hits the cap and says so."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import prepare_corpus, run_history, write_word_docs

from skillit.cli import main
from skillit.corpus.shards import read_manifest
from skillit.errors import SkillitError
from skillit.mixing.repetition import cap_mixture
from skillit.sources.tokens import TokensSourceConfig


def test_a_weight_over_its_room_is_cut_to_it_and_the_rest_goes_to_the_others():
    # room = (cap x train tokens - seen) / round tokens = [0.1, 10]
    out = cap_mixture([0.5, 0.5], np.zeros(2), np.array([1_000, 100_000]), 1.0, 10_000)
    np.testing.assert_allclose(out.weights, [0.1, 0.9])
    np.testing.assert_allclose(out.room, [0.1, 10.0])
    assert out.changed and out.honoured


def test_a_domain_at_its_cap_gets_no_weight():
    out = cap_mixture([0.5, 0.5], np.array([2_000.0, 0]), np.array([1_000, 100_000]), 2.0, 10_000)
    np.testing.assert_allclose(out.weights, [0.0, 1.0])


def test_the_cut_cascades_when_the_others_then_go_over_their_room():
    # rooms 0.2, 0.25, 10: cut the first to 0.2, 0.8 over the others 3:1 -> 0.6, 0.2; the second
    # is now over its 0.25: cut it, and the last takes the rest, 0.55
    room_tokens = np.array([200.0, 250.0, 10_000.0])
    out = cap_mixture([0.6, 0.3, 0.1], np.zeros(3), room_tokens, 1.0, 1_000)
    np.testing.assert_allclose(out.weights, [0.2, 0.25, 0.55])


def test_a_mixture_within_every_room_is_unchanged():
    out = cap_mixture([0.3, 0.7], np.array([10.0, 0]), np.array([1e6, 1e6]), 1.0, 10_000)
    np.testing.assert_array_equal(out.weights, [0.3, 0.7])
    assert not out.changed and out.honoured


def test_when_no_mixture_fits_every_domain_is_filled_and_the_rest_spread_over_the_cap():
    out = cap_mixture([0.75, 0.25], np.zeros(2), np.array([1_000, 1_000]), 1.0, 10_000)
    # rooms 0.1 and 0.1; the other 0.8 by the requested 3:1
    np.testing.assert_allclose(out.weights, [0.1 + 0.6, 0.1 + 0.2])
    assert out.changed and not out.honoured


def test_a_cap_that_is_not_positive_is_refused_by_key():
    with pytest.raises(SkillitError, match="data.tokens.max_epochs"):
        TokensSourceConfig(max_epochs=0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A prepared corpus of a tiny domain (25 documents) and a big one (250)."""
    root = tmp_path_factory.mktemp("rep")
    rng = np.random.default_rng(0)
    for name, docs in (("tiny", 25), ("big", 250)):
        write_word_docs(root / name, docs, (30, 60), rng)
    out = root / "corpus"
    assert prepare_corpus(out, {"tiny": root / "tiny", "big": root / "big"}) == 0
    return out


def train(corpus, run_dir, *extra):
    args = [
        "train",
        "domains_cpu",
        f"data.tokens.path={corpus}",
        f"run_dir={run_dir}",
        "mixing.strategy=manual",
        "mixing.weights=[0.9,0.1]",
        "trainer.max_steps=30",
        "mixing.rounds=3",
        "data.global_batch_size=8",
        "model.max_seq_len=16",
        "model.n_layer=1",
        "model.d_model=16",
        "model.n_head=2",
        "mixing.plots=false",
        "trainer.progress_bar=false",
        *extra,
    ]
    assert main(args) == 0
    return run_history(run_dir)


def test_every_round_records_the_epochs_seen_of_each_domain(corpus, tmp_path, capsys):
    history = train(corpus, tmp_path / "free")
    summary = capsys.readouterr().out.split("Final evaluation")[-1]
    assert "ppl" in summary and "acc" not in summary  # a corpus run: loss and perplexity
    tokens = {n: e.train_tokens for n, e in read_manifest(corpus).domains.items()}
    seen = {n: 0 for n in tokens}
    for row in history:
        for n in tokens:
            seen[n] += row["delivered_tokens"][n]
        assert row["epochs"] == pytest.approx({n: seen[n] / tokens[n] for n in tokens})
        assert "max_epochs" not in row
    assert history[-1]["epochs"]["tiny"] > 1.0  # without a cap the tiny domain repeats


def test_a_tiny_domain_under_a_large_weight_hits_the_cap_and_the_run_says_so(
    corpus, tmp_path, capsys
):
    cap = 0.5
    history = train(corpus, tmp_path / "capped", f"data.tokens.max_epochs={cap}")
    out = capsys.readouterr().out
    assert "data.tokens.max_epochs=0.5 changes the mixture: tiny 0.900 ->" in out
    tiny_tokens = read_manifest(corpus).domains["tiny"].train_tokens
    window = 16
    for row in history:  # never more than one window over the cap
        assert row["epochs"]["tiny"] <= cap + window / tiny_tokens
        assert row["max_epochs"] == cap
    hit = history[-1]["cap_hits"]["tiny"]
    assert history[hit - 1]["epochs"]["tiny"] >= cap * (1 - 1e-9) - window / tiny_tokens
    later = [r for r in history if r["round"] > hit]
    assert all(r["weights"]["tiny"] == 0.0 for r in later)  # renormalised out after the hit
    assert history[0]["requested_next_weights"]["tiny"] == pytest.approx(0.9)
