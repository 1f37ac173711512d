"""litdata: it has no config file, so the export is a Python module that builds the mixture, a
`CombinedStreamingDataset` of one `StreamingDataset` per domain (`TokensLoader` blocks of the
run's window and its next-token target) with the run's weights, over litdata datasets
(`skillit corpus export --format litdata`). Checked with litdata 0.2.76. litdata fixes the
weights when the dataset is built: a schedule reaches it as its average."""

from __future__ import annotations

import json
from pathlib import Path

from skillit.export.engines.base import EngineMixture, need_engine_data
from skillit.utils.safe_paths import write_inside

TEMPLATE = '''\
"""A skillit run's mixture for litdata 0.2.76 (written by `skillit mixture export`)."""

from litdata import CombinedStreamingDataset, StreamingDataset, TokensLoader

BLOCK_SIZE = {block_size}  # the run's window and its next-token target
FOLDERS = {folders}
WEIGHTS = {weights}


def mixture_dataset(block_size=BLOCK_SIZE, seed=42, shuffle=True):
    datasets = [
        StreamingDataset(
            FOLDERS[name], item_loader=TokensLoader(block_size=block_size), shuffle=shuffle, seed=seed
        )
        for name in WEIGHTS
    ]
    return CombinedStreamingDataset(
        datasets=datasets, weights=list(WEIGHTS.values()), seed=seed, iterate_over_all=False
    )
'''


def write_litdata(mix: EngineMixture, out: Path) -> Path:
    need_engine_data(mix, "litdata")
    kept = [(s, float(w)) for s, w in zip(mix.skills, mix.average) if w > 0]
    text = TEMPLATE.format(
        block_size=(mix.sequence_length or 0) + 1,
        folders=json.dumps({s: str(mix.domains[s].folder) for s, _ in kept}, indent=4),
        weights=json.dumps(dict(kept), indent=4),
    )
    path = out / "litdata_mixture.py"
    write_inside(out, path.name, text)
    return path
