"""Answer-token losses: the model is scored only where loss_mask marks a target token."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def target_token_losses(
    logits: torch.Tensor, input_ids: torch.Tensor, loss_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position cross-entropy of predicting input_ids[:, t] from logits[:, t-1].

    Returns (losses, mask), both (B, T-1); losses are zero where mask is False.
    """
    targets = input_ids[:, 1:]
    mask = loss_mask[:, 1:]
    flat = F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), reduction="none"
    ).view_as(targets)
    return flat * mask, mask


def masked_mean_loss(
    logits: torch.Tensor, input_ids: torch.Tensor, loss_mask: torch.Tensor
) -> torch.Tensor:
    """Mean cross-entropy over every target token of the batch."""
    losses, mask = target_token_losses(logits, input_ids, loss_mask)
    return losses.sum() / mask.sum().clamp_min(1)


def per_sample_stats(
    logits: torch.Tensor, input_ids: torch.Tensor, loss_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per sample: summed target-token loss, number of target tokens, and exact-match correctness.

    A sample is correct when the argmax at every target position equals the target: that is the
    same as greedy decoding of the answer, since each greedy step then sees the correct prefix.
    """
    losses, mask = target_token_losses(logits, input_ids, loss_mask)
    wrong = (logits[:, :-1].argmax(-1) != input_ids[:, 1:]) & mask
    return losses.sum(1), mask.sum(1), ~wrong.any(1)


def rank_share_of_token_mean(
    local_sum: torch.Tensor, global_count: torch.Tensor, world_size: int
) -> torch.Tensor:
    """This rank's term of the global token mean, scaled for data-parallel gradient averaging.

    DDP averages gradients over the ranks, so each rank back-propagates
    world_size * (its loss sum) / (all ranks' token count): the average is then the gradient of
    the mean over every target token of the global batch, whatever the split of tokens over ranks.
    """
    return local_sum * world_size / global_count.clamp_min(1)
