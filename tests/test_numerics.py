"""The numerics variant: initial weights nudged by about one float32 ulp, reproducibly."""

from __future__ import annotations

import pytest
import torch

from skillit.config import load_config
from skillit.errors import SkillitError
from skillit.model.jitter import jitter_weights


def _net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 3))


def test_jitter_moves_every_weight_by_at_most_two_ulps_and_is_reproducible():
    base, a, b = _net(), _net(), _net()
    jitter_weights(a, 1e-7, seed=5)
    jitter_weights(b, 1e-7, seed=5)
    for p0, pa, pb in zip(base.parameters(), a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
        rel = ((pa - p0).abs() / p0.abs().clamp_min(1e-30)).max().item()
        assert rel <= 2.4e-7  # at most two float32 ulps: 1 + eps rounds, then the product
    changed = sum(int((pa != p0).sum()) for p0, pa in zip(base.parameters(), a.parameters()))
    assert changed > 0.5 * sum(p.numel() for p in base.parameters())


def test_jitter_zero_is_a_no_op_and_seeds_give_different_signs():
    base, a, b, c = _net(), _net(), _net(), _net()
    jitter_weights(a, 0.0, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(base.parameters(), a.parameters()))
    jitter_weights(b, 1e-3, seed=1)
    jitter_weights(c, 1e-3, seed=2)
    assert not all(torch.equal(p, q) for p, q in zip(b.parameters(), c.parameters()))


def test_init_jitter_out_of_range_names_the_key():
    with pytest.raises(SkillitError, match="model.init_jitter"):
        load_config([], ["model.init_jitter=0.5"])


def test_a_run_under_the_jitter_variant_starts_from_other_weights(run_config, tmp_path):
    from skillit.training import train

    def final_loss(name, *overrides):
        cfg = run_config(tmp_path / name, "trainer.max_steps=2", "mixing.rounds=1", *overrides)
        return train(cfg).loss

    plain = final_loss("a")
    again = final_loss("b")
    jittered = final_loss("c", "model.init_jitter=1e-3")
    assert (plain == again).all()  # the same seed, the same floats
    assert (plain != jittered).any()  # the variant changes the start, so the floats


def test_another_draw_of_the_variant_at_the_same_seed_starts_from_other_weights(
    run_config, tmp_path
):
    """model.init_jitter_seed draws another sign pattern; left unset, the run's seed draws it."""
    from skillit.build import build_run

    def start(*overrides):
        cfg = run_config(tmp_path / "x", "model.init_jitter=1e-3", *overrides)
        torch.manual_seed(0)  # as training seeds it before building
        network = build_run(cfg).network
        return torch.cat([p.detach().flatten() for p in network.parameters()])

    seed = run_config(tmp_path / "x").seed
    assert torch.equal(start(), start(f"model.init_jitter_seed={seed}"))
    assert not torch.equal(start(), start(f"model.init_jitter_seed={seed + 1}"))
