"""The round-end callbacks (mixing step, run record, divergence guard) and CurriculumCallback on
fake trainers: no Lightning run, milliseconds each."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from skillit.callbacks.curriculum import CurriculumCallback
from skillit.callbacks.divergence import DivergenceGuard, TrainingDiverged
from skillit.callbacks.mixing import MixingCallback
from skillit.callbacks.record import RunRecord
from skillit.data import SkillDataModule
from skillit.errors import SkillitError
from skillit.mixing import CurriculumSchedule, ManualStrategy, SkillItStrategy
from skillit.model.module import EvalResult
from skillit.run.directory import HISTORY_FILE

SKILLS = ["toy1", "toy2", "toy3"]
A = np.array([[1.0, 0.0, 0.0], [0.5, 1.0, 0.0], [0.0, 0.5, 1.0]])


class FakeStrategy:
    """Broadcast as a real multi-rank strategy would: every rank gets rank 0's value."""

    def __init__(self, rank0_value=None):
        self.rank0_value = rank0_value
        self.broadcasts = 0

    def broadcast(self, obj, src=0):
        self.broadcasts += 1
        return self.rank0_value if self.rank0_value is not None else obj

    def reduce(self, tensor, reduce_op="sum"):
        return tensor  # one rank


def fake_trainer(dm, epoch=0, step=10, rank=0, world=1, sanity=False, rank0_value=None):
    return SimpleNamespace(
        datamodule=dm,
        current_epoch=epoch,
        global_step=step,
        global_rank=rank,
        world_size=world,
        is_global_zero=rank == 0,
        sanity_checking=sanity,
        strategy=FakeStrategy(rank0_value),
        loggers=[],
        progress_bar_callback=None,
    )


def module_with_eval(step, losses, finite_steps=1, lr=1e-3):
    return SimpleNamespace(
        last_eval=EvalResult(step, np.asarray(losses), np.zeros(len(losses))),
        finite_train_steps=torch.tensor(float(finite_steps)),
        optim_cfg=SimpleNamespace(lr=lr),
    )


class RoundEnd:
    """The round-end callbacks of a run as skillit.callbacks.assemble orders them (no source
    counts here: nothing is delivered in a fake round), each hook called on all of them."""

    def __init__(self, strategy, run_dir, skills=SKILLS, plots=False):
        self.mixing = MixingCallback(strategy, skills)
        self.record = RunRecord(self.mixing, SKILLS, run_dir, rounds=3, plots=plots)
        self.guard = DivergenceGuard(self.mixing)

    def on_fit_start(self, trainer, module):
        for cb in (self.mixing, self.record, self.guard):
            cb.on_fit_start(trainer, module)

    def on_train_epoch_end(self, trainer, module):
        for cb in (self.mixing, self.record, self.guard):
            cb.on_train_epoch_end(trainer, module)


@pytest.fixture
def dm(toy_source):
    return SkillDataModule(toy_source, SKILLS, SKILLS, [10, 10, 10], global_batch_size=8)


def history(run_dir):
    path = run_dir / HISTORY_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_fit_start_hands_the_strategys_first_mixture_to_the_data_module(dm, tmp_path):
    strategy = SkillItStrategy(A, eta=1.0, window=2)
    RoundEnd(strategy, tmp_path, plots=False).on_fit_start(fake_trainer(dm), None)
    np.testing.assert_allclose(dm.mixture, strategy.initial_weights())


def test_a_round_end_records_the_round_and_sets_the_next_mixture(dm, tmp_path):
    strategy = SkillItStrategy(A, eta=1.0, window=2)
    cb = RoundEnd(strategy, tmp_path, plots=False)
    trainer = fake_trainer(dm, epoch=0, step=10)
    cb.on_fit_start(trainer, None)
    first = dm.mixture
    cb.on_train_epoch_end(trainer, module_with_eval(10, [1.0, 2.0, 3.0]))
    (row,) = history(tmp_path)
    assert row["round"] == 1 and row["step"] == 10 and cb.mixing.rounds_done == 1
    np.testing.assert_allclose(list(row["weights"].values()), first)
    np.testing.assert_allclose(dm.mixture, list(row["next_weights"].values()))
    assert not np.allclose(dm.mixture, first)
    assert trainer.strategy.broadcasts == 1


