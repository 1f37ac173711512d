"""The files a run's config names, fingerprinted when the run starts and checked on resume.

A resume continues a run exactly as it started only if the graph, tokenizer, corpus manifest or
reference checkpoint it reads are the files it started with: the config check compares keys, and
an edited graph under the same path would silently move the run off its trajectory. Every string
value of the config that names an existing file is hashed (a folder by its corpus `manifest.json`,
when it has one); `inputs.json` in the run directory keeps the hashes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from omegaconf import OmegaConf

from skillit.config import RunConfig, flatten_keys
from skillit.errors import SkillitError
from skillit.utils import jsonio
from skillit.utils.safe_paths import write_inside

INPUTS_FILE = "inputs.json"
# keys whose paths are the run's own outputs or the machine's, not inputs to the trajectory
NOT_INPUTS = ("run_dir", "logger.", "trainer.", "name")
FOLDER_FINGERPRINT = "manifest.json"  # a prepared corpus's list of shards and their checksums
CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def named_inputs(cfg: RunConfig) -> dict[str, Path]:
    """{config key: the file it names} for every key whose value is an existing file, or a
    folder with a corpus manifest (then the manifest)."""
    flat = flatten_keys(OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True))
    found: dict[str, Path] = {}
    for key, value in sorted(flat.items()):
        if not isinstance(value, str) or not value or key.startswith(NOT_INPUTS):
            continue
        path = Path(value).expanduser()
        try:
            if path.is_file():
                found[key] = path
            elif (path / FOLDER_FINGERPRINT).is_file():
                found[key] = path / FOLDER_FINGERPRINT
        except OSError:  # a value that is not a usable path (too long, bad characters)
            continue
    return found


def fingerprint(cfg: RunConfig) -> dict[str, dict[str, str]]:
    """{key: {"path", "sha256"}} of the run's named inputs."""
    return {
        key: {"path": str(path.resolve()), "sha256": file_sha256(path)}
        for key, path in named_inputs(cfg).items()
    }


def write_inputs(run_dir: Path, cfg: RunConfig) -> None:
    write_inside(run_dir, INPUTS_FILE, json.dumps(fingerprint(cfg), indent=2) + "\n")


def changed_inputs(run_dir: Path) -> list[str]:
    """The recorded inputs whose file is now missing or different, as "key (path)" lines; []
    for a run from before inputs were recorded."""
    path = run_dir / INPUTS_FILE
    if not path.is_file():
        return []
    try:
        recorded = jsonio.loads(path.read_text(), path)
        entries = [(key, Path(e["path"]), e["sha256"]) for key, e in recorded.items()]
    except (ValueError, TypeError, KeyError, AttributeError):
        raise SkillitError(
            f"{path} is not the list of inputs skillit wrote (edited or damaged); restore it, "
            "or start the run again with --overwrite"
        ) from None
    changed = []
    for key, file, digest in entries:
        if not file.is_file():
            changed.append(f"{key} ({file}: missing)")
        elif file_sha256(file) != digest:
            changed.append(f"{key} ({file}: changed)")
    return changed


def check_inputs_unchanged(run_dir: Path, accept: bool) -> list[str]:
    """Refuse a resume whose input files changed since the run started, naming them; with
    `accept`, return them (the caller records them in resumes.jsonl)."""
    changed = changed_inputs(run_dir)
    if changed and not accept:
        raise SkillitError(
            f"--resume: files {run_dir} was started with have changed since: "
            f"{'; '.join(changed)}. A resume continues the run exactly as it started; restore "
            "them, start a new run, or pass --accept-changed-inputs to go on with the new files "
            "(recorded in resumes.jsonl)"
        )
    return changed
