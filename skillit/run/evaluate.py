"""Evaluate a finished run's final model on any skills of its source (e.g. a held-out split).

The run directory holds everything needed: its config.yaml rebuilds the same source (same world,
same validation sets) and network, and checkpoints/last.ckpt holds the final weights. Results are
written to ``extra_eval.json`` in the run directory, keyed by skill, so a report can reuse them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from skillit.build import build_network, build_source, load_initial_weights
from skillit.config import RunConfig, load_config
from skillit.errors import SkillitError
from skillit.run.directory import CHECKPOINT, CONFIG_FILE
from skillit.sources.base import SkillSource
from skillit.utils import jsonio
from skillit.utils.safe_load import load_weights_only

EXTRA_EVAL_FILE = "extra_eval.json"


def score_checkpoint(
    cfg: RunConfig,
    source: SkillSource,
    ckpt: str | Path,
    skills: Sequence[str],
    key: str = "checkpoint",
) -> dict[str, dict[str, float]]:
    """{skill: {"loss", "acc", "samples", "step"}}: the network of `cfg` with the weights of
    `ckpt`, scored on the validation sets of `skills` (loss as `cfg.model.eval_loss`)."""
    from skillit.model.evaluation import evaluate_validation_sets

    names = list(source.skill_names)
    unknown = [s for s in skills if s not in names]
    if unknown:
        raise SkillitError(f"{ckpt}: the source has no skills {unknown}; it has {names}")
    network = build_network(cfg, source.tokenizer.get_vocab_size())
    load_initial_weights(network, ckpt, key)
    step = int(load_weights_only(ckpt, key).get("global_step", -1))
    result = evaluate_validation_sets(network, source, list(skills), cfg.model.eval_loss)
    return {
        skill: {
            "loss": float(result["loss"][i]),
            "acc": float(result["acc"][i]),
            "samples": int(result["samples"][i]),
            "step": step,
        }
        for i, skill in enumerate(skills)
    }


def evaluate_run(run_dir: str | Path, skills: Sequence[str]) -> dict[str, dict[str, float]]:
    """{skill: {"loss", "acc", "samples", "step"}} of the run's final weights; cached per skill
    in ``extra_eval.json`` (recomputed when the checkpoint is newer)."""
    run_dir = Path(run_dir)
    ckpt = run_dir / CHECKPOINT
    if not (run_dir / CONFIG_FILE).is_file() or not ckpt.is_file():
        raise SkillitError(f"{run_dir} has no {CONFIG_FILE} and {CHECKPOINT}: not a finished run")
    cache_path = run_dir / EXTRA_EVAL_FILE
    cache = jsonio.loads(cache_path.read_text(), cache_path) if cache_path.is_file() else {}
    fresh = cache.get("checkpoint_mtime") == ckpt.stat().st_mtime_ns
    wanted = [s for s in skills if not (fresh and s in cache.get("skills", {}))]
    if wanted:
        cfg = load_config([run_dir / CONFIG_FILE], [f"run_dir={run_dir}"])
        kept = cache.get("skills", {}) if fresh else {}
        kept.update(score_checkpoint(cfg, build_source(cfg), ckpt, wanted))
        cache = {"checkpoint_mtime": ckpt.stat().st_mtime_ns, "skills": kept}
        tmp = cache_path.with_name(f".{EXTRA_EVAL_FILE}.tmp")
        tmp.write_text(jsonio.dumps(cache, indent=2) + "\n")
        os.replace(tmp, cache_path)  # a reader never sees half a file
    return {s: cache["skills"][s] for s in skills}
