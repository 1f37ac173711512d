"""Named moments between the writes of a command, where a test can kill the process for real.

With ``SKILLIT_KILL_AT=NAME`` (or ``NAME:N``, its N-th hit in this process, counted from 1) the
process sends itself SIGKILL on reaching that point: nothing is flushed and no handler runs, as
under `kill -9` or the out-of-memory killer. tests/test_kill_points.py kills at every point in turn and checks that
the same command run again (a training run: resumed) ends with the files of a run never killed.

Unset, a point costs a dictionary lookup and a comparison: the variable is read once a process.
Points hit in worker processes (prepare --workers, graph learn --jobs) kill the worker only.
"""

from __future__ import annotations

import os
import signal

from skillit.errors import SkillitError

ENV = "SKILLIT_KILL_AT"

# name -> what is on disk when a kill lands there; grouped by the command they belong to
KILL_POINTS: dict[str, str] = {
    "prepare.tokenizer": "tokenizer.json written (trained or copied), no shard yet",
    "prepare.shards": "a chunk's train and val shards renamed into place, its sidecar not written",
    "prepare.sidecar": "a chunk's sidecar written (the chunk complete), the manifest not yet",
    "graph.probe": "a probe's result written to probes/, the next probe not begun",
    "graph.graph_json": "graph.json written, graph.npy, summary.json and the heatmap not yet",
    "train.eval_line": "an evaluation appended to eval_history.jsonl, its round not recorded",
    "train.history_line": "a round appended to mixture_history.jsonl, its checkpoint not saved",
    "train.previous_linked": "previous.ckpt a second name of last.ckpt, the new one not written",
    "train.checkpoint_written": "the new checkpoint whole under its temporary name, not renamed",
    "train.checkpoint_saved": "last.ckpt replaced by the new checkpoint, training not yet on",
    "train.final_eval": "training done (the last checkpoint on disk), final_eval.json not written",
    "export.schedule": "mixture_schedule.yaml written, mixture_average.yaml not yet",
}

_UNREAD = ("", 0)
_target: tuple[str, int] | None = _UNREAD  # (name, which hit) from ENV; None: unset
_hits = 0


def arm_from_environment() -> tuple[str, int] | None:
    """(Re)read ENV: done on the first point reached; call it again in a child forked after its
    parent read the variable. Returns (name, which hit), or None when unset."""
    global _target, _hits
    raw = os.environ.get(ENV, "").strip()
    _hits = 0
    if not raw:
        _target = None
        return None
    name, _, nth = raw.partition(":")
    if name not in KILL_POINTS or (nth and (not nth.isdigit() or int(nth) < 1)):
        raise SkillitError(
            f"{ENV}={raw!r} is not NAME or NAME:N (N >= 1) of a kill point; the points: "
            + ", ".join(KILL_POINTS)
        )
    _target = (name, int(nth or 1))
    return _target


def kill_point(name: str) -> None:
    """SIGKILL this process if ENV names this point (and this is the hit it counts to)."""
    global _hits
    if name not in KILL_POINTS:  # a point the registry does not list would go untested
        raise ValueError(f"{name!r} is not in KILL_POINTS")
    target = arm_from_environment() if _target is _UNREAD else _target
    if target is None or target[0] != name:
        return
    _hits += 1
    if _hits == target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
