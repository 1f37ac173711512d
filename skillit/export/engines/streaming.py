"""MosaicML streaming: the domains as `streams` with a `proportion` each, over MDS datasets
(`skillit corpus export --format mds`), in the form `StreamingDataset(streams=...)` and LLM
Foundry's `train_loader.dataset.streams` take. Checked with mosaicml-streaming 0.13.0. Its
samples are windows of equal tokens, so a proportion of samples is one of tokens. streaming
fixes proportions when the dataset is built: a schedule reaches it as its average."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from skillit.export.engines.base import EngineMixture, need_engine_data
from skillit.utils.safe_paths import write_inside


def write_streaming(mix: EngineMixture, out: Path) -> Path:
    need_engine_data(mix, "mds")
    streams = {
        s: {"local": str(mix.domains[s].folder), "proportion": float(w)}
        for s, w in zip(mix.skills, mix.average)
        if w > 0
    }
    path = out / "streaming_streams.yaml"
    note = (
        "# MosaicML streaming (checked with 0.13.0): "
        "StreamingDataset(streams=[Stream(**s) for s in streams.values()], ...),\n"
        "# or LLM Foundry's train_loader.dataset.streams; the tokens column is `tokens`\n"
    )
    write_inside(out, path.name, note + OmegaConf.to_yaml(OmegaConf.create({"streams": streams})))
    return path
