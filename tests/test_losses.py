import math

import numpy as np
import pytest
import torch

from skillit.model.losses import (
    masked_mean_loss,
    per_sample_stats,
    rank_share_of_token_mean,
    target_token_losses,
)
from skillit.model.metrics import PerSkillEval


def fixed_batch():
    # 3 samples, 4 positions, vocab 5; targets are input_ids[:, 1:]
    input_ids = torch.tensor([[1, 2, 3, 4], [1, 3, 3, 0], [2, 2, 4, 1]])
    loss_mask = torch.tensor(
        [[False, False, False, True], [False, False, True, False], [False, False, True, True]]
    )
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 5, generator=g)
    return logits, input_ids, loss_mask


def hand_ce(logits_row, target):
    z = [float(v) for v in logits_row]
    return math.log(sum(math.exp(v) for v in z)) - z[target]


def test_only_answer_positions_are_scored():
    logits, ids, mask = fixed_batch()
    losses, m = target_token_losses(logits, ids, mask)
    assert torch.equal(m, mask[:, 1:])
    assert torch.all(losses[~m] == 0)
    assert torch.all(losses[m] > 0)


def test_per_skill_loss_equals_a_hand_computation():
    logits, ids, mask = fixed_batch()
    skill = torch.tensor([0, 1, 0])
    metric = PerSkillEval(2)
    metric.update(skill, *per_sample_stats(logits, ids, mask))
    out = metric.compute()
    # skill 0: sample 0 position 3, sample 2 positions 2 and 3 -> token-weighted mean of 3 losses
    s0 = [hand_ce(logits[0, 2], 4), hand_ce(logits[2, 1], 4), hand_ce(logits[2, 2], 1)]
    s1 = [hand_ce(logits[1, 1], 3)]
    np.testing.assert_allclose(out["loss"].numpy(), [sum(s0) / 3, s1[0]], rtol=1e-6)
    np.testing.assert_allclose(
        float(masked_mean_loss(logits, ids, mask)), (sum(s0) + s1[0]) / 4, rtol=1e-6
    )


def test_accuracy_is_exact_match_of_every_answer_token():
    _, ids, mask = fixed_batch()
    logits = torch.full((3, 4, 5), -5.0)
    # make the argmax at each position predict the next token, except sample 2 position 3
    for b in range(3):
        for t in range(3):
            logits[b, t, ids[b, t + 1]] = 5.0
    logits[2, 2, ids[2, 3]] = -5.0
    logits[2, 2, 0] = 5.0
    _, _, correct = per_sample_stats(logits, ids, mask)
    assert correct.tolist() == [True, True, False]


def test_per_skill_sums_do_not_average_means_across_uneven_shards():
    logits, ids, mask = fixed_batch()
    skill = torch.tensor([0, 0, 0])
    whole = PerSkillEval(1)
    whole.update(skill, *per_sample_stats(logits, ids, mask))
    a, b = PerSkillEval(1), PerSkillEval(1)
    a.update(skill[:1], *per_sample_stats(logits[:1], ids[:1], mask[:1]))
    b.update(skill[1:], *per_sample_stats(logits[1:], ids[1:], mask[1:]))
    # merging states is what the all-reduce does: sums, then one division
    merged = PerSkillEval(1)
    for name in ("loss_sum", "scored_tokens", "correct", "samples"):
        setattr(merged, name, getattr(a, name) + getattr(b, name))
    torch.testing.assert_close(merged.compute()["loss"], whole.compute()["loss"])


def test_sequence_loss_is_the_mean_of_per_sample_means_and_token_loss_weights_by_tokens():
    metric = PerSkillEval(1)
    skill = torch.tensor([0, 0])
    # sample A: 1 token with loss 4; sample B: 3 tokens with total loss 3 (mean 1)
    metric.update(
        skill, torch.tensor([4.0, 3.0]), torch.tensor([1.0, 3.0]), torch.tensor([True, False])
    )
    out = metric.compute()
    assert float(out["loss"]) == pytest.approx(7.0 / 4.0)  # token-weighted
    assert float(out["seq_loss"]) == pytest.approx((4.0 + 1.0) / 2.0)  # the authors' average


def test_averaging_the_ranks_scaled_shares_gives_the_gradient_of_the_global_token_mean():
    torch.manual_seed(0)
    weight = torch.randn(5, 7, requires_grad=True)
    # two ranks with very different numbers of target tokens (3 and 17)
    per_rank = [torch.randn(3, 5), torch.randn(17, 5)]
    targets = [torch.randint(0, 7, (3,)), torch.randint(0, 7, (17,))]

    def token_losses(x, y):
        return torch.nn.functional.cross_entropy(x @ weight, y, reduction="none")

    global_mean = torch.cat([token_losses(x, y) for x, y in zip(per_rank, targets)]).mean()
    (expected,) = torch.autograd.grad(global_mean, weight)
    count = torch.tensor(20.0)
    grads = [
        torch.autograd.grad(rank_share_of_token_mean(token_losses(x, y).sum(), count, 2), weight)[0]
        for x, y in zip(per_rank, targets)
    ]
    torch.testing.assert_close((grads[0] + grads[1]) / 2, expected)  # what DDP's averaging does
    # the per-rank means averaged (the old way) weight the 3-token rank as much as the 17-token one
    naive = [
        torch.autograd.grad(token_losses(x, y).mean(), weight)[0] for x, y in zip(per_rank, targets)
    ]
    assert not torch.allclose((naive[0] + naive[1]) / 2, expected)
