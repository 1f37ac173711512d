"""Where a run writes: choosing its directory, guarding it, and resuming a stopped run.

- A new run refuses a directory that already holds files (another run's results are never
  overwritten silently): `--resume DIR` continues that run, `--overwrite` starts it again.
- While a run trains, `run.lock` holds its pid; a second writer is refused (a lock whose process
  is gone, e.g. after a SIGKILL, is taken over).
- A resume changes nothing on disk before its checkpoint has been read, and refuses overrides
  that would change the trajectory; the ones that cannot (logging, progress, plots, threads,
  devices, loader workers) are allowed and recorded in `resumes.jsonl`.

A DDP launch re-runs the command line in child processes; they must write into the directory the
launching process chose, which the command layer passes to them in SKILLIT_RUN_DIR.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from skillit.config import GRAPH_DIR, LEARNED_GRAPH, RunConfig, flatten_keys, load_config
from skillit.errors import SkillitError
from skillit.utils.safe_paths import OWNED_FILE, append_inside, remove_owned

RUN_DIR_ENV = "SKILLIT_RUN_DIR"
CONFIG_FILE = "config.yaml"
CHECKPOINT = Path("checkpoints") / "last.ckpt"
PREVIOUS_CHECKPOINT = Path("checkpoints") / "previous.ckpt"
LOCK_FILE = "run.lock"
RESUMES_FILE = "resumes.jsonl"
FINAL_FILE = "final_eval.json"
HISTORY_FILE = "mixture_history.jsonl"
EVAL_FILE = "eval_history.jsonl"  # every evaluation (round ends and mixing.eval_every), for curves
# Keys a resume may change: they change how a run is watched or run, not what it trains on.
RESUME_SAFE = (
    "run_dir",
    "logger.",
    "trainer.progress_bar",
    "trainer.log_every_n_steps",
    "trainer.threads",
    "trainer.devices",
    "trainer.accelerator",
    "trainer.strategy",
    "trainer.num_nodes",
    "trainer.checkpoint_every",
    "data.num_workers",
    "data.eval_batch_size",
    "mixing.plots",
)


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
        path = Path(cfg.run_dir).expanduser()
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path("runs") / f"{cfg.name}-{cfg.mixing.strategy}-{stamp}"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise SkillitError(f"run_dir={path} is a file, not a directory") from None
    except OSError as exc:
        raise SkillitError(f"run_dir={path} cannot be created: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise SkillitError(f"run_dir={path} is not writable; choose another run_dir")
    return path


# The first file a run writes, so that even a run killed in its first second is known as one.
RUN_MARKER = ".skillit-run"
# Runs from before that marker: config.yaml next to one of these.
RUN_MARKERS = ("tokenizer.json", "checkpoints", "mixture_history.jsonl", "eval_history.jsonl")
# The top-level names a run writes, recorded as skillit's when it starts: what --overwrite may
# delete (extra_eval.json: `skillit runs eval`; a top-level file written by write_inside, such as
# an export, is recorded when written).
RUN_LAYOUT = (
    RUN_MARKER,
    CONFIG_FILE,
    "tokenizer.json",
    "checkpoints",
    "csv",
    "wandb",
    "ranks",
    HISTORY_FILE,
    EVAL_FILE,
    FINAL_FILE,
    RESUMES_FILE,
    "inputs.json",  # skillit.run.inputs
    GRAPH_DIR,  # mixing.graph.learn (skillit.graphlearn.in_run)
    "mixture.png",
    "eval_loss.png",
    "eval_acc.png",
    "extra_eval.json",
)


def holds_a_run(path: Path) -> bool:
    if (path / RUN_MARKER).is_file():
        return True
    return (path / CONFIG_FILE).is_file() and any((path / m).exists() for m in RUN_MARKERS)


def claim_fresh_run_dir(path: Path, overwrite: bool) -> None:
    """Refuse a directory that holds files, unless it holds a skillit run and `overwrite` (then
    empty it first, of what the run recorded writing only). A directory of other files is never
    emptied."""
    ignored = (LOCK_FILE, OWNED_FILE)  # a run killed right after its record is still empty
    entries = [p for p in path.iterdir() if p.name not in ignored] if path.is_dir() else []
    if not entries:
        return
    is_run = holds_a_run(path)
    if not overwrite or not is_run:
        listing = ", ".join(sorted(p.name for p in entries)[:8]) + (
            f" and {len(entries) - 8} more" if len(entries) > 8 else ""
        )
        what = (
            "a run" if is_run else f"{len(entries)} file(s) that are not a skillit run ({listing})"
        )
        how = (
            f"continue it with `skillit train --resume {path}`, start it again with --overwrite, "
            "or choose another run_dir"
            if is_run
            else "--overwrite empties only a skillit run's directory; choose another run_dir"
        )
        raise SkillitError(f"run_dir={path} already holds {what}; {how}")
    with RunLock(path):  # a no-op where the caller holds it already
        remove_owned(path, why="--overwrite", lock=LOCK_FILE)


MAX_PID = 2**22  # Linux's largest pid_max


class RunLock:
    """`run.lock` with the writer's pid and start time, for as long as the run writes into its
    directory. Taking it again in the process that holds it is a no-op (the command layer holds
    it around a resume's checks and the training)."""

    def __init__(self, run_dir: Path, name: str = LOCK_FILE) -> None:
        self.path = Path(run_dir) / name
        self.held = False

    def __enter__(self) -> RunLock:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if self.path.is_symlink() or not self.path.is_file():
                    raise SkillitError(
                        f"{self.path} is not a lock file skillit wrote (a folder or a link); "
                        "remove it if no skillit process is writing there"
                    ) from None
                holder = self._holder()
                if holder is not None and holder[0] == os.getpid() and _alive(*holder):
                    return self  # this process holds it already
                if holder is not None and _alive(*holder):
                    raise SkillitError(
                        f"{self.path.parent} is being written by another skillit process (pid "
                        f"{holder[0]}); wait for it to finish, or choose another folder (if no "
                        f"skillit process is writing there, remove {self.path})"
                    ) from None
                self.path.unlink(missing_ok=True)  # its writer is gone (killed): take it over
                continue
            except OSError as exc:  # no such folder, a file in its place, no permission
                raise SkillitError(
                    f"cannot create the lock {self.path}: {exc.strerror}; {self.path.parent} "
                    "must be a folder skillit may write"
                ) from None
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{os.getpid()} {_start_time(os.getpid()) or ''}\n")
            self.held = True
            return self
        raise SkillitError(f"could not take the lock {self.path}")

    def __exit__(self, *exc) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def _holder(self) -> tuple[int, str | None] | None:
        """(pid, start time) of the lock's writer; None for an unreadable lock."""
        try:
            fields = self.path.read_text().split()
            pid = int(fields[0]) if fields else 0
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        # a pid the kernel cannot have is not a writer (and would overflow os.kill)
        valid = 0 < pid <= MAX_PID
        return (pid, fields[1] if len(fields) > 1 else None) if valid else None


def lock_is_held(path: Path) -> bool:
    """Whether a live process holds the lock file `path` (a stale or unreadable lock is not)."""
    if not path.is_file():
        return False
    holder = RunLock(path.parent, path.name)._holder()
    return holder is not None and _alive(*holder)


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), so that a pid the system
    reused for another process does not count as the lock's writer; None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name before ")" may hold spaces


