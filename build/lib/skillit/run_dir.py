"""Where a run writes: choosing its directory, and finding a stopped run's checkpoint and config.

A DDP launch re-runs the command line in child processes; they must write into the directory the
launching process chose, which the command layer passes to them in SKILLIT_RUN_DIR.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from skillit.config import RunConfig, load_config
from skillit.errors import SkillitError

RUN_DIR_ENV = "SKILLIT_RUN_DIR"
CONFIG_FILE = "config.yaml"
CHECKPOINT = Path("checkpoints") / "last.ckpt"


def is_launcher_process() -> bool:
    """True in the process a user started (not a DDP child re-launched by Lightning)."""
    return (
        int(os.environ.get("LOCAL_RANK", "0")) == 0 and int(os.environ.get("NODE_RANK", "0")) == 0
    )


def resolve_run_dir(cfg: RunConfig) -> Path:
    """The run's directory (created): the launcher's in a DDP child, else run_dir or a new one."""
    if not is_launcher_process() and os.environ.get(RUN_DIR_ENV):
        return Path(os.environ[RUN_DIR_ENV])
    if cfg.run_dir:
        path = Path(cfg.run_dir)
    else:
        path = Path("runs") / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def resolve_resume(resume: str | Path) -> tuple[Path, Path]:
    """A checkpoint path or a run directory -> (checkpoint, run_dir)."""
    path = Path(resume)
    if path.is_dir():
        ckpt = path / CHECKPOINT
        run_dir = path
    else:
        ckpt = path
        run_dir = path.parent.parent
    if not ckpt.is_file():
        raise SkillitError(
            f"--resume: no checkpoint at {ckpt} (give a run directory or a .ckpt file)"
        )
    if not (run_dir / CONFIG_FILE).is_file():
        raise SkillitError(
            f"--resume: {run_dir} has no {CONFIG_FILE}; is it a skillit run directory?"
        )
    return ckpt, run_dir


def load_run_config(
    files: Sequence[str], overrides: Sequence[str], resume: str | None
) -> tuple[RunConfig, Path | None]:
    """The config of a new run, or of a resumed one (its saved config, then the overrides)."""
    if resume:
        ckpt, run_dir = resolve_resume(resume)
        cfg = load_config([run_dir / CONFIG_FILE, *files], [*overrides, f"run_dir={run_dir}"])
        return cfg, ckpt
    if not files and not overrides:
        raise SkillitError(
            "give a config file (e.g. configs/experiment/lego.yaml), key=value overrides, "
            "or --resume RUN_DIR"
        )
    return load_config(files, overrides), None
