"""Peak memory of `skillit prepare` on one single-line document of 10 MB and of 100 MB.

    python benchmarks/prepare_memory.py [--quick] [--tokenizer PATH]

Writes a single-line `.txt` of random words per size (in a temporary folder) and runs
`skillit prepare OUT --domain doc=FILE` as a subprocess, once with a tokenizer (--tokenizer; by
default a byte BPE of 4096 trained here on 1 MB of the same words) and once training its own
(--bpe-vocab 4096). The peak resident memory of each run is the child's own (os.wait4, one
process per measurement). The goal: below 1 GB at the large size and within 1.5x of the small
size's peak. --quick uses 2 and 20 MB. Prints a table; writes JSON to --out (default
benchmarks/results/prepare_memory.json, or benchmarks/out/prepare_memory_quick.json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_io import write_result  # this folder: benchmarks run as scripts

BENCH = Path(__file__).resolve().parent
SIZES_MB = {"full": (10, 100), "quick": (2, 20)}
VOCAB = 4096
GOAL_PEAK_MB = 1024
GOAL_RATIO = 1.5


def word_list(rng: np.random.Generator, n: int = 20000) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, size=int(rng.integers(2, 11)))) for _ in range(n)]


def write_words(path: Path, megabytes: float, words: list[str], seed: int) -> None:
    """One line of random words, space-separated, of about `megabytes` MB (written in blocks)."""
    rng = np.random.default_rng(seed)
    vocab = np.array(words)
    target, written = int(megabytes * 1e6), 0
    with path.open("w", encoding="utf-8") as fh:
        while written < target:
            block = " ".join(rng.choice(vocab, size=100_000)) + " "
            fh.write(block)
            written += len(block)


def peak_of(command: list[str]) -> tuple[float, float, int]:
    """(peak RSS in MB, seconds, exit status) of one run of `command` as a child process."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)  # the rusage of this child alone
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if child.returncode:
        print(stderr.decode(errors="replace"), file=sys.stderr)
    peak = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return peak, seconds, child.returncode


def measure(text: Path, out: Path, tokenizer_args: list[str]) -> dict:
    command = [sys.executable, "-m", "skillit.cli", "prepare", str(out), "--no-progress"]
    peak, seconds, code = peak_of([*command, "--domain", f"doc={text}", *tokenizer_args])
    row = {"peak_mb": round(peak, 1), "seconds": round(seconds, 1), "exit": code}
    if code == 0:
        entry = json.loads((out / "manifest.json").read_text())["domains"]["doc"]
        row["train_tokens"] = sum(s["tokens"] for s in entry["train"])
        row["val_tokens"] = sum(s["tokens"] for s in entry["val"])
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 and 20 MB instead of 10 and 100")
    parser.add_argument("--tokenizer", type=Path, help="a tokenizer.json (default: trained here)")
    parser.add_argument("--out", type=Path, default=None, help="JSON results")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    out = args.out or (
        BENCH / "out" / "prepare_memory_quick.json"
        if args.quick
        else BENCH / "results" / "prepare_memory.json"
    )
    small, large = SIZES_MB[mode]
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        words = word_list(np.random.default_rng(0))
        tokenizer = args.tokenizer
        if tokenizer is None:
            from skillit.utils.tokenization import save_tokenizer, train_byte_bpe

            sample = tmp / "sample.txt"
            write_words(sample, 1, words, seed=1)
            tokenizer = save_tokenizer(train_byte_bpe([sample.read_text()], VOCAB), tmp / "t.json")
        modes = {"tokenizer": ["--tokenizer", str(tokenizer)], "bpe": ["--bpe-vocab", str(VOCAB)]}
        print(f"{'input':>7} {'mode':<10} {'peak MB':>8} {'x input':>8} {'seconds':>8}")
        for size in (small, large):
            text = tmp / f"doc{size}.txt"
            write_words(text, size, words, seed=size)
            for name, flags in modes.items():
                row = measure(text, tmp / f"out_{size}_{name}", flags)
                results.setdefault(name, {})[f"{size}MB"] = row
                print(
                    f"{size:>5}MB {name:<10} {row['peak_mb']:>8.0f} "
                    f"{row['peak_mb'] / size:>8.1f} {row['seconds']:>8.1f}"
                )
            text.unlink()
    summary = {}
    for name, rows in results.items():
        peaks = rows[f"{small}MB"]["peak_mb"], rows[f"{large}MB"]["peak_mb"]
        ratio = peaks[1] / peaks[0]
        met = peaks[1] < GOAL_PEAK_MB and ratio <= GOAL_RATIO
        summary[name] = {"ratio": round(ratio, 3), "goal_met": met}
        print(
            f"{name}: {large} MB peak / {small} MB peak = {ratio:.2f} "
            f"(goal: < {GOAL_PEAK_MB} MB and <= {GOAL_RATIO}x): {'met' if met else 'NOT met'}"
        )
    write_result(
        out,
        {
            "mode": mode,
            "sizes_mb": [small, large],
            "vocab": VOCAB,
            "goal": {"peak_mb_below": GOAL_PEAK_MB, "ratio_at_most": GOAL_RATIO},
            "results": results,
            "summary": summary,
        },
    )
    return 0 if all(s["goal_met"] for s in summary.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