def _alive(pid: int, started: str | None = None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return started is None or _start_time(pid) in (None, started)


def graph_learning_unfinished(run_dir: Path) -> bool:
    """A run stopped while it learned its graph (mixing.graph.learn): probes begun, no graph, no
    checkpoint: a resume goes on learning (the finished probes are kept), then trains."""
    return (
        (run_dir / GRAPH_DIR).is_dir()
        and not (run_dir / LEARNED_GRAPH).is_file()
        and not (run_dir / CHECKPOINT).is_file()
        and (run_dir / CONFIG_FILE).is_file()
    )


def resolve_resume(resume: str | Path) -> tuple[Path | None, Path]:
    """A checkpoint path or a run directory -> (checkpoint, run_dir); the checkpoint is None for
    a run stopped while it learned its graph."""
    path = Path(resume)
    if path.is_dir():
        ckpt = path / CHECKPOINT
        run_dir = path
    else:
        ckpt = path
        run_dir = path.parent.parent
    if not ckpt.is_file() and path.is_dir() and graph_learning_unfinished(run_dir):
        return None, run_dir  # stopped while learning its graph: nothing trained yet
    if not ckpt.is_file():
        fallback = run_dir / PREVIOUS_CHECKPOINT
        hint = (
            f"; the previous round's checkpoint is there: --resume {fallback}"
            if fallback.is_file() and fallback != ckpt
            else " (give a run directory or a .ckpt file)"
        )
        raise SkillitError(f"--resume: no checkpoint at {ckpt}{hint}")
    if not (run_dir / CONFIG_FILE).is_file():
        raise SkillitError(
            f"--resume: {run_dir} has no {CONFIG_FILE}; is it a skillit run directory?"
        )
    return ckpt, run_dir


def _flat(cfg: RunConfig) -> dict[str, object]:
    return flatten_keys(OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True))


