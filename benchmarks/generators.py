"""Throughput of the synthetic generators, one thread: samples/s as token ids and as text.

    .venv/bin/python benchmarks/generators.py [--n 200000] [--out benchmarks/out/generators.json]

Token-id rows time ``generate`` (skills mixed uniformly, ids + answer mask); text rows add the
rendering of every prompt and answer string. Each figure is the best of ``--repeats`` runs.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # numpy is single-threaded here anyway; make it certain

import argparse
import json
import platform
from pathlib import Path

import numpy as np
from bench_io import best_seconds  # this folder: benchmarks run as scripts

from synthetic import addition, lego
from synthetic.common import validation_set


def workloads(n: int, n_text: int):
    """(task name, form, n, callable) for each measured configuration."""
    lego_val = validation_set(lego.LegoTask(), size=100, seed=1234).hashes()

    def text(batch):
        return batch.prompts(), batch.answers()

    def training_calls(calls: int, size: int = 32) -> None:
        # What a source does per training batch: one skill, a shared rng, the val set avoided.
        rng = np.random.default_rng(1)
        for i in range(calls):
            lego.generate(size, seed=rng, skill=i % 5, avoid=lego_val)

    return [
        ("lego k=5 chain, paper format", "ids", n, lambda: lego.generate(n, seed=1)),
        (
            "lego k=5 chain, paper format, avoiding val set",
            "ids",
            n,
            lambda: lego.generate(n, seed=1, avoid=lego_val),
        ),
        ("lego k=5 chain, chain format", "ids", n, lambda: lego.generate(n, seed=1, fmt="chain")),
        (
            "lego k=7 tree, paper format",
            "ids",
            n,
            lambda: lego.generate(n, k=7, structure="tree", seed=1),
        ),
        (
            "lego k=5 chain, paper format",
            "text",
            n_text,
            lambda: text(lego.generate(n_text, seed=1)),
        ),
        (
            "lego k=5 chain, chain format",
            "text",
            n_text,
            lambda: text(lego.generate(n_text, seed=1, fmt="chain")),
        ),
        (
            "lego k=5 paper, 32-sample calls, avoiding val",
            "ids",
            32 * 2000,
            lambda: training_calls(2000),
        ),
        ("addition 3 digits, paper format", "ids", n, lambda: addition.generate(n, seed=1)),
        (
            "addition 3 digits, chain format",
            "ids",
            n,
            lambda: addition.generate(n, seed=1, fmt="chain"),
        ),
        (
            "addition 3 digits, paper format",
            "text",
            n_text,
            lambda: text(addition.generate(n_text, seed=1)),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="samples per token-id run")
    parser.add_argument("--n-text", type=int, default=20_000, help="samples per text run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (best is kept)")
    parser.add_argument("--out", default="benchmarks/out/generators.json", help="JSON results")
    args = parser.parse_args()

    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "threads": 1,
    }
    print(
        f"machine: {machine['platform']}, {machine['cpu_count']} CPUs, "
        f"python {machine['python']}, numpy {machine['numpy']}, 1 thread"
    )
    print(f"best of {args.repeats} runs; ids = token ids + answer mask, text = ids + strings")
    header = f"{'workload':<48} {'form':<5} {'n':>8} {'seconds':>8} {'samples/s':>11}"
    print(header)
    print("-" * len(header))
    results = []
    for name, form, n, fn in workloads(args.n, args.n_text):
        seconds = best_seconds(fn, args.repeats)
        rate = n / seconds
        results.append(
            {"workload": name, "form": form, "n": n, "seconds": seconds, "samples_per_s": rate}
        )
        print(f"{name:<48} {form:<5} {n:>8} {seconds:>8.3f} {rate:>11,.0f}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"machine": machine, "repeats": args.repeats, "results": results}, indent=2)
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
