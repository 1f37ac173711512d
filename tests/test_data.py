import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from skillit.data import SkillDataModule
from skillit.errors import SkillitError
from skillit.mixing.curricula import SampleSchedule


def make_dm(source, weights=(0.5, 0.3, 0.2), rounds=(20, 20), batch_size=16, num_workers=0, seed=7):
    dm = SkillDataModule(
        source,
        source.skill_names,
        source.skill_names,
        list(rounds),
        global_batch_size=batch_size,
        num_workers=num_workers,
        seed=seed,
    )
    dm.set_mixture(np.array(weights))  # as MixingCallback does at fit start
    return dm


def collect(dataset, num_workers=0):
    loader = DataLoader(dataset, batch_size=None, num_workers=num_workers)
    return list(loader)


def skill_counts(batches, k=3):
    return np.bincount(torch.cat([b["skill"] for b in batches]).numpy(), minlength=k)


def test_a_round_follows_the_mixture_exactly(toy_source):
    dm = make_dm(toy_source, weights=(0.5, 0.3, 0.2))
    batches = collect(dm.train_stream(1))
    assert len(batches) == 20
    np.testing.assert_array_equal(skill_counts(batches), [160, 96, 64])  # 320 samples


def test_batches_carry_the_skill_of_each_row(toy_source):
    dm = make_dm(toy_source)
    for batch in collect(dm.train_stream(1)):
        queried = batch["input_ids"][:, toy_source.length] - toy_source.query0
        assert torch.equal(queried, batch["skill"])


def test_ranks_draw_disjoint_rows_whose_union_follows_the_mixture(toy_source):
    dm = make_dm(toy_source, weights=(0.5, 0.3, 0.2), batch_size=16)
    single = collect(dm.train_stream(1, rank=0, world_size=1))
    rank0 = collect(dm.train_stream(1, rank=0, world_size=2))
    rank1 = collect(dm.train_stream(1, rank=1, world_size=2))
    # the same global batch of 16: 2 ranks x 8 rows are the one process's 16 rows, in order
    union = [torch.cat([a["input_ids"], b["input_ids"]]) for a, b in zip(rank0, rank1)]
    assert all(torch.equal(u, s["input_ids"]) for u, s in zip(union, single))
    # each rank holds its own half of every global batch (disjoint positions), never the other's
    assert all(len(a["skill"]) == len(b["skill"]) == 8 for a, b in zip(rank0, rank1))
    assert not all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(rank0, rank1))
    np.testing.assert_array_equal(skill_counts(rank0) + skill_counts(rank1), [160, 96, 64])
    assert len(single) == len(rank0) == len(rank1) == 20


@pytest.mark.parametrize("num_workers", [0, 2])
def test_a_mixture_change_takes_effect_at_the_next_round(toy_source, num_workers):
    dm = make_dm(toy_source, weights=(1.0, 0.0, 0.0), num_workers=num_workers)
    first = collect(dm.train_stream(1), num_workers)
    dm.set_mixture(np.array([0.0, 0.25, 0.75]))
    # the loader of the round already built keeps its mixture; the next round's uses the new one
    second = collect(dm.train_stream(2), num_workers)
    np.testing.assert_array_equal(skill_counts(first), [320, 0, 0])
    np.testing.assert_array_equal(skill_counts(second), [0, 80, 240])


def test_the_stream_is_identical_for_any_number_of_workers(toy_source):
    dm = make_dm(toy_source)
    a = collect(dm.train_stream(2), num_workers=0)
    b = collect(dm.train_stream(2), num_workers=2)
    assert all(torch.equal(x["input_ids"], y["input_ids"]) for x, y in zip(a, b))


def test_same_seed_same_batches_and_other_seed_other_batches(toy_source):
    a = collect(make_dm(toy_source, seed=1).train_stream(1))
    b = collect(make_dm(toy_source, seed=1).train_stream(1))
    c = collect(make_dm(toy_source, seed=2).train_stream(1))
    assert all(torch.equal(x["input_ids"], y["input_ids"]) for x, y in zip(a, b))
    assert not all(torch.equal(x["input_ids"], y["input_ids"]) for x, y in zip(a, c))


