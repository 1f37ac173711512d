import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from skillit.data import SkillDataModule


def make_dm(source, weights=(0.5, 0.3, 0.2), rounds=(20, 20), batch_size=16, num_workers=0, seed=7):
    return SkillDataModule(
        source,
        source.skill_names,
        source.skill_names,
        list(rounds),
        batch_size=batch_size,
        num_workers=num_workers,
        seed=seed,
        initial_weights=np.array(weights),
    )


def collect(dataset, num_workers=0):
    loader = DataLoader(dataset, batch_size=None, num_workers=num_workers)
    return list(loader)


def skill_counts(batches, k=3):
    return np.bincount(torch.cat([b["skill"] for b in batches]).numpy(), minlength=k)


def test_a_round_follows_the_mixture_exactly(toy_source):
    dm = make_dm(toy_source, weights=(0.5, 0.3, 0.2))
    batches = collect(dm.train_stream(0))
    assert len(batches) == 20
    np.testing.assert_array_equal(skill_counts(batches), [160, 96, 64])  # 320 samples


def test_batches_carry_the_skill_of_each_row(toy_source):
    dm = make_dm(toy_source)
    for batch in collect(dm.train_stream(0)):
        queried = batch["input_ids"][:, toy_source.length] - toy_source.query0
        assert torch.equal(queried, batch["skill"])


def test_ranks_draw_disjoint_rows_whose_union_follows_the_mixture(toy_source):
    dm = make_dm(toy_source, weights=(0.5, 0.3, 0.2), batch_size=8)
    single = collect(dm.train_stream(0, rank=0, world_size=1))
    rank0 = collect(dm.train_stream(0, rank=0, world_size=2))
    rank1 = collect(dm.train_stream(0, rank=1, world_size=2))
    # 2 ranks x 8 rows = the same global batches as one process with batch 16
    dm16 = make_dm(toy_source, weights=(0.5, 0.3, 0.2), batch_size=16)
    union = [torch.cat([a["input_ids"], b["input_ids"]]) for a, b in zip(rank0, rank1)]
    assert all(torch.equal(u, s["input_ids"]) for u, s in zip(union, collect(dm16.train_stream(0))))
    # each rank holds its own half of every global batch (disjoint positions), never the other's
    assert all(len(a["skill"]) == len(b["skill"]) == 8 for a, b in zip(rank0, rank1))
    assert not all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(rank0, rank1))
    np.testing.assert_array_equal(skill_counts(rank0) + skill_counts(rank1), [160, 96, 64])
    assert len(single) == len(rank0) == len(rank1) == 20


@pytest.mark.parametrize("num_workers", [0, 2])
def test_a_mixture_change_takes_effect_at_the_next_round(toy_source, num_workers):
    dm = make_dm(toy_source, weights=(1.0, 0.0, 0.0), num_workers=num_workers)
    first = collect(dm.train_stream(0), num_workers)
    dm.set_mixture(np.array([0.0, 0.25, 0.75]))
    # the loader of the round already built keeps its mixture; the next round's uses the new one
    second = collect(dm.train_stream(1), num_workers)
    np.testing.assert_array_equal(skill_counts(first), [320, 0, 0])
    np.testing.assert_array_equal(skill_counts(second), [0, 80, 240])


def test_the_stream_is_identical_for_any_number_of_workers(toy_source):
    dm = make_dm(toy_source)
    a = collect(dm.train_stream(1), num_workers=0)
    b = collect(dm.train_stream(1), num_workers=2)
    assert all(torch.equal(x["input_ids"], y["input_ids"]) for x, y in zip(a, b))


def test_same_seed_same_batches_and_other_seed_other_batches(toy_source):
    a = collect(make_dm(toy_source, seed=1).train_stream(0))
    b = collect(make_dm(toy_source, seed=1).train_stream(0))
    c = collect(make_dm(toy_source, seed=2).train_stream(0))
    assert all(torch.equal(x["input_ids"], y["input_ids"]) for x, y in zip(a, b))
    assert not all(torch.equal(x["input_ids"], y["input_ids"]) for x, y in zip(a, c))


def test_validation_is_sharded_across_ranks_without_loss_or_overlap(toy_source):
    dm = make_dm(toy_source)
    full = torch.cat([b["input_ids"] for b in dm.val_batches(0, 1)])
    shards = [torch.cat([b["input_ids"] for b in dm.val_batches(r, 3)]) for r in range(3)]
    assert sum(len(s) for s in shards) == len(full) == 3 * toy_source.val_size
    assert sorted(map(tuple, torch.cat(shards).tolist())) == sorted(map(tuple, full.tolist()))


def test_mixture_state_round_trips_and_checks_the_skills(toy_source):
    dm = make_dm(toy_source, weights=(0.6, 0.2, 0.2))
    other = make_dm(toy_source)
    other.load_state_dict(dm.state_dict())
    np.testing.assert_allclose(other.mixture, [0.6, 0.2, 0.2])
    from skillit.errors import SkillitError

    with pytest.raises(SkillitError, match="skills.train"):
        other.load_state_dict({"weights": [1.0], "train_skills": ["toy1"]})


def test_unknown_skill_names_are_rejected_by_name(toy_source):
    from skillit.errors import SkillitError

    with pytest.raises(SkillitError, match="skills.eval.*nope"):
        SkillDataModule(toy_source, ["toy1"], ["nope"], [5])
