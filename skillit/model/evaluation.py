"""The one evaluation path: per-sample answer-token statistics summed into (sum, count) groups.

A group is an eval skill for validation (`SkillLM`, graph-learning baselines, checks of distributed
runs) and a single sample for curriculum scoring; both go through :class:`PerSkillEval`, whose
states are sums, so ranks and batches combine exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch

from skillit.data import examples_to_batch
from skillit.model.losses import per_sample_stats
from skillit.model.metrics import PerSkillEval
from skillit.sources.base import SkillExamples


def update_metric(
    metric: PerSkillEval,
    network: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    groups: torch.Tensor,
) -> None:
    """Score one batch with `network` and add each row's statistics to its group."""
    ids, mask = batch["input_ids"], batch["loss_mask"]
    loss_sum, tokens, correct = per_sample_stats(network(ids), ids, mask)
    metric.update(groups, loss_sum, tokens, correct)


ReduceSum = Callable[[torch.Tensor], torch.Tensor]  # a tensor summed over ranks


@torch.no_grad()
def evaluate_groups(
    network: torch.nn.Module,
    batches: Iterable[dict[str, torch.Tensor]],
    group_key: str,
    num_groups: int,
    device: str | torch.device = "cpu",
    reduce_sum: ReduceSum | None = None,
) -> dict[str, np.ndarray]:
    """loss, acc and samples per group, in a plain loop on one device (eval mode, then restored).

    With `reduce_sum`, `batches` are this rank's share and the sums are combined over ranks
    before the means are taken.
    """
    was_training = network.training
    network.eval()
    metric = PerSkillEval(num_groups).to(device)
    for batch in batches:
        moved = {k: v.to(device) for k, v in batch.items()}
        update_metric(metric, network, moved, moved[group_key])
    network.train(was_training)
    states = metric.stacked_states()
    if reduce_sum is not None:
        states = reduce_sum(states)
    out = PerSkillEval.results(states)
    return {k: np.atleast_1d(v.double().cpu().numpy()) for k, v in out.items()}


def evaluate_skills(
    network: torch.nn.Module,
    dm,
    device: str | torch.device = "cpu",
    eval_loss: str = "token",
    rank: int = 0,
    world_size: int = 1,
    reduce_sum: ReduceSum | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(loss, acc) per eval skill of the data module `dm`, in `dm.eval_skills` order.

    `eval_loss` is model.eval_loss: the token-weighted mean, or the mean of per-sample means.
    On several ranks, each scores its share of every validation set (`dm.val_batches(rank,
    world_size)`) and `reduce_sum` combines the sums, as the round-end evaluation does.
    """
    if world_size > 1 and reduce_sum is None:
        raise ValueError("an evaluation split over ranks needs reduce_sum to combine them")
    batches = dm.val_batches(rank, world_size)
    result = evaluate_groups(
        network, batches, "eval_skill", len(dm.eval_skills), device, reduce_sum
    )
    return result["loss" if eval_loss == "token" else "seq_loss"], result["acc"]


def evaluate_validation_sets(
    network: torch.nn.Module, source, skills: list[str], eval_loss: str = "token"
) -> dict[str, np.ndarray]:
    """loss (as `eval_loss`), acc and samples of each of `skills`' validation sets of `source`
    (any skill the source has, trained or not), in `skills` order."""
    names = list(source.skill_names)

    def batches():
        for group, skill in enumerate(skills):
            batch = examples_to_batch(source.validation_examples(names.index(skill)))
            batch["group"] = torch.full((len(batch["input_ids"]),), group)
            yield batch

    result = evaluate_groups(network, batches(), "group", len(skills))
    return {
        "loss": result["loss" if eval_loss == "token" else "seq_loss"],
        "acc": result["acc"],
        "samples": result["samples"],
    }


def score_samples(
    network: torch.nn.Module,
    pool: SkillExamples,
    batch_size: int,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Mean answer-token loss of every pool sample (each sample is its own group)."""

    def batches():
        for start in range(0, len(pool), batch_size):
            batch = examples_to_batch(pool.select(slice(start, start + batch_size)))
            batch["row"] = torch.arange(start, start + len(batch["input_ids"]))
            yield batch

    return evaluate_groups(network, batches(), "row", len(pool), device)["loss"]