def test_the_sanity_check_and_a_replayed_round_end_change_nothing(dm, tmp_path):
    strategy = ManualStrategy(schedule=[(1, [1, 0, 0]), (2, [0, 1, 0])])
    cb = RoundEnd(strategy, tmp_path, plots=False)
    cb.on_fit_start(fake_trainer(dm), None)
    cb.on_train_epoch_end(fake_trainer(dm, sanity=True), module_with_eval(10, [1, 1, 1]))
    assert history(tmp_path) == [] and cb.mixing.rounds_done == 0
    cb.mixing.rounds_done = (
        1  # as restored from a round-1 checkpoint: Lightning replays that round's end
    )
    cb.on_train_epoch_end(fake_trainer(dm, epoch=0), module_with_eval(10, [1, 1, 1]))
    assert history(tmp_path) == []
    np.testing.assert_allclose(dm.mixture, [1, 0, 0])


def test_every_rank_takes_rank_zeros_mixture(dm, tmp_path):
    strategy = SkillItStrategy(A, eta=1.0, window=2)
    cb = RoundEnd(strategy, tmp_path, plots=False)
    cb.on_fit_start(fake_trainer(dm, rank=1, world=2), None)
    rank1 = fake_trainer(dm, rank=1, world=2, rank0_value=[0.2, 0.3, 0.5])
    cb.on_train_epoch_end(rank1, module_with_eval(10, [5.0, 0.0, 0.0]))
    np.testing.assert_allclose(dm.mixture, [0.2, 0.3, 0.5])
    assert history(tmp_path) == []  # only rank 0 writes the history
    (own,) = [json.loads(x) for x in cb.record.rank_path(1).read_text().splitlines()]
    assert own["next_weights"] == {"toy1": 0.2, "toy2": 0.3, "toy3": 0.5}


@pytest.mark.parametrize("bad", [[0.5, 0.5, 0.5], [1.0, -0.5, 0.5], [np.nan, 0.5, 0.5], [0.5, 0.5]])
def test_an_invalid_mixture_from_the_strategy_is_a_bug_not_a_silent_change(dm, tmp_path, bad):
    strategy = ManualStrategy(weights=[1, 1, 1])
    strategy.next_weights = lambda round_number, losses: np.array(bad)
    cb = RoundEnd(strategy, tmp_path, plots=False)
    cb.on_fit_start(fake_trainer(dm), None)
    with pytest.raises(RuntimeError, match="strategy 'manual'"):
        cb.on_train_epoch_end(fake_trainer(dm), module_with_eval(10, [1, 1, 1]))
    np.testing.assert_allclose(dm.mixture, [1 / 3] * 3)


def test_a_round_end_without_a_fresh_evaluation_is_refused(dm, tmp_path):
    cb = RoundEnd(ManualStrategy(weights=[1, 1, 1]), tmp_path, plots=False)
    cb.on_fit_start(fake_trainer(dm), None)
    with pytest.raises(RuntimeError, match="evaluation at the end of every round"):
        cb.on_train_epoch_end(fake_trainer(dm, step=10), module_with_eval(5, [1, 1, 1]))


def test_resume_trims_history_to_the_checkpoints_rounds(dm, tmp_path):
    lines = [{"round": r, "step": 10 * r} for r in (1, 2, 3)]
    (tmp_path / HISTORY_FILE).write_text("".join(json.dumps(x) + "\n" for x in lines))
    cb = RoundEnd(ManualStrategy(weights=[1, 1, 1]), tmp_path, plots=False)
    cb.mixing.load_state_dict({**cb.mixing.state_dict(), "rounds_done": 2})
    cb.on_fit_start(fake_trainer(dm), None)
    assert [row["round"] for row in history(tmp_path)] == [1, 2]


