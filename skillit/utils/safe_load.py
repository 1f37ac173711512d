"""Reading a checkpoint a user points us at: tensors and plain data only, never code.

A `.ckpt` is a pickle, and unpickling can run any code the file names. Every checkpoint skillit
reads (`--resume`, `model.init_from`, a reference model, `skillit eval`) goes through
:func:`load_weights_only`, which lets torch rebuild tensors and plain containers only and refuses
anything else with a message naming the file. Checkpoints skillit writes hold nothing else.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from skillit.errors import SkillitError


def load_weights_only(path: str | Path, key: str = "checkpoint") -> Any:
    """`torch.load(path, weights_only=True)` on the CPU; a file that needs more than tensors and
    plain data is refused (SkillitError naming `key`); other read errors propagate."""
    import torch

    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" not in str(exc).lower():
            raise
        raise SkillitError(
            f"{key}: {path} holds Python objects besides tensors and plain data; skillit loads "
            "weights only and refuses it, since unpickling it could run code. Use a checkpoint "
            "written by skillit, or re-save the weights as a plain state dict"
        ) from None
