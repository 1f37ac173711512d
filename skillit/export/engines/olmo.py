"""OLMo-core: a `NumpyFSLDatasetConfig` whose `source_mixture_config` mixes the domains, over
skillit's shards as they are (OLMo-core reads headerless token arrays with an end-of-document
token after each document). Fields as in OLMo-core 2.5 / 3.0's source
(olmo_core/data/source_mixture.py, numpy_dataset.py): the package does not install here without
its cloud clients. OLMo-core fixes the mixture when it builds the dataset: a schedule reaches it as
its average."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from skillit.export.engines.base import EngineMixture
from skillit.utils.safe_paths import write_inside


def write_olmo(mix: EngineMixture, out: Path) -> Path:
    """OLMo-core's `NumpyFSLDatasetConfig` with a `source_mixture_config`
    (`SourceMixtureDatasetConfig`: a source per domain with its ratio, paths and the repetition
    its budget needs). OLMo-core reads skillit's shards as they are: headerless token arrays with
    an end-of-document token after each document."""
    sources = []
    for s, w in zip(mix.skills, mix.average):
        if w <= 0:
            continue
        domain = mix.domains[s]
        needed = w * mix.total_tokens / max(1, domain.tokens)  # epochs the budget asks of it
        sources.append(
            {
                "source_name": s,
                "target_ratio": float(w),
                "paths": [str(p) for p, _ in domain.shards],
                "max_repetition_ratio": float(max(1.0, needed)),
            }
        )
    config = {
        "source_mixture_config": {
            "source_list": {"sources": sources},
            "requested_tokens": int(mix.total_tokens),
            "global_batch_size": int(mix.tokens_per_step),  # OLMo-core counts it in tokens
            "seed": 0,
        },
        "sequence_length": mix.sequence_length,
        "dtype": mix.dtype,
        "tokenizer": {
            "vocab_size": mix.vocab_size,
            "eos_token_id": mix.eos_id,
            "pad_token_id": mix.eos_id,
        },
    }
    path = out / "olmo_source_mixture.yaml"
    note = (
        "# OLMo-core NumpyFSLDatasetConfig (checked against the fields of OLMo-core 2.5 / 3.0:\n"
        "# olmo_core/data/source_mixture.py, numpy_dataset.py); add work_dir, then .build()\n"
    )
    write_inside(out, path.name, note + OmegaConf.to_yaml(OmegaConf.create(config)))
    return path
