"""`skillit generate {lego,addition,compose}`: write synthetic samples as JSONL, one sample a line.

Each line holds ``skill`` (0-based index), ``skill_name`` (``lego1``.., ``add1``..), ``prompt`` and
``answer`` (the text the model is asked to produce after the prompt).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from skillit.errors import SkillitError
from skillit.utils.progress import progress
from synthetic import addition, compose, lego
from synthetic.common import draw, skill_assignment, validation_samples

CHUNK = 50_000  # samples generated and written per step; bounds memory for any --n
PROGRESS_FROM = 2 * CHUNK  # show a progress bar from this many samples on
DEFAULT_N = 1000

_DESCRIPTION = """\
Write synthetic skill data as JSONL, one sample per line with the keys skill (0-based index),
skill_name, prompt and answer. --split train draws --n fresh samples that never coincide with the
validation sets; --split val writes the fixed validation sets (--val-size per skill, drawn from
--val-seed). The same flags and seed always give the same file.
"""


def _add_format(p: argparse.ArgumentParser, extra: tuple[str, ...] = ()) -> None:
    p.add_argument(
        "--format",
        dest="fmt",
        choices=("paper", "chain", *extra),
        default="paper",
        help="text format: 'paper' (one question, one answer token; default) or 'chain' (the "
        "answer lists every step up to the asked one, learns fast on CPU)"
        + (
            "; 'query': chain's merged clauses, one query, no listed path (lego only)"
            if "query" in extra
            else ""
        ),
    )
    p.add_argument(
        "--answer-loss",
        choices=("last", "all"),
        default=None,
        help="chain format only: 'last' puts only the asked value in the answer (default), 'all' "
        "puts the whole listed answer section there",
    )


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--n",
        type=int,
        default=None,
        help=f"number of training samples to write (default {DEFAULT_N}); only with --split train",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the training samples (default 0)")
    p.add_argument(
        "--proportions",
        default=None,
        metavar="W1,W2,...",
        help="skill mix as comma-separated non-negative weights, one per skill (e.g. 1,1,1,3,5 "
        "for 5 LEGO skills); counts are exact by largest remainder; default uniform",
    )
    p.add_argument(
        "--split",
        choices=("train", "val"),
        default="train",
        help="'train' (default): --n fresh samples; 'val': the fixed validation sets",
    )
    p.add_argument(
        "--val-size",
        type=int,
        default=100,
        help="validation samples per skill (default 100); train samples avoid these",
    )
    p.add_argument(
        "--val-seed",
        type=int,
        default=1234,
        help="seed of the validation sets, independent of --seed (default 1234)",
    )
    p.add_argument(
        "--output",
        "-o",
        default="-",
        metavar="PATH",
        help="JSONL file to write (its directory must exist; written whole or not at all), "
        "or '-' for stdout (default)",
    )


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "generate",
        help="write synthetic LEGO, addition or ordered-skill (compose) samples as JSONL",
        description=_DESCRIPTION,
    )
    tasks = p.add_subparsers(dest="task", metavar="TASK", required=True)
    lego = tasks.add_parser(
        "lego",
        help="LEGO variable resolution; skill i asks for a variable at depth i",
        description=_DESCRIPTION,
    )
    lego.add_argument("--k", type=int, default=5, help="number of variables, 1 to 26 (default 5)")
    lego.add_argument(
        "--structure",
        choices=("chain", "tree"),
        default="chain",
        help="'chain' (default; k skills) or 'tree' (balanced binary tree in breadth-first "
        "order; one skill per depth)",
    )
    _add_format(lego, ("query",))
    _add_common(lego)
    add = tasks.add_parser(
        "addition",
        help="addition; skill i is digit i of the sum, ones digit first",
        description=_DESCRIPTION,
    )
    add.add_argument(
        "--digits", type=int, default=3, help="digits per operand, 1 to 10 (default 3)"
    )
    _add_format(add)
    _add_common(add)
    comp = tasks.add_parser(
        "compose",
        help="composition of fixed permutations; skill d applies d of them (ordered skills)",
        description=_DESCRIPTION
        + "\nFor compose the world is small, so training samples may repeat validation prompts "
        "(validation measures learning, not generalisation); --novel-fraction holds out "
        "compositions of the deepest skill, written only with --split val.",
    )
    comp.add_argument("--symbols", type=int, default=8, help="symbols permuted (default 8)")
    comp.add_argument("--functions", type=int, default=8, help="permutations (default 8)")
    comp.add_argument(
        "--depths", default="1,2,3", metavar="D1,D2,...", help="one skill per depth (default 1,2,3)"
    )
    comp.add_argument("--world", type=int, default=0, help="seed of the permutations (default 0)")
    comp.add_argument(
        "--separator", default=None, help="a word between prompt and answer (default none)"
    )
    comp.add_argument(
        "--novel-fraction",
        type=float,
        default=0.0,
        help="fraction of the deepest skill's function sequences never used for training "
        "(default 0); adds the validation-only skill depth<D>_novel",
    )
    _add_common(comp)
    comp.set_defaults(fmt=None, answer_loss=None)
    for sub in (p, lego, add, comp):
        sub.set_defaults(run=run, parser=sub)


def _compose_task(args) -> compose.ComposeTask:
    try:
        depths = tuple(int(d) for d in args.depths.split(","))
    except ValueError:
        raise SkillitError(f"--depths must look like 1,2,3; got {args.depths!r}") from None
    try:
        return compose.ComposeTask(
            args.symbols, args.functions, depths, args.world, args.separator, args.novel_fraction
        )
    except ValueError as exc:
        flags = {"n_symbols": "--symbols", "n_functions": "--functions"}
        text = str(exc)
        for field_name, flag in flags.items():
            text = text.replace(field_name, flag)
        raise SkillitError(text.replace("novel_fraction", "--novel-fraction")) from None


def _task(args):

    if args.task == "compose":
        return _compose_task(args)
    if args.task == "lego":
        if not 1 <= args.k <= lego.MAX_K:
            raise SkillitError(
                f"--k must be between 1 and {lego.MAX_K} (one letter each), got {args.k}"
            )
        return lego.LegoTask(args.k, args.structure, args.fmt, args.answer_loss)
    if not 1 <= args.digits <= addition.MAX_DIGITS:
        raise SkillitError(
            f"--digits must be between 1 and {addition.MAX_DIGITS}, got {args.digits}"
        )
    return addition.AdditionTask(args.digits, args.fmt, args.answer_loss)


def _proportions(text: str | None, n_skills: int) -> list[float] | None:

    if text is None:
        return None
    try:
        weights = [float(w) for w in text.split(",")]
    except ValueError:
        raise SkillitError(
            f"--proportions must be comma-separated numbers like 1,1,3; got {text!r}"
        ) from None
    if len(weights) != n_skills:
        raise SkillitError(
            f"--proportions needs {n_skills} weights (one per skill), got {len(weights)}"
        )
    if any(not w >= 0 or w == float("inf") for w in weights) or sum(weights) <= 0:
        raise SkillitError(
            f"--proportions must be finite, non-negative and not all zero; got {text!r}"
        )
    return weights


def _check_output(path: str):

    if path == "-":
        return None
    out = Path(path)
    if out.is_dir():
        raise SkillitError(f"--output {path} is a directory; give a file path or '-' for stdout")
    if not out.parent.is_dir():
        raise SkillitError(
            f"--output {path}: directory {out.parent} does not exist; create it or use '-'"
        )
    return out


def run(args) -> int:

    if args.answer_loss is not None and args.fmt not in ("chain", None):
        raise SkillitError(
            "--answer-loss applies to --format chain (the paper format's answer is one token)"
        )
    args.answer_loss = args.answer_loss or "last"
    task = _task(args)
    trainable = getattr(task, "n_train_skills", task.n_skills)  # compose: not the novel split
    proportions = _proportions(args.proportions, trainable)
    if args.val_size < 1:
        raise SkillitError(f"--val-size must be >= 1, got {args.val_size}")
    if args.split == "val":
        if args.n is not None:
            raise SkillitError("--n applies to --split train; use --val-size with --split val")
        if proportions is not None:
            raise SkillitError("--proportions applies to --split train; val sets are per skill")
        if args.seed != 0:
            raise SkillitError("--seed applies to --split train; val sets come from --val-seed")
    n = DEFAULT_N if args.n is None else args.n
    if n <= 0:
        raise SkillitError(f"--n must be a positive number of samples, got {n}")
    out = _check_output(args.output)

    val_sets = [
        validation_samples(task, s, args.val_size, args.val_seed) for s in range(task.n_skills)
    ]
    if args.split == "val":
        chunks = iter(val_sets)
        total = args.val_size * task.n_skills
    else:
        # compose: the world's few prompts are all covered by validation, so do not avoid them
        avoid = (
            None
            if args.task == "compose"
            else np.unique(np.concatenate([v.hashes() for v in val_sets]))
        )
        rng = np.random.default_rng(args.seed)
        skills = skill_assignment(n, proportions, trainable, rng)
        chunks = _train_chunks(task, skills, rng, avoid)
        total = n
    _write(out, chunks, total, task.skill_names())
    return 0


def _train_chunks(task, skills, rng, avoid):

    for start in range(0, len(skills), CHUNK):
        part = skills[start : start + CHUNK]
        try:
            yield draw(task, len(part), rng, skill=part, avoid=avoid)
        except ValueError as exc:
            raise SkillitError(f"{exc}; lower --val-size") from exc


def _write(out, chunks, total: int, names: list[str]) -> None:
    """Write every chunk as JSONL to stdout or, via a temp file renamed at the end, to ``out``."""

    def write_lines(handle) -> None:
        with progress(
            total=total, desc="generate", unit="samples", enabled=total >= PROGRESS_FROM
        ) as bar:
            for batch in chunks:
                lines = [
                    json.dumps({"skill": s, "skill_name": names[s], "prompt": p, "answer": a})
                    for s, p, a in zip(batch.skill.tolist(), batch.prompts(), batch.answers())
                ]
                handle.write("\n".join(lines) + "\n")
                bar.update(len(batch))

    if out is None:
        write_lines(sys.stdout)
        sys.stdout.flush()
        return
    try:
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    except OSError as exc:
        raise SkillitError(f"--output {out}: cannot write there ({exc.strerror})") from exc
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes the file private; give it the usual mode
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            write_lines(handle)
        os.replace(tmp, out)
    except BaseException as exc:  # also Ctrl-C: never leave a partial file behind
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise SkillitError(f"--output {out}: write failed ({exc.strerror})") from exc
        raise
