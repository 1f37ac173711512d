"""SkillLM on its own: the training loss, the logging cadence, the optimiser, one validation pass."""

from __future__ import annotations

from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch

from skillit.config import OptimConfig
from skillit.data import SkillDataModule
from skillit.model.evaluation import evaluate_skills
from skillit.model.gpt import GPT, GPTConfig
from skillit.model.losses import masked_mean_loss
from skillit.model.module import SkillLM, warmup_linear_decay


@pytest.fixture
def setup(toy_source):
    torch.manual_seed(0)
    names = toy_source.skill_names
    dm = SkillDataModule(toy_source, names, names, [4], global_batch_size=8, eval_batch_size=16)
    dm.set_mixture([1, 1, 1])
    net = GPT(
        GPTConfig(
            vocab_size=toy_source.tokenizer.get_vocab_size(),
            max_seq_len=16,
            n_layer=1,
            n_head=2,
            d_model=16,
        )
    )
    module = SkillLM(net, names, OptimConfig(warmup_steps=2), total_steps=10)
    return module, dm


def test_the_training_loss_is_the_mean_over_answer_tokens_only(setup):
    module, dm = setup
    batch = next(iter(dm.train_stream(1)))
    loss = module.training_step(batch, 0)
    expected = masked_mean_loss(module(batch["input_ids"]), batch["input_ids"], batch["loss_mask"])
    torch.testing.assert_close(loss, expected)
    # a batch with no answer token has loss 0, not NaN
    other = {**batch, "loss_mask": torch.zeros_like(batch["loss_mask"])}
    assert module.training_step(other, 0).item() == 0.0


@pytest.mark.parametrize(
    "step, every, stop, logs", [(4, 5, False, True), (5, 5, False, False), (2, 5, True, True)]
)
def test_the_train_loss_is_logged_only_on_the_steps_the_loggers_write(
    setup, step, every, stop, logs
):
    module, _ = setup
    module._trainer = SimpleNamespace(global_step=step, log_every_n_steps=every, should_stop=stop)
    assert module._logs_this_step() is logs


def test_matrices_decay_and_vectors_do_not_and_the_schedule_warms_up_then_decays(setup):
    module, _ = setup
    config = module.configure_optimizers()
    decay, no_decay = config["optimizer"].param_groups
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(
        p.dim() < 2 for p in no_decay["params"]
    )
    assert [warmup_linear_decay(s, 2, 10, 0.0) for s in (0, 1, 2, 6, 10)] == [
        0.5,
        1.0,
        1.0,
        0.5,
        0.0,
    ]


def test_one_validation_pass_gives_the_same_per_skill_numbers_as_the_plain_evaluation(setup):
    module, dm = setup
    trainer = L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.validate(module, dataloaders=dm.val_dataloader(), verbose=False)
    loss, acc = evaluate_skills(module.network, dm)
    assert module.last_eval is not None and module.last_eval.step == 0
    np.testing.assert_allclose(module.last_eval.loss, loss, rtol=1e-6)
    np.testing.assert_allclose(module.last_eval.acc, acc)
    assert module.last_eval.loss.shape == (3,)


def test_the_all_token_loss_scores_every_non_pad_target_and_only_those(setup):
    module, dm = setup
    module.train_loss, module.pad_id = "all", 0
    batch = next(iter(dm.train_stream(1)))
    ids = batch["input_ids"]
    logits = module(ids)
    expected = masked_mean_loss(logits, ids, ids != 0)
    torch.testing.assert_close(module.training_step(batch, 0), expected)
    answer_only = masked_mean_loss(logits, ids, batch["loss_mask"])
    assert not torch.isclose(expected, answer_only)


def test_an_unknown_train_loss_is_refused_by_key():
    from skillit.config import load_config
    from skillit.errors import SkillitError

    with pytest.raises(SkillitError, match="model.train_loss"):
        load_config([], ["model.train_loss=prompt"])


def test_under_fsdp_the_gradient_norm_is_clipped_by_the_sharded_root_module(setup):
    from lightning.pytorch.strategies import FSDPStrategy

    module, _ = setup
    calls = []
    strategy = FSDPStrategy()
    strategy.model = SimpleNamespace(clip_grad_norm_=lambda value: calls.append(value))
    module._trainer = SimpleNamespace(strategy=strategy)
    module.configure_gradient_clipping(None, gradient_clip_val=0.5, gradient_clip_algorithm="norm")
    assert calls == [0.5]


def test_an_evaluation_split_over_ranks_sums_their_shares_to_the_whole_evaluation(setup):
    module, dm = setup
    shares = {}

    def keep(rank):
        def reduce_sum(states):  # stands in for the all-reduce: this rank's sums plus the other's
            shares[rank] = states.clone()
            return states + shares.get(1 - rank, torch.zeros_like(states))

        return reduce_sum

    evaluate_skills(module.network, dm, rank=1, world_size=2, reduce_sum=keep(1))
    loss, acc = evaluate_skills(module.network, dm, rank=0, world_size=2, reduce_sum=keep(0))
    whole_loss, whole_acc = evaluate_skills(module.network, dm)
    np.testing.assert_allclose(loss, whole_loss, rtol=1e-12)
    np.testing.assert_allclose(acc, whole_acc, rtol=1e-12)
    samples = [float(shares[r][-1].sum()) for r in (0, 1)]  # each rank scored half the samples
    assert samples[0] + samples[1] == len(dm.validation_examples())
    assert abs(samples[0] - samples[1]) <= len(dm.eval_skills)
    with pytest.raises(ValueError, match="reduce_sum"):
        evaluate_skills(module.network, dm, rank=0, world_size=2)
