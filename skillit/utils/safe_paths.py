"""Names that become paths, and deletes confined to the folder they belong to.

A run's `name`, a corpus domain's name and the like become one component of a path skillit
writes: :func:`check_name` refuses separators, `.`/`..` and the names skillit itself uses there.
Every delete of a file or folder skillit did not just create goes through :func:`remove_inside`,
which refuses anything that is not strictly inside the run or corpus folder it belongs to.
"""

from __future__ import annotations

import shutil
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