def changed_keys(before: RunConfig, after: RunConfig) -> list[str]:
    a, b = _flat(before), _flat(after)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def is_resume_safe(key: str) -> bool:
    return any(key == s or (s.endswith(".") and key.startswith(s)) for s in RESUME_SAFE)


@dataclass
class Resume:
    cfg: RunConfig
    checkpoint: Path | None  # None: stopped while learning its graph, before any training
    run_dir: Path
    changed: list[str]  # resume-safe keys the overrides changed (recorded in resumes.jsonl)
    finished_step: int | None  # the run had already finished at this step


def plan_resume(resume: str, files: Sequence[str], overrides: Sequence[str]) -> Resume:
    """The config of a resumed run: its saved config, then the (resume-safe) overrides."""
    ckpt, run_dir = resolve_resume(resume)
    saved = load_config([run_dir / CONFIG_FILE], [f"run_dir={run_dir}"])
    cfg = load_config([run_dir / CONFIG_FILE, *files], [*overrides, f"run_dir={run_dir}"])
    changed = changed_keys(saved, cfg)
    refused = [k for k in changed if not is_resume_safe(k)]
    if refused:
        grow = refused == ["trainer.max_steps"] and cfg.trainer.max_steps > saved.trainer.max_steps
        how = (
            "a run's rounds are fixed by its step budget, so it cannot be extended; train a "
            f"follow-on run from its weights with model.init_from={run_dir / CHECKPOINT}"
            if grow
            else "start a new run for that (model.init_from= a checkpoint keeps the weights)"
        )
        raise SkillitError(
            f"--resume continues {run_dir} exactly as it started, but the overrides change "
            f"{', '.join(refused)} (from {run_dir / CONFIG_FILE}); {how}"
        )
    finished = None
    final = run_dir / FINAL_FILE
    if final.is_file():
        try:
            step = int(json.loads(final.read_text())["global_step"])
        except (ValueError, KeyError, TypeError):
            step = None
        if step is not None and step >= cfg.trainer.max_steps:
            finished = step
    return Resume(cfg, ckpt, run_dir, [k for k in changed if k != "run_dir"], finished)


CONFIG_STATE_KEY = "skillit_config"  # the run's config.yaml as it started, in every checkpoint


def check_config_unedited(run_dir: Path, checkpoint: dict) -> None:
    """Refuse a resume whose config.yaml differs from the one its checkpoint was trained with
    (keys a resume may change aside), naming the keys."""
    started = checkpoint.get(CONFIG_STATE_KEY)
    path = run_dir / CONFIG_FILE
    now = path.read_text()
    if not isinstance(started, str) or started == now:
        return  # a checkpoint from before the config was stored, or no edit

    def flat(text: str, what: str) -> dict[str, object]:
        try:
            return flatten_keys(OmegaConf.to_container(OmegaConf.create(text)))
        except Exception as exc:
            raise SkillitError(f"{what} is not valid YAML ({type(exc).__name__})") from None

    a, b = flat(started, "the checkpoint's copy of the config"), flat(now, str(path))
    changed = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    refused = [k for k in changed if not is_resume_safe(k)]
    if refused:
        detail = ", ".join(f"{k} ({a.get(k)!r} -> {b.get(k)!r})" for k in refused[:6])
        more = f" and {len(refused) - 6} more" if len(refused) > 6 else ""
        raise SkillitError(
            f"{path} was edited since the run started: {detail}{more}; a resume continues the "
            "run exactly as it started, so restore those values, or start a new run with them "
            "(model.init_from= a checkpoint keeps the weights)"
        )


def record_resume(
    run_dir: Path,
    cfg: RunConfig,
    changed: list[str],
    checkpoint: Path,
    changed_inputs: Sequence[str] = (),
) -> None:
    """One line per resume: when, from which checkpoint, the safe overrides it applied and the
    changed input files it was told to accept (--accept-changed-inputs)."""
    flat = _flat(cfg)
    line = {
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "checkpoint": str(checkpoint),
        "changed": {k: flat.get(k) for k in changed},
    }
    if changed_inputs:
        line["accepted_changed_inputs"] = list(changed_inputs)
    append_inside(run_dir, RESUMES_FILE, json.dumps(line) + "\n")  # never through a link


def load_run_config(files: Sequence[str], overrides: Sequence[str]) -> RunConfig:
    """The config of a new run."""
    if not files and not overrides:
        raise SkillitError(
            "give a config file or a shipped experiment (e.g. `skillit train ordered`), key=value "
            "overrides, or --resume RUN_DIR"
        )
    return load_config(files, overrides)
