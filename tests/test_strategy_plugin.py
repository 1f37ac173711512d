"""A strategy defined outside skillit: registered, configured through mixing.options, and run by
the unchanged training loop, inside rounds as well (see docs/adding-a-strategy.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from conftest import FakeEntryPoint

from skillit.config import load_config
from skillit.errors import SkillitError
from skillit.export.mixture import load_run_history
from skillit.mixing import (
    Block,
    BuildContext,
    InRoundNeeds,
    MixingStrategy,
    StrategySpec,
    register,
    unregister,
)


@dataclass
class ChaseOptions:
    every: int = 2  # steps per block
    floor: float = 0.1  # weight every skill keeps

    def __post_init__(self) -> None:
        if self.every < 1:
            raise SkillitError(f"mixing.options.every must be >= 1, got {self.every}")


class ChaseTheLoss(MixingStrategy):
    """Each block samples in proportion to the skills' mean training loss of the block before."""

    name = "chase"
    in_round = InRoundNeeds(row_losses=True)
    built: list[ChaseTheLoss] = []  # every instance, so the test can read what it returned

    def __init__(self, num_skills: int, options: ChaseOptions) -> None:
        super().__init__(num_skills)
        self.options = options
        self.returned: list[list[float]] = []
        ChaseTheLoss.built.append(self)

    def initial_weights(self) -> np.ndarray:
        return np.full(self.num_skills, 1.0 / self.num_skills)

    def round_blocks(self, round_number, round_steps, mixture):
        every = self.options.every
        return [
            Block(min(every, round_steps - s), tuple(mixture) if s == 0 else None)
            for s in range(0, round_steps, every)
        ]

    def observe_training(self, step, loss_sums, counts):
        mean = np.where(counts > 0, loss_sums / np.maximum(counts, 1), 0.0)
        w = self.options.floor + mean / mean.sum()
        self._weights = w / w.sum()
        self.returned.append(self._weights.tolist())
        return self._weights.copy()


def build_chase(ctx: BuildContext, options: ChaseOptions) -> ChaseTheLoss:
    return ChaseTheLoss(ctx.num_skills, options)


@pytest.fixture
def chase():
    ChaseTheLoss.built.clear()
    register(StrategySpec("chase", build_chase, "chase the training loss", options=ChaseOptions))
    yield
    unregister("chase")


def test_an_unregistered_name_is_refused_and_a_registered_one_configures(chase):
    cfg = load_config([], ["mixing.strategy=chase", "mixing.options.every=3"])
    assert cfg.mixing.options == {"every": 3}
    unregister("chase")
    with pytest.raises(SkillitError, match="mixing.strategy must be one of"):
        load_config([], ["mixing.strategy=chase"])


def test_bad_plugin_options_are_refused_naming_mixing_options(chase, run_config, tmp_path):
    from skillit.build import build_run

    with pytest.raises(SkillitError, match=r"mixing.options .*valid keys: \['every', 'floor'\]"):
        build_run(
            run_config(tmp_path, "mixing.strategy=chase", "mixing.options.evry=3"), network=False
        )
    with pytest.raises(SkillitError, match="mixing.options.every must be >= 1"):
        build_run(
            run_config(tmp_path, "mixing.strategy=chase", "mixing.options.every=0"), network=False
        )
    with pytest.raises(SkillitError, match="mixing.options .*reads its options from mixing.odm"):
        build_run(
            run_config(tmp_path, "mixing.strategy=odm", "mixing.options.every=3"), network=False
        )


@pytest.mark.slow  # one short run
def test_a_plugin_strategy_trains_and_moves_its_mixture_inside_rounds(chase, run_config, tmp_path):
    from skillit.training import train

    cfg = run_config(
        tmp_path / "run",
        "mixing.strategy=chase",
        "mixing.options.every=2",
        "trainer.max_steps=16",
        "mixing.rounds=2",
        "mixing.plots=false",
    )
    train(cfg)
    (strategy,) = ChaseTheLoss.built
    history = load_run_history(tmp_path / "run")
    assert [r["block_steps"] for r in history] == [[2, 2, 2, 2]] * 2
    # blocks 1..3 of each round draw from what the strategy returned after the block before
    published = [w for r in history for w in r["block_weights"][1:]]
    returned = [w for i, w in enumerate(strategy.returned) if i % 4 != 3]  # not the round ends
    np.testing.assert_allclose(published, returned, rtol=1e-12)
    np.testing.assert_allclose(history[1]["block_weights"][0], strategy.returned[3], rtol=1e-12)
    assert len({tuple(np.round(w, 12)) for w in published}) > 1  # the mixture moved


def test_an_installed_package_provides_a_strategy_through_its_entry_point(monkeypatch):
    import importlib.metadata

    from skillit.mixing import registry

    spec = StrategySpec("chase", build_chase, "chase the training loss", options=ChaseOptions)
    points = {"skillit.strategies": [FakeEntryPoint("chase", lambda: spec)]}
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: points.get(group, []))
    monkeypatch.setattr(registry.REGISTRY, "plugins_loaded", False)
    try:
        cfg = load_config([], ["mixing.strategy=chase"])  # found without any import by the user
        assert cfg.mixing.strategy == "chase" and registry.get("chase") is spec
    finally:
        unregister("chase")
    broken = {"skillit.strategies": [FakeEntryPoint("bad", ImportError("no module named x"))]}
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: broken.get(group, []))
    monkeypatch.setattr(registry.REGISTRY, "plugins_loaded", False)
    with pytest.raises(SkillitError, match="strategy plugin 'bad'.*ImportError"):
        load_config([], ["mixing.strategy=bad"])


class ChaseAtRoundEnds(ChaseTheLoss):
    """Reads training losses but plans no blocks: it is observed at each round's end only."""

    name = "chase_ends"

    def round_blocks(self, round_number, round_steps, mixture):
        return None


@pytest.mark.slow  # one short run
def test_a_strategy_reading_training_losses_without_blocks_is_observed_at_round_ends(
    run_config, tmp_path
):
    from skillit.training import train

    ChaseTheLoss.built.clear()
    build = lambda ctx, options: ChaseAtRoundEnds(ctx.num_skills, options)  # noqa: E731
    register(StrategySpec("chase_ends", build, "chase, once a round", options=ChaseOptions))
    try:
        cfg = run_config(
            tmp_path / "run",
            "mixing.strategy=chase_ends",
            "trainer.max_steps=16",
            "mixing.rounds=2",
            "mixing.plots=false",
        )
        train(cfg)
    finally:
        unregister("chase_ends")
    (strategy,) = ChaseTheLoss.built
    history = load_run_history(tmp_path / "run")
    assert len(strategy.returned) == 2  # one observation per round, at its end
    assert "block_weights" not in history[0]
    np.testing.assert_allclose(list(history[1]["weights"].values()), strategy.returned[0])
