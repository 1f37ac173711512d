"""Single-process evaluation of a network on every eval skill's fixed validation set.

The same numbers the module logs as `val/loss/<skill>` (answer-token loss, greedy exact match), in a
plain loop: used for a model's loss before training (graph learning) and to check distributed runs.
"""

from __future__ import annotations

import numpy as np
import torch

from skillit.model.losses import per_sample_stats


@torch.no_grad()
def evaluate_skills(network: torch.nn.Module, dm, device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """(loss, acc) per eval skill of the data module `dm`, in `dm.eval_skills` order."""
    was_training = network.training
    network.eval()
    m = len(dm.eval_skills)
    loss_sum, tokens, correct, samples = (np.zeros(m) for _ in range(4))
    for batch in dm.val_batches(0, 1):
        ids = batch["input_ids"].to(device)
        mask = batch["loss_mask"].to(device)
        skill = batch["eval_skill"].numpy()
        ls, tk, ok = per_sample_stats(network(ids), ids, mask)
        np.add.at(loss_sum, skill, ls.double().cpu().numpy())
        np.add.at(tokens, skill, tk.double().cpu().numpy())
        np.add.at(correct, skill, ok.double().cpu().numpy())
        np.add.at(samples, skill, 1.0)
    network.train(was_training)
    return loss_sum / np.maximum(tokens, 1), correct / np.maximum(samples, 1)