def test_state_restores_the_strategys_mixture_and_checks_the_skills(dm, tmp_path):
    strategy = SkillItStrategy(A, eta=1.0, window=2)
    cb = RoundEnd(strategy, tmp_path, plots=False)
    cb.on_fit_start(fake_trainer(dm), None)
    cb.on_train_epoch_end(fake_trainer(dm), module_with_eval(10, [1.0, 2.0, 3.0]))
    fresh = RoundEnd(SkillItStrategy(A, eta=1.0, window=2), tmp_path, plots=False)
    fresh.mixing.load_state_dict(cb.mixing.state_dict())
    fresh.on_fit_start(fake_trainer(dm), None)  # the resumed run starts from the saved mixture
    np.testing.assert_allclose(dm.mixture, strategy.current_weights)
    other = MixingCallback(SkillItStrategy(A, 1.0, 2), ["a", "b", "c"])
    with pytest.raises(SkillitError, match="skills.train"):
        other.load_state_dict(cb.mixing.state_dict())


def curriculum(stages=3):
    return CurriculumCallback(
        CurriculumSchedule(stages=stages), total_steps=30, global_batch_size=8, seed=0, pool_size=30
    )


def test_curriculum_paces_the_pool_and_a_resume_draws_the_same_rows(dm, tmp_path):
    dm.set_mixture([1, 1, 1])
    cb = curriculum()
    cb.scores = np.arange(30, dtype=np.float64)[::-1].copy()  # row 29 is the easiest
    cb.on_fit_start(fake_trainer(dm), None)
    assert [dm.round_details(r)["pool_size"] for r in (1, 2, 3)] == [10, 20, 30]
    pool = dm._draw.pool
    first = torch.cat([b["input_ids"] for b in dm.train_stream(1)])
    easiest = {tuple(pool.input_ids[r][: first.shape[1]].tolist()) for r in range(20, 30)}
    assert {tuple(row) for row in first.tolist()} <= easiest
    second = [b["input_ids"] for b in dm.train_stream(2)]
    resumed = curriculum()
    resumed.load_state_dict(cb.state_dict())
    resumed.on_fit_start(fake_trainer(dm), None)  # rebuilds the order from the saved scores
    assert all(torch.equal(a, b["input_ids"]) for a, b in zip(second, dm.train_stream(2)))


def test_a_curriculum_round_records_the_skill_mix_it_drew(dm, tmp_path):
    strategy = ManualStrategy(weights=[1, 1, 1])
    skillit_cb = RoundEnd(strategy, tmp_path, plots=False)
    skillit_cb.on_fit_start(fake_trainer(dm), None)
    cb = curriculum()
    pool = dm.draw_pool(30, 0)
    labels_of = dm.pool_labels(pool)
    cb.scores = np.where(labels_of == 2, 0.0, 1.0)  # skill 3 is the easiest
    cb.on_fit_start(fake_trainer(dm), None)
    skillit_cb.on_train_epoch_end(fake_trainer(dm, step=10), module_with_eval(10, [1, 1, 1]))
    (row,) = history(tmp_path)
    drawn = np.array(list(row["weights"].values()))
    assert drawn[2] > 0.9 and row["pool_size"] == 10  # the first third is mostly skill 3
    assert dm.round_details(2)["pool_size"] == 20  # the next mixture does not replace the pool


def module_with_train_steps(step, losses, finite_steps):
    return module_with_eval(step, losses, finite_steps, lr=1e30)


