"""A source defined outside skillit: registered, configured through data.options, trained with
Skill-It by the unchanged loop, and its mixture exported (see docs/adding-a-source.md)."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEntryPoint, ToySource

from skillit.config import load_config
from skillit.errors import SkillitError
from skillit.export.mixture import export_mixture, load_run_history
from skillit.sources import registry
from skillit.sources.registry import SourceCapabilities, SourceSpec


@dataclass
class DigitOptions:
    skills: int = 3  # skill s: the digit at position s of a random string
    length: int = 4
    notes: str | None = None  # a file path (declared in path_keys: resolved like skillit's own)

    def __post_init__(self) -> None:
        if not 1 <= self.skills <= self.length:
            raise SkillitError(
                f"data.options.skills must be in 1..{self.length}, got {self.skills}"
            )


def build_digits(ctx, options: DigitOptions) -> ToySource:
    return ToySource(num_skills=options.skills, length=options.length)


DIGITS = SourceSpec(
    "digits",
    build_digits,
    "the digit at position s of a random string",
    options=DigitOptions,
    path_keys=("notes",),
)
CHAIN = "mixing.graph.matrix=[[1,0,0],[0.5,1,0],[0,0.5,1]]"


@pytest.fixture
def digits():
    registry.register(DIGITS)
    yield DIGITS
    registry.unregister("digits")


def digit_run(run_config, run_dir: Path, *overrides: str):
    return run_config(
        run_dir,
        "data.source=digits",
        "data.options.skills=3",
        "mixing.strategy=skillit",
        CHAIN,
        "trainer.max_steps=24",
        "mixing.rounds=3",
        "mixing.plots=false",
        *overrides,
    )


def test_an_unregistered_source_is_refused_and_a_registered_one_configures(digits, tmp_path):
    cfg = load_config([], ["data.source=digits", "data.options.skills=2"])
    assert cfg.data.source == "digits" and cfg.data.options == {"skills": 2}
    registry.unregister("digits")
    with pytest.raises(SkillitError, match=r"data.source must be one of .*got 'digits'"):
        load_config([], ["data.source=digits"])
    registry.register(DIGITS)
    relative = load_config([], ["data.source=digits", "data.options.notes=notes.txt"])
    assert relative.data.options["notes"] == str(Path.cwd() / "notes.txt")  # a declared path key


def test_bad_plugin_options_name_data_options(digits, run_config, tmp_path):
    from skillit.build import build_run

    with pytest.raises(SkillitError, match=r"data.options for data.source=digits: .*valid keys"):
        build_run(digit_run(run_config, tmp_path, "data.options.skils=2"), network=False)
    with pytest.raises(SkillitError, match=r"data.options.skills must be in 1..4"):
        build_run(digit_run(run_config, tmp_path, "data.options.skills=9"), network=False)
    with pytest.raises(SkillitError, match=r"data.options \['k'\]: data.source=lego reads"):
        build_run(run_config(tmp_path, "data.options.k=3"), network=False)


def test_a_declared_capability_the_source_lacks_is_refused_naming_it(run_config, tmp_path):
    from skillit.build import build_run

    liar = SourceSpec(
        "liar",
        build_digits,
        "claims fixed-width rows",
        options=DigitOptions,
        capabilities=SourceCapabilities(fixed_width=True),
    )
    registry.register(liar)
    try:
        with pytest.raises(SkillitError, match="declares fixed_width but its ToySource lacks"):
            build_run(run_config(tmp_path, "data.source=liar"), network=False)
    finally:
        registry.unregister("liar")


def test_a_plugin_source_trains_with_skillit_and_its_mixture_exports(digits, run_config, tmp_path):
    from skillit.training import train

    result = train(digit_run(run_config, tmp_path / "run"))
    assert result.eval_skills == ["toy1", "toy2", "toy3"] and result.show == "acc"
    history = load_run_history(tmp_path / "run")
    assert [r["round"] for r in history] == [1, 2, 3]
    moved = [list(r["next_weights"].values()) for r in history]
    assert not np.allclose(moved[0], list(history[0]["weights"].values()))  # Skill-It acted
    assert sum(history[0]["delivered_samples"].values()) == 8 * 16  # 8 steps of 16 rows
    paths = export_mixture(tmp_path / "run", tmp_path / "export")
    replay = load_config([paths["schedule"]], ["data.source=digits"])
    assert replay.mixing.strategy == "manual" and replay.skills.train == ["toy1", "toy2", "toy3"]
    for entry, record in zip(replay.mixing.schedule[1:], history):
        np.testing.assert_allclose(entry.weights, list(record["next_weights"].values()))


def test_an_installed_package_provides_a_source_through_its_entry_point(monkeypatch):
    points = {registry.ENTRY_POINT_GROUP: [FakeEntryPoint("digits", lambda: DIGITS)]}
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: points.get(group, []))
    monkeypatch.setattr(registry.REGISTRY, "plugins_loaded", False)
    try:
        assert load_config([], ["data.source=digits"]).data.source == "digits"
    finally:
        registry.unregister("digits")
    broken = {registry.ENTRY_POINT_GROUP: [FakeEntryPoint("bad", ImportError("no module x"))]}
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: broken.get(group, []))
    monkeypatch.setattr(registry.REGISTRY, "plugins_loaded", False)
    with pytest.raises(SkillitError, match=r"source plugin 'bad' .* failed to load.*no module x"):
        load_config([], ["data.source=nowhere"])
