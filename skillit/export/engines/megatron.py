"""Megatron-LM: `--data-path` of a BlendedDataset over Megatron's own indexed dataset
(`skillit corpus export --format megatron`), the per-split JSON, and the schedule as phases.

Megatron fixes its blend when it builds the dataset; a schedule reaches it as phases: train to a
phase's last step with its `--data-path`, then resume from that checkpoint with the next one
(Megatron keeps its consumed samples and rebuilds the data iterators on resume). Checked with
megatron-core 0.16.1's BlendedMegatronDatasetBuilder (tests/test_engine_data.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from skillit.errors import SkillitError
from skillit.export.engines.base import (
    EngineMixture,
    megatron_prefix,
    need_engine_data,
    shard_weights,
    token_shares,
)
from skillit.utils.safe_paths import write_inside


def data_path(mix: EngineMixture, weights: list[float]) -> str:
    """`w1 prefix1 w2 prefix2 ...`: each train shard weighted by its domain's weight times its
    share of the domain's tokens."""
    pairs = shard_weights(mix, weights)
    return " ".join(f"{w!r} {unsplit_prefix(p)}" for p, w in pairs)


def unsplit_prefix(path: Path) -> str:
    """The shard's Megatron prefix, refused when it holds whitespace: Megatron splits
    `--data-args-path` files on any whitespace (`f.read().split()`, no quoting), and `--data-path
    $(cat megatron_data_path.txt)` is split the same way by the shell, so such a prefix cannot
    reach it whole whatever the quoting."""
    prefix = megatron_prefix(path)
    if any(c.isspace() for c in prefix):
        raise SkillitError(
            f"megatron: the data prefix {prefix!r} holds whitespace, which Megatron's --data-path "
            "and --data-args-path split on; write the engine data into a folder whose path has "
            "none (`skillit corpus export CORPUS DIR --format megatron`) and pass that as --data"
        )
    return prefix


def write_megatron(mix: EngineMixture, out: Path) -> Path:
    """`megatron_data_path.txt` (the average mixture), `megatron_data_args.json`
    (`--per-split-data-args-path`: train by the mixture, valid by each domain's share of
    validation tokens) and, for a schedule, `megatron_phases.json`."""
    need_engine_data(mix, "megatron")
    train = data_path(mix, mix.average)
    valid_mix = EngineMixture(
        mix.skills, token_shares(mix.valid, mix.skills), [], mix.valid, 0, 0, mix.dtype
    )
    split = {"train": train.split(), "valid": data_path(valid_mix, valid_mix.average).split()}
    write_inside(out, "megatron_data_args.json", json.dumps(split, indent=2) + "\n")
    if len(mix.stages) > 1:
        write_phases(mix, out / "megatron_phases.json")
    path = out / "megatron_data_path.txt"
    write_inside(out, path.name, train + "\n")
    return path


def write_phases(mix: EngineMixture, path: Path) -> None:
    """One phase per stage of the schedule: its first and last step (from 1, inclusive: run to
    `--train-iters last_step`, then resume with the next phase's data path)."""
    ends = [start - 1 for start, _ in mix.stages[1:]] + [mix.total_steps]
    phases = [
        {"first_step": start, "last_step": end, "data_path": data_path(mix, weights)}
        for (start, weights), end in zip(mix.stages, ends)
    ]
    note = (
        "Train each phase to --train-iters last_step with its --data-path, then resume from that "
        "checkpoint with the next phase's (Megatron keeps the consumed samples on resume)."
    )
    write_inside(
        path.parent, path.name, json.dumps({"note": note, "phases": phases}, indent=2) + "\n"
    )