def test_validation_is_sharded_across_ranks_without_loss_or_overlap(toy_source):
    dm = make_dm(toy_source)
    full = torch.cat([b["input_ids"] for b in dm.val_batches(0, 1)])
    shards = [torch.cat([b["input_ids"] for b in dm.val_batches(r, 3)]) for r in range(3)]
    assert sum(len(s) for s in shards) == len(full) == 3 * toy_source.val_size
    assert sorted(map(tuple, torch.cat(shards).tolist())) == sorted(map(tuple, full.tolist()))


def test_a_global_batch_that_does_not_split_over_the_ranks_is_refused_by_key(toy_source):
    dm = make_dm(toy_source, batch_size=15)
    with pytest.raises(SkillitError, match="data.global_batch_size=15.*2 ranks"):
        collect(dm.train_stream(1, rank=0, world_size=2))


def test_a_round_without_a_mixture_is_refused(toy_source):
    dm = SkillDataModule(toy_source, toy_source.skill_names, toy_source.skill_names, [5])
    with pytest.raises(RuntimeError, match="no mixture"):
        dm.train_stream(1)


def test_a_pool_round_draws_the_rows_its_schedule_fixes_for_its_steps(toy_source):
    dm = make_dm(toy_source, rounds=(2, 2), batch_size=4)
    pool = dm.draw_pool(50, seed=3)
    rows = np.arange(16) % 5 + 10  # the run's 4 steps x 4 rows: pool rows 10..14, cycling
    dm.set_pool(pool, SampleSchedule(rows, admitted=np.array([5, 5, 5, 5])))
    second_round = torch.cat([b["input_ids"] for b in collect(dm.train_stream(2))])
    expected = pool.select(rows[8:])  # round 2 starts at step 2
    np.testing.assert_array_equal(
        second_round.numpy(), expected.input_ids[:, : second_round.shape[1]]
    )
    details = dm.round_details(2)
    assert details["pool_size"] == 5 and sum(details["drawn"]) == pytest.approx(1.0)


def test_unknown_skill_names_are_rejected_by_name(toy_source):
    with pytest.raises(SkillitError, match="skills.eval.*nope"):
        SkillDataModule(toy_source, ["toy1"], ["nope"], [5])


@pytest.mark.parametrize("num_workers", [0, 2])
def test_a_round_planned_in_blocks_has_exact_counts_in_every_block(toy_source, num_workers):
    dm = make_dm(toy_source, weights=(0.5, 0.3, 0.2), num_workers=num_workers)
    dm.plan_block_steps = 3
    batches = list(dm.train_dataloader())  # round 1 of 20 steps: blocks of 3, 3, ..., 2
    assert len(batches) == 20
    for start in range(0, 20, 3):
        block = batches[start : start + 3]
        n = 16 * len(block)
        counts = skill_counts(block)
        assert counts.sum() == n
        assert (np.abs(counts - np.array([0.5, 0.3, 0.2]) * n) < 1).all()
    reference = make_dm(toy_source, weights=(0.5, 0.3, 0.2))
    reference.plan_block_steps = 3
    same = list(reference.train_dataloader())  # no workers: the same stream
    for a, b in zip(batches, same):
        assert torch.equal(a["input_ids"], b["input_ids"])
    assert dm.round_details(1) == {}  # one mixture in every block: nothing extra to record


def test_a_bad_block_size_is_refused_by_key():
    from skillit.config import load_config

    with pytest.raises(SkillitError, match="data.plan_block_steps"):
        load_config(overrides=["data.plan_block_steps=0"])


def test_published_block_mixtures_are_saved_inside_their_round_and_not_at_its_end(toy_source):
    from types import SimpleNamespace

    from skillit.mixing.base import Block

    names = toy_source.skill_names

    def planner(round_number, steps, mixture):
        return [Block(2, (1.0, 0.0, 0.0)), Block(2, None), Block(steps - 4, None)]

    dm = SkillDataModule(
        toy_source, names, names, [6, 6], global_batch_size=4, block_planner=planner
    )
    dm.set_mixture([1, 1, 1])
    live = dm.plan_blocks(2)
    live.publish(1, np.array([0.0, 1.0, 0.0]))
    dm.trainer = SimpleNamespace(global_step=6 + 3)  # inside round 2 (steps 6..11)
    assert dm.state_dict() == {
        "round": 2,
        "blocks": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], None],
    }
    dm.trainer = SimpleNamespace(global_step=12)  # round 2's end: the next round plans afresh
    assert dm.state_dict() == {}
