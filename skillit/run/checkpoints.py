"""Round-end checkpoints written whole, with the previous round's kept until the new one is done.

Lightning's ModelCheckpoint writes `last.ckpt` in place (or stages it elsewhere and copies it), so
a kill or a full disk mid-write can leave a broken file as the only checkpoint. `RoundCheckpoint`
writes `checkpoints/.last.ckpt.tmp` beside it and renames the finished file onto `last.ckpt` (a
rename on one file system is atomic), so a complete `last.ckpt` is on disk at every moment; the
round before stays reachable as `previous.ckpt` (a hard link); `read_checkpoint` turns an unreadable file into a message that names it and
the fallback to resume from.
"""

from __future__ import annotations

import os
from pathlib import Path

import lightning as L

from skillit.errors import SkillitError
from skillit.run.directory import CHECKPOINT, CONFIG_FILE, CONFIG_STATE_KEY, PREVIOUS_CHECKPOINT
from skillit.utils.kill_points import kill_point
from skillit.utils.safe_load import load_weights_only
from skillit.utils.safe_paths import inside_for_writing


class RoundCheckpoint(L.Callback):
    """Save at every round end, and every `every` steps inside rounds (place it after the
    callbacks whose state it must hold).

    A step inside a round is saved after its batch, before any evaluation of that step: a step
    that evaluates (`eval_every`) is saved one step later instead, so a resume never has to
    replay half an evaluation.
    """

    def __init__(
        self, run_dir: str | Path, every: int | None = None, eval_every: int | None = None
    ) -> None:
        self.run_dir = Path(run_dir)
        self.last = Path(run_dir) / CHECKPOINT
        self.previous = Path(run_dir) / PREVIOUS_CHECKPOINT
        self.tmp = self.last.with_name(".last.ckpt.tmp")
        self.every = every
        self.eval_every = eval_every
        self._due = False
        self._config_text: str | None = None  # config.yaml as the run (re)started

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        config = self.last.parent.parent / CONFIG_FILE
        if trainer.is_global_zero and config.is_file():
            self._config_text = config.read_text()

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        if self._config_text is not None:  # a resume refuses an edited config.yaml by it
            checkpoint[CONFIG_STATE_KEY] = self._config_text

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if not self.every:
            return
        step = trainer.global_step
        self._due = self._due or step % self.every == 0
        last_of_round = batch_idx + 1 >= trainer.num_training_batches  # the round end saves
        evaluates = self.eval_every is not None and step % self.eval_every == 0
        if self._due and not last_of_round and not evaluates:
            self._save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._save(trainer)

    def _save(self, trainer: L.Trainer) -> None:
        self._due = False
        for path in (self.last, self.previous, self.tmp):  # on every rank: all or none go on
            # a link at these names, or a checkpoints/ link out of the run: nothing is deleted,
            # linked or replaced through it
            inside_for_writing(self.run_dir, path.relative_to(self.run_dir))
        if trainer.is_global_zero:
            self.last.parent.mkdir(parents=True, exist_ok=True)
            # previous.ckpt becomes a second name of the current last.ckpt (a hard link: no copy,
            # no window in which last.ckpt is missing); at most two checkpoints' worth of disk.
            self.previous.unlink(missing_ok=True)
            if self.last.exists():
                try:
                    os.link(self.last, self.previous)
                except OSError:  # a file system without hard links: no fallback copy
                    pass
            kill_point("train.previous_linked")
        try:
            trainer.save_checkpoint(str(self.tmp), weights_only=False)  # all ranks; rank 0 writes
        except BaseException as exc:
            if trainer.is_global_zero:
                self.tmp.unlink(missing_ok=True)  # never leave a partial file behind
            if isinstance(exc, OSError):
                kept = f"{self.last} (the round before) is kept" if self.last.exists() else ""
                raise SkillitError(
                    f"could not write the checkpoint of step {trainer.global_step} into "
                    f"{self.last.parent} ({exc.strerror or exc}); {kept}; free space and resume "
                    f"with: skillit train --resume {self.last.parent.parent}"
                ) from None
            raise
        if trainer.is_global_zero:
            kill_point("train.checkpoint_written")
            os.replace(self.tmp, self.last)  # atomic: the old or the new, never neither
            kill_point("train.checkpoint_saved")


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint's contents, or an error naming the file and the previous round's one."""
    path = Path(path)
    try:
        state = load_weights_only(path, "--resume")
    except SkillitError:
        raise
    except Exception as exc:  # truncated, empty or not a torch file at all
        previous = path.with_name(PREVIOUS_CHECKPOINT.name)
        fallback = (
            f"; the previous round's checkpoint may be intact: --resume {previous}"
            if previous.is_file() and previous != path
            else ""
        )
        raise SkillitError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'empty or truncated'}){fallback}"
        ) from None
    missing = sorted(RESUME_KEYS - set(state) if isinstance(state, dict) else RESUME_KEYS)
    if missing:
        raise SkillitError(
            f"checkpoint {path} is a torch file but not a skillit checkpoint (it has no "
            f"{', '.join(missing)}); give a run directory or its checkpoints/last.ckpt"
        )
    return state


# what Lightning reads back to continue a run: a weights-only file without them is not a run's
RESUME_KEYS = frozenset(
    {"state_dict", "global_step", "epoch", "loops", "optimizer_states", "pytorch-lightning_version"}
)