@pytest.mark.parametrize(
    "losses, finite_steps, what",
    [
        ([np.nan, np.inf, np.nan], 10, "every evaluation loss"),
        ([1.0, 2.0, 3.0], 0, "every training loss"),
    ],
)
def test_a_round_with_only_non_finite_losses_stops_the_run_after_recording_it(
    dm, tmp_path, losses, finite_steps, what
):
    cb = RoundEnd(SkillItStrategy(A, eta=1.0, window=2), tmp_path, plots=False)
    cb.on_fit_start(fake_trainer(dm), None)
    with pytest.raises(TrainingDiverged, match=rf"{what} of round 1 .*step 10.*optim.lr=1e\+30"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the strategy's own NaN warning
            cb.on_train_epoch_end(
                fake_trainer(dm, step=10), module_with_train_steps(10, losses, finite_steps)
            )
    text = (tmp_path / HISTORY_FILE).read_text()
    assert "NaN" not in text and "Infinity" not in text
    (row,) = history(tmp_path)  # valid JSON, non-finite values as null
    assert list(row["eval_loss"].values()) == [None if not np.isfinite(v) else v for v in losses]


def test_a_round_with_some_finite_losses_goes_on(dm, tmp_path):
    cb = RoundEnd(SkillItStrategy(A, eta=1.0, window=2), tmp_path, plots=False)
    cb.on_fit_start(fake_trainer(dm), None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cb.on_train_epoch_end(fake_trainer(dm), module_with_train_steps(10, [np.nan, 1.0, 1.0], 3))
    assert cb.mixing.rounds_done == 1


def test_a_failing_plot_is_a_warning_and_leaves_no_partial_file(dm, tmp_path, monkeypatch):
    import skillit.callbacks.record as record_module

    (tmp_path / HISTORY_FILE).write_text('{"round": 1}\n')

    def broken(history_path, out_dir, loss_of, metric):
        raise OSError("No space left on device")

    monkeypatch.setattr(record_module, "plot_run", broken)
    cb = RoundEnd(ManualStrategy(weights=[1, 1, 1]), tmp_path, plots=True)
    with pytest.warns(RuntimeWarning, match="could not draw the plots.*results are kept"):
        cb.record.draw_plots(fake_trainer(dm))
    assert not list(tmp_path.glob("*.png"))


def test_a_plot_that_fails_while_saving_leaves_no_partial_png(tmp_path, monkeypatch):
    import matplotlib.figure

    from skillit.run.plots import plot_run

    row = {"round": 1, "step": 5, "weights": {"a": 1.0}, "eval_loss": {"a": 0.5}}
    (tmp_path / HISTORY_FILE).write_text(json.dumps(row) + "\n")

    def half_write(self, target, **kwargs):  # a file name, or the buffer a PNG is drawn into
        if hasattr(target, "write"):
            target.write(b"\x89PNG partial")
        else:
            Path(target).write_bytes(b"\x89PNG partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", half_write)
    with pytest.raises(OSError):
        plot_run(tmp_path / HISTORY_FILE, tmp_path)
    assert list(tmp_path.iterdir()) == [tmp_path / HISTORY_FILE]
    # drawn whole, then the disk fills as the file is put in place: no partial file either
    monkeypatch.undo()
    from skillit.utils import safe_paths

    def no_room(src, dst):
        raise OSError("No space left on device")

    monkeypatch.setattr(safe_paths.os, "replace", no_room)
    with pytest.raises(OSError):
        plot_run(tmp_path / HISTORY_FILE, tmp_path)
    assert list(tmp_path.iterdir()) == [tmp_path / HISTORY_FILE]


def test_the_curriculum_scores_with_the_reference_checkpoint_when_one_is_given(dm, tmp_path):
    from skillit.model.gpt import GPT, GPTConfig

    net = GPT(
        GPTConfig(vocab_size=dm.source.tokenizer.get_vocab_size(), n_layer=1, n_head=2, d_model=16)
    )
    reference = GPT(
        GPTConfig(vocab_size=dm.source.tokenizer.get_vocab_size(), n_layer=1, n_head=2, d_model=16)
    )
    torch.save(
        {"state_dict": {f"network.{k}": v for k, v in reference.state_dict().items()}},
        tmp_path / "ref.ckpt",
    )
    cb = CurriculumCallback(
        CurriculumSchedule(stages=3),
        30,
        8,
        seed=0,
        pool_size=30,
        reference=str(tmp_path / "ref.ckpt"),
    )
    scorer = cb._reference_network(SimpleNamespace(network=net))
    assert scorer is not net
    assert all(
        torch.equal(a, b)
        for a, b in zip(scorer.state_dict().values(), reference.state_dict().values())
    )
    assert not all(
        torch.equal(a, b)
        for a, b in zip(net.state_dict().values(), reference.state_dict().values())
    )


def test_fit_start_and_every_round_end_show_one_line_without_a_progress_bar(dm, tmp_path, caplog):
    import logging

    strategy = SkillItStrategy(A, eta=1.0, window=2)
    callback = RoundEnd(strategy, tmp_path, plots=False)
    trainer = fake_trainer(dm, epoch=0, step=10)
    logger = logging.getLogger("skillit")
    logger.addHandler(caplog.handler)  # the CLI may have stopped it propagating to the root
    try:
        with caplog.at_level(logging.INFO, logger="skillit"):
            callback.on_fit_start(trainer, None)
            callback.on_train_epoch_end(trainer, module_with_eval(10, [1.0, 2.0, 3.0]))
    finally:
        logger.removeHandler(caplog.handler)
    # one copy of each line (the handler may see a record twice: directly and from the root)
    lines = list(dict.fromkeys(r.getMessage() for r in caplog.records if r.name == "skillit"))
    assert lines[0].startswith("round 1 mixture: toy1 ")
    assert lines[1].startswith("round 1/3 (step 10): acc toy1 0%") and "next mixture:" in lines[1]


def test_trimming_drops_a_last_line_cut_short_by_a_kill_and_refuses_a_damaged_one(tmp_path):
    from skillit.callbacks.record import trim_history
    from skillit.errors import SkillitError

    path = tmp_path / "mixture_history.jsonl"
    path.write_text('{"round": 1}\n{"round": 2}\n{"round": 3, "wei')  # killed while writing
    trim_history(path, 2)
    assert path.read_text() == '{"round": 1}\n{"round": 2}\n'
    path.write_text('{"round": 1}\nnot json\n{"round": 2}\n')
    with pytest.raises(SkillitError, match=r"mixture_history.jsonl:2 is not a history line"):
        trim_history(path, 2)


def test_a_checkpoint_of_the_one_round_callback_gives_its_counts_and_cap_to_their_callbacks():
    """Checkpoints written before the round callback was split keep the delivered counts and
    the epoch cap's state in its entry: the mixing callback hands them on before loading."""
    old = {
        "rounds_done": 2,
        "train_skills": SKILLS,
        "strategy": None,
        "delivered_round": 3,
        "delivered": [[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]],
        "tokens_seen": [5.0, 6.0, 7.0],
        "cap_hits": {"toy1": 2},
    }
    checkpoint = {"callbacks": {"SkillItCallback": old}}
    mixing = MixingCallback(ManualStrategy(weights=[1, 1, 1]), SKILLS)
    assert mixing.state_key == "SkillItCallback"
    mixing.on_load_checkpoint(None, None, checkpoint)
    entries = checkpoint["callbacks"]
    assert entries["DeliveredCounts"]["delivered"] == old["delivered"]
    assert entries["DeliveredCounts"]["delivered_round"] == 3
    assert entries["EpochCap"] == {
        "tokens_seen": [5.0, 6.0, 7.0],
        "cap_hits": {"toy1": 2},
        "rounds_counted": 2,
    }
    fresh = {"callbacks": {"SkillItCallback": {"rounds_done": 1}, "EpochCap": {"tokens_seen": [1]}}}
    mixing.on_load_checkpoint(None, None, fresh)  # a new checkpoint: nothing to move
    assert fresh["callbacks"]["EpochCap"] == {"tokens_seen": [1]}
    assert "DeliveredCounts" not in fresh["callbacks"]
