"""Names that become paths, and the two rules for what skillit may delete and write.

A run's `name`, a corpus domain's name and the like become one component of a path skillit
writes: :func:`check_name` refuses separators, `.`/`..` and the names skillit itself uses there.

Deletes: a folder skillit writes into (a run, a prepared corpus, a graph-learning folder) keeps
`.skillit-owned.json`, the top-level names skillit created there, recorded before it creates them
(:func:`claim_names`, and every :func:`write_inside` / :func:`append_inside` of a top-level file).
--overwrite, --fresh and a restarted bench run delete through :func:`remove_owned` only: while
the folder's lock is held, only recorded names, refusing (and listing) anything else first.
:func:`remove_inside` under it unlinks a symbolic link itself, never what it points to.

Writes: :func:`write_inside` and :func:`append_inside` refuse a name that is a symbolic link or
whose folder leads out of the root through one; a write is a temporary file renamed onto the name,
an append opens the name without following a link.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

from skillit.errors import SkillitError


def check_name(name: str, key: str, reserved: Iterable[str] = ()) -> str:
    """`name` if it is a safe single path component; else a SkillitError naming `key`."""
    bad = (
        not name
        or name in (".", "..")
        or any(c in name for c in "/\\")
        or any(ord(c) < 32 for c in name)
        or len(name) > 128
    )
    if bad:
        raise SkillitError(
            f"{key} {name!r} is not a valid name: it becomes a file or folder name, so it must "
            "be one path component (no '/', '\\\\', '.' or '..', at most 128 characters)"
        )
    taken = {r.lower() for r in reserved}
    if name.lower() in taken:
        raise SkillitError(f"{key} {name!r} is reserved here; names skillit uses: {sorted(taken)}")
    return name


def remove_inside(root: str | Path, target: str | Path) -> None:
    """Delete `target` (a file, a link or a folder; missing is fine) if it lies strictly inside
    `root`, symbolic links resolved on the way there; else refuse."""
    root = Path(root).resolve()
    target = Path(target)
    where = target.parent.resolve() / target.name
    if target.name in ("", ".", "..") or where == root or not where.is_relative_to(root):
        raise SkillitError(f"refusing to delete {target}: it is not inside {root}")
    if where.is_symlink() or where.is_file():
        where.unlink(missing_ok=True)
    elif where.is_dir():
        shutil.rmtree(where)


# -- what skillit may delete: only the names it recorded creating in the folder ------------------
OWNED_FILE = ".skillit-owned.json"


def owned_names(root: str | Path) -> set[str] | None:
    """The top-level names root's record lists; None where it keeps none (a folder skillit never
    wrote, or wrote before it kept one) or the record is a link or unreadable."""
    path = Path(root) / OWNED_FILE
    if path.is_symlink() or not path.is_file():
        return None
    try:
        names = json.loads(path.read_text()).get("entries")
    except (OSError, ValueError, AttributeError):
        return None
    return {n for n in names if isinstance(n, str)} if isinstance(names, list) else None


def claim_names(root: str | Path, names: Iterable[str]) -> None:
    """Record `names` as skillit's in `root` before skillit creates them (the record is made on
    first use). A name already on disk that the record does not list is someone else's: it stays
    unrecorded, so nothing skillit does deletes it."""
    root = Path(root)
    known = owned_names(root)
    new = {n for n in names if n not in (known or ()) and not os.path.lexists(root / n)}
    if new or known is None:
        _write_record(root, (known or set()) | new)


def remove_owned(
    root: str | Path, names: Iterable[str] | None = None, *, why: str, lock: str
) -> None:
    """Delete the top-level `names` of `root` (None: all but the lock, the record last), each only
    if root's record lists it, and only while this process holds root's `lock`. Anything else
    among them refuses the whole delete, listing it, before anything goes."""
    root = Path(root)
    lock_path = root / lock
    if not _held_here(lock_path):
        raise SkillitError(f"{why}: refusing to delete in {root} without holding {lock_path}")
    if names is None:
        present = sorted(p.name for p in root.iterdir() if p.name not in (OWNED_FILE, lock))
    else:
        present = sorted(n for n in set(names) if os.path.lexists(root / n))
    recorded = owned_names(root)
    foreign = [n for n in present if not _is_recorded(n, recorded or set())]
    if foreign:
        raise SkillitError(_refusal(root, why, foreign, recorded is None))
    for name in present:
        remove_inside(root, root / name)
    if names is None:  # emptied of all it recorded: the record goes last
        remove_inside(root, root / OWNED_FILE)


def _is_recorded(name: str, recorded: set[str]) -> bool:
    """A recorded name, or a temporary file left beside one (or beside the record itself) by a
    kill: `.NAME.<...>.tmp<...>`."""
    if name in recorded:
        return True
    return ".tmp" in name and any(name.startswith(f".{r}.") for r in {*recorded, OWNED_FILE})


def _refusal(root: Path, why: str, foreign: list[str], unrecorded: bool) -> str:
    shown = ", ".join(foreign[:8]) + (f" and {len(foreign) - 8} more" if len(foreign) > 8 else "")
    whose = (
        f"there is no {OWNED_FILE}: another tool's folder, or one from before skillit kept it"
        if unrecorded
        else f"its {OWNED_FILE} does not list them"
    )
    return (
        f"{why} would have removed {shown} in {root}, which skillit did not record creating "
        f"({whose}); it deletes only what it recorded, so nothing was deleted: delete them "
        "yourself if they should go, or choose another folder"
    )


def _held_here(lock: Path) -> bool:
    """Whether the lock file names this process as its holder (skillit.run.directory.RunLock)."""
    try:
        fields = lock.read_text().split()
    except OSError:
        return False
    return bool(fields) and fields[0] == str(os.getpid())


def _write_record(root: Path, names: set[str]) -> None:
    about = "top-level names skillit created here: --overwrite / --fresh delete only these"
    text = json.dumps({"about": about, "entries": sorted(names)}, indent=1) + "\n"
    _replace_whole(inside_for_writing(root, OWNED_FILE), text.encode())


def _record_written(root: Path, relative: Path) -> None:
    """A top-level file skillit wrote into a folder that keeps a record becomes recorded."""
    known = owned_names(root)
    if known is not None and len(relative.parts) == 1 and relative.name not in known:
        _write_record(root, known | {relative.name})


# -- what skillit may write: inside the folder, never through a link ------------------------------
def inside_for_writing(root: str | Path, relative: str | Path) -> Path:
    """root/relative, checked for a write: refused where it is a symbolic link, or where its
    folder leads out of `root` through one (or `relative` climbs out with `..`)."""
    relative = Path(relative)
    shown = Path(root) / relative
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise SkillitError(f"refusing to write {shown}: it is not a name inside {root}")
    target = Path(root).resolve() / relative
    if target.is_symlink():
        raise SkillitError(
            f"refusing to write {shown}: it is a symbolic link (to {os.readlink(target)}); skillit "
            "writes its own files only inside its folder: remove the link and run again"
        )
    if not target.parent.resolve().is_relative_to(Path(root).resolve()):
        raise SkillitError(
            f"refusing to write {shown}: its folder {shown.parent} is a symbolic link leading out "
            f"of {root}; remove the link (skillit writes only inside its folder)"
        )
    return target


def write_inside(root: str | Path, relative: str | Path, data: str | bytes) -> Path:
    """Write `data` whole to root/relative (checked by :func:`inside_for_writing`): a temporary
    file in the same folder, renamed onto the name. Returns the path as `root` spells it."""
    target = inside_for_writing(root, relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    _replace_whole(target, data.encode() if isinstance(data, str) else data)
    _record_written(Path(root), Path(relative))
    return Path(root) / relative


def append_inside(root: str | Path, relative: str | Path, text: str) -> Path:
    """Append `text` to root/relative (checked by :func:`inside_for_writing`), opened without
    following a link: one planted after the check is refused too."""
    target = inside_for_writing(root, relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
    try:
        fd = os.open(target, flags, 0o666)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise SkillitError(
            f"refusing to append to {Path(root) / relative}: it is a symbolic link; remove it"
        ) from None
    with os.fdopen(fd, "a") as fh:
        fh.write(text)
    _record_written(Path(root), Path(relative))
    return Path(root) / relative


def _replace_whole(target: Path, data: bytes) -> None:
    """A new file beside `target` (never an existing one: no link is followed), renamed onto it;
    a kill leaves the old file or the new one."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """A matplotlib figure as a PNG at `path`, rendered in memory and written by
    :func:`write_inside` (whole, never through a link planted at the name or a temporary one)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    path = Path(path)
    return write_inside(path.parent, path.name, buffer.getvalue())
