"""nanotron: `data_stages`, a stage per change of the run's mixture, over nanotron's own
tokenized-bytes files (`skillit corpus export --format nanotron`)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from skillit.export.engines.base import EngineMixture, need_engine_data
from skillit.utils.safe_paths import write_inside


def write_nanotron(mix: EngineMixture, out: Path) -> Path:
    """nanotron's `data_stages`: one stage per change of the run's mixture, from the first step
    of its round, each over every domain's folder of tokenized-bytes files
    (`skillit corpus export --format nanotron`) with `dataset_folder` and `dataset_weights`
    lists (the schema of nanotron's config.py at commit 2411b02; its old `dataset_path` mapping
    is gone)."""
    need_engine_data(mix, "nanotron")
    stages = []
    for n, (first_step, weights) in enumerate(mix.stages, start=1):
        kept = [(s, float(w)) for s, w in zip(mix.skills, weights) if w > 0]
        dataset = {
            "dataset_folder": [str(mix.domains[s].folder) for s, _ in kept],
            "dataset_weights": [w for _, w in kept],
            "token_size_in_bytes": 2 if mix.dtype == "uint16" else 4,
            "vocab_size": mix.vocab_size,
            "return_positions": False,
            # the reader that takes a folder of .ds files alone (the default one asks datatrove
            # for arguments no release of it takes)
            "use_old_brrr_dataloader": True,
        }
        stages.append(
            {
                "name": f"skillit stage {n} (from step {first_step})",
                "start_training_step": int(first_step),
                "data": {"dataset": dataset, "num_loading_workers": 1, "seed": 0},
            }
        )
    path = out / "nanotron_data_stages.yaml"
    note = (
        "# nanotron data_stages; set tokenizer.tokenizer_name_or_path to the corpus's tokenizer\n"
    )
    write_inside(
        out, path.name, note + OmegaConf.to_yaml(OmegaConf.create({"data_stages": stages}))
    )
    return path
