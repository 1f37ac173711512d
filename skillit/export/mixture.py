"""A run's mixture as a config a new run reads back: the per-round schedule, or its average.

A mixture found on a small model can then run unchanged on a large one:

    skillit mixture export runs/small            # writes runs/small/mixture_schedule.yaml, ...average.yaml
    skillit train big.yaml runs/small/mixture_schedule.yaml

Both files are ordinary config files (`mixing.strategy: manual` with `mixing.schedule` or
`mixing.weights`, and `skills.train` so the weights keep their skills' order). The average weighs
each round by its number of steps, or (`--average updates`, DoReMi's output) every mixture the
strategy produced equally. For a curriculum run the weights are the skill mix each round
drew, so the export repeats the mixture, not the order of the samples.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from skillit.errors import SkillitError
from skillit.run.directory import HISTORY_FILE
from skillit.run.plots import read_history
from skillit.utils.kill_points import kill_point
from skillit.utils.safe_paths import write_inside


def load_run_history(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / HISTORY_FILE
    if not path.is_file():
        raise SkillitError(f"{run_dir} has no {HISTORY_FILE}; is it a skillit run directory?")
    try:
        history = read_history(path)
    except ValueError as exc:
        raise SkillitError(f"{path} is not valid JSON lines: {exc}") from None
    if not history:
        raise SkillitError(f"{path} holds no finished round yet")
    check_history(history, path)
    return history


MAX_STEP = 2**63 - 1  # a step count past int64 is no run's (and overflows the averages)


def check_history(history: list[dict], path: Path) -> None:
    """Every line a round (numbered from 1, one line each) with its end step (increasing, > 0)
    and a mixture over the same skills as the first line (finite, >= 0, not all 0; so is its
    next_weights where it has one); else an error naming the line."""
    first = history[0].get("weights") if isinstance(history[0], dict) else None
    skills = list(first) if isinstance(first, dict) and first else None
    last_step = 0
    for n, row in enumerate(history, start=1):
        where = f"{path}:{n}"
        if not isinstance(row, dict):
            raise SkillitError(f"{where}: a line must be a JSON object (one round), got {row!r}")
        check_mixture(row.get("weights"), skills, f"{where}: 'weights'")
        if row.get("next_weights") is not None:
            check_mixture(row["next_weights"], skills, f"{where}: 'next_weights'")
        if not _is_int(row.get("round")) or row["round"] != n:
            raise SkillitError(
                f"{where}: 'round' must be {n} (one line per round, numbered from 1), got "
                f"{row.get('round')!r}"
            )
        step = row.get("step")
        if not _is_int(step) or not last_step < step <= MAX_STEP:
            raise SkillitError(
                f"{where}: 'step' must be an integer above the line before's ({last_step}) "
                f"and below 2**63, got {step!r}"
            )
        last_step = step


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_mixture(weights, skills: list[str] | None, what: str) -> None:
    """`weights` maps exactly `skills` to finite numbers >= 0 with a finite, positive sum (a
    mixture that can be normalised); else an error starting with `what`."""
    if not isinstance(weights, dict) or skills is None or list(weights) != skills:
        raise SkillitError(f"{what} must map the run's skills {skills} to numbers, got {weights!r}")
    values = list(weights.values())
    try:
        finite = all(_is_number(v) and math.isfinite(v) and v >= 0 for v in values)
    except OverflowError:  # an integer past any float
        finite = False
    if not finite:
        raise SkillitError(f"{what} must be finite numbers >= 0, got {values}")
    total = sum(float(v) for v in values)  # inf where the sum overflows
    if not (math.isfinite(total) and total > 0):
        raise SkillitError(f"{what} must add up to a finite number above 0, got {values}")


def schedule_of(history: list[dict]) -> tuple[list[str], list[tuple[int, list[float]]]]:
    """(training skills, [(start_round, weights)]) with consecutive equal mixtures merged."""
    skills = list(history[0]["weights"])
    entries: list[tuple[int, list[float]]] = []
    for row in history:
        weights = [float(row["weights"][s]) for s in skills]
        if not entries or entries[-1][1] != weights:
            entries.append((int(row["round"]), weights))
    return skills, entries


AVERAGES = ("steps", "updates")


def average_of(history: list[dict], by: str = "steps") -> tuple[list[str], list[float]]:
    """The mixture averaged over the run.

    `by="steps"`: each round weighted by its number of steps (the mixture the run trained on).
    `by="updates"`: the equal-weight mean of every round's mixture and the last round's next one
    (for DoReMi: the running mean of its weights w_1..w_{T+1}, its output). For a strategy that
    changes the mixture inside rounds (ODM, Aioli) a round's mixture is its blocks' average, so this
    is not a mean over its updates.
    """
    if by not in AVERAGES:
        raise SkillitError(f"--average must be one of {list(AVERAGES)}, got {by!r}")
    skills = list(history[0]["weights"])
    weights = np.array([[row["weights"][s] for s in skills] for row in history], dtype=np.float64)
    if by == "updates":
        last = history[-1].get("next_weights")
        if last is None:
            raise SkillitError("the history's last round has no next_weights to average over")
        weights = np.vstack([weights, [float(last[s]) for s in skills]])
    # each mixture as proportions first: a row of any positive scale neither overflows nor
    # outweighs the others
    weights /= weights.sum(axis=1, keepdims=True)
    if by == "updates":
        mean = weights.mean(axis=0)
    else:
        ends = np.array([row["step"] for row in history], dtype=np.float64)
        lengths = np.diff(np.concatenate([[0.0], ends]))
        mean = (lengths[:, None] * weights).sum(axis=0) / lengths.sum()
    return skills, (mean / mean.sum()).tolist()


def proportions(weights: list[float]) -> list[float]:
    """A mixture over the same skills that adds up to 1 (an engine multiplies a weight by a
    shard's tokens: a weight near the float limit would overflow)."""
    total = sum(weights)
    return [w / total for w in weights]


def stage_starts(history: list[dict], entries: list[tuple[int, list[float]]]) -> list[int]:
    """The first training step (from 1) of each schedule entry's start round."""
    ends = {int(row["round"]): int(row["step"]) for row in history}
    return [1 if r == 1 else ends[r - 1] + 1 for r, _ in entries]


def engine_data_domains(cfg, data: Path, data_format: str) -> tuple[dict, dict]:
    """(train, valid) domains of the engine data in `data` (written by `skillit corpus export
    --format data_format`), made from the run's own corpus."""
    from skillit.corpus.engine_data import read_engine_data
    from skillit.corpus.shards import MANIFEST, file_sha256
    from skillit.export.engines import engine_domains, run_corpus

    record = read_engine_data(data, data_format)
    manifest = run_corpus(cfg) / MANIFEST
    if manifest.is_file() and record.get("corpus_manifest_sha256") != file_sha256(manifest):
        raise SkillitError(
            f"--data {data} was written from another corpus ({record.get('corpus')}) than the "
            f"run's ({manifest.parent}); export the run's corpus again"
        )
    return engine_domains(record, "train"), engine_domains(record, "val")


def rescaled(starts: list[int], run_steps: int, engine_steps: int | None) -> list[int]:
    """Stage starts (from 1) moved from a run of `run_steps` to one of `engine_steps`, each at
    the same fraction of training."""
    if not engine_steps:
        return starts
    moved = [1 + (s - 1) * engine_steps // run_steps for s in starts]
    if any(b <= a for a, b in zip(moved, moved[1:])):
        raise SkillitError(
            f"--engine-steps {engine_steps} is too short for the run's {len(starts)} stages"
        )
    return moved


def export_engine(
    run_dir: Path,
    out_dir: Path,
    fmt: str,
    average: str,
    data: Path | None = None,
    engine_steps: int | None = None,
) -> Path:
    """The run's mixture in an engine's own file (skillit.export.engines); `data`: the engine's
    own copy of the corpus (`skillit corpus export`), which the file then points at;
    `engine_steps`: the engine run's length, stages rescaled to it."""
    from skillit.config import load_config
    from skillit.export.engines import (
        ENGINE_FORMATS,
        EngineMixture,
        corpus_domains,
        write_engine,
    )
    from skillit.run.directory import CONFIG_FILE

    config = run_dir / CONFIG_FILE
    if not config.is_file():
        raise SkillitError(f"{run_dir} has no {CONFIG_FILE}: the corpus of the run is unknown")
    cfg = load_config([config])
    domains, dtype = corpus_domains(cfg)
    valid = None
    data_format = ENGINE_FORMATS[fmt].data
    if data is not None and data_format is None:
        raise SkillitError(f"--format {fmt} reads skillit's shards as they are: drop --data")
    if data is not None:
        domains, valid = engine_data_domains(cfg, Path(data), data_format)
    if engine_steps is not None and engine_steps < 1:
        raise SkillitError(f"--engine-steps must be at least 1, got {engine_steps}")
    history = load_run_history(run_dir)
    skills, entries = schedule_of(history)
    _, mean = average_of(history, average)
    starts = rescaled(stage_starts(history, entries), cfg.trainer.max_steps, engine_steps)
    tokens_per_step = cfg.data.global_batch_size * cfg.model.max_seq_len
    mix = EngineMixture(
        skills=skills,
        average=mean,
        stages=[(s, proportions(w)) for s, (_, w) in zip(starts, entries)],
        domains=domains,
        total_tokens=cfg.trainer.max_steps * tokens_per_step,
        tokens_per_step=tokens_per_step,
        dtype=dtype,
        valid=valid,
        engine_steps=engine_steps,
        **corpus_tokens(cfg),
    )
    return write_engine(fmt, mix, out_dir)


def corpus_tokens(cfg) -> dict:
    """The corpus's vocabulary and end-of-document id, and the run's window."""
    from skillit.corpus.shards import read_manifest
    from skillit.export.engines import run_corpus

    manifest = read_manifest(run_corpus(cfg))
    return {
        "vocab_size": manifest.vocab_size,
        "eos_id": manifest.eos_id,
        "sequence_length": cfg.model.max_seq_len,
    }


def export_mixture(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    average: str = "steps",
    fmt: str = "skillit",
    data: str | Path | None = None,
    engine_steps: int | None = None,
) -> dict[str, Path]:
    """Write mixture_schedule.yaml and mixture_average.yaml (averaged `by` steps or updates, see
    :func:`average_of`), or with `fmt` an engine's file (skillit.export.engines); returns the
    paths written."""
    from skillit.export.engines import FORMATS

    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir
    if fmt not in FORMATS:
        raise SkillitError(f"--format must be one of {list(FORMATS)}, got {fmt!r}")
    if fmt != "skillit":
        return {fmt: export_engine(run_dir, out_dir, fmt, average, data, engine_steps)}
    history = load_run_history(run_dir)
    skills, entries = schedule_of(history)
    _, mean = average_of(history, average)
    note = f"# exported from {run_dir} ({len(history)} rounds) by `skillit mixture export`\n"
    schedule = {
        "skills": {"train": skills},
        "mixing": {
            "strategy": "manual",
            "rounds": len(history),
            "schedule": [{"start_round": r, "weights": w} for r, w in entries],
        },
    }
    average = {"skills": {"train": skills}, "mixing": {"strategy": "manual", "weights": mean}}
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "schedule": out_dir / "mixture_schedule.yaml",
        "average": out_dir / "mixture_average.yaml",
    }
    write_inside(out_dir, paths["schedule"].name, note + OmegaConf.to_yaml(schedule))
    kill_point("export.schedule")
    write_inside(out_dir, paths["average"].name, note + OmegaConf.to_yaml(average))
    return paths
