"""A run's mixture in the files the engines that train at scale read, one module per engine.

None of these engines sets a mixture from losses; each reads fixed weights over datasets (some
per stage). Each format declares the data it reads (`skillit corpus export --format ...`, or
skillit's shards as they are) and how a schedule reaches it: stages, phases, or the average.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from skillit.errors import SkillitError
from skillit.export.engines.base import (
    DomainShards,
    EngineMixture,
    check_domains,
    corpus_domains,
    engine_domains,
    run_corpus,
)
from skillit.export.engines.litdata import write_litdata
from skillit.export.engines.megatron import write_megatron
from skillit.export.engines.nanotron import write_nanotron
from skillit.export.engines.olmo import write_olmo
from skillit.export.engines.streaming import write_streaming


@dataclass(frozen=True)
class EngineFormat:
    write: Callable[[EngineMixture, Path], Path]
    data: str | None  # the `skillit corpus export --format` it reads; None: skillit's shards
    schedule: str  # how a run's schedule reaches the engine
    checked: str  # the engine version (or source) the file was checked against


ENGINE_FORMATS: dict[str, EngineFormat] = {
    "megatron": EngineFormat(
        write_megatron, "megatron", "phases (megatron_phases.json)", "megatron-core 0.16.1"
    ),
    "streaming": EngineFormat(
        write_streaming, "mds", "the average (no stages)", "mosaicml-streaming 0.13.0"
    ),
    "litdata": EngineFormat(write_litdata, "litdata", "the average (no stages)", "litdata 0.2.76"),
    "olmo": EngineFormat(
        write_olmo, None, "the average (no stages)", "OLMo-core 2.5 / 3.0 source (schema)"
    ),
    "nanotron": EngineFormat(
        write_nanotron, "nanotron", "stages (data_stages)", "nanotron 2411b02 source (schema)"
    ),
}
ENGINES = tuple(ENGINE_FORMATS)
FORMATS = ("skillit", *ENGINES)


def write_engine(fmt: str, mix: EngineMixture, out: Path) -> Path:
    if fmt not in ENGINE_FORMATS:
        raise SkillitError(f"--format must be one of {list(FORMATS)}, got {fmt!r}")
    check_domains(mix)
    out.mkdir(parents=True, exist_ok=True)
    return ENGINE_FORMATS[fmt].write(mix, out)


__all__ = [
    "ENGINES",
    "ENGINE_FORMATS",
    "FORMATS",
    "DomainShards",
    "EngineFormat",
    "EngineMixture",
    "corpus_domains",
    "engine_domains",
    "run_corpus",
    "write_engine",
]
