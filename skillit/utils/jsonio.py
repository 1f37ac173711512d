"""JSON the project writes is always valid JSON: a non-finite number becomes null."""

from __future__ import annotations

import json
import math
from typing import Any


def finite_or_none(value: Any) -> Any:
    """`value` with every NaN or infinity (at any depth of dicts, lists, tuples) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """json.dumps that refuses NaN (after turning non-finite numbers into null)."""
    try:  # the common case, all finite, at C speed (a walk in Python costs ~0.3 s a MiB)
        return json.dumps(value, allow_nan=False, **kwargs)
    except ValueError:
        return json.dumps(finite_or_none(value), allow_nan=False, **kwargs)


def loads(text: str | bytes, where: object) -> Any:
    """json.loads of a file's text (or one line) that `where` names; nesting deeper than Python
    can decode is a SkillitError naming it instead of a RecursionError (other faults raise as
    json.loads does, for the caller's own message)."""
    try:
        return json.loads(text)
    except RecursionError:
        from skillit.errors import SkillitError

        raise SkillitError(
            f"{where}: JSON nested too deeply to read (arrays or objects inside each other "
            "beyond Python's recursion limit); this is not a file skillit reads"
        ) from None
