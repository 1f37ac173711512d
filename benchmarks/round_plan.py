"""Loader start time and memory of a round's sample order: drawn whole vs in blocks.

    .venv/bin/python benchmarks/round_plan.py [--sizes 1e6,1e7,1e8] [--block-steps 64]

Workload: a mixture over 7 skills (RedPajama's domain count), global batch 512, rounds of 1M, 10M
and 100M samples. "Whole" is what a loader does at its start without `data.plan_block_steps`:
the skill of every sample of the round (skillit.sampling.round_skill_order). "Blocks" is what it
does with `data.plan_block_steps=B`: the table of the round's block mixtures
(skillit.data.LiveMixtures) and the first block's order (the rest is drawn when a worker reaches
it). Time is wall time of one call (best of 3 below 10M samples, one call above); memory is the
peak of Python and numpy allocations during the call (tracemalloc). The goal: blocks flat in the
round length.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
from bench_io import write_result  # this folder: benchmarks run as scripts

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from skillit.data import LiveMixtures  # noqa: E402
from skillit.sampling import block_skill_order, round_skill_order  # noqa: E402

WEIGHTS = np.array([0.67, 0.15, 0.045, 0.045, 0.045, 0.025, 0.02])  # RedPajama-like shares
BATCH = 512


def measure(fn, repeats: int) -> tuple[float, float]:
    """(seconds, peak MiB) of fn()."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e6,1e7,1e8", help="samples per round")
    parser.add_argument("--block-steps", type=int, default=64)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "round_plan.json"))
    args = parser.parse_args()
    rows = []
    for size in [int(float(s)) for s in args.sizes.split(",")]:
        steps = size // BATCH
        repeats = 3 if size < 10**7 else 1

        def whole(steps=steps):
            return round_skill_order(WEIGHTS, steps * BATCH, 0, 1)

        def blocks(steps=steps):
            live = LiveMixtures.fixed(steps, args.block_steps, WEIGHTS)
            return block_skill_order(live.weights(0), live.steps[0] * BATCH, 0, 1, 0)

        w_s, w_mb = measure(whole, repeats)
        b_s, b_mb = measure(blocks, repeats)
        rows.append(
            {
                "samples": steps * BATCH,
                "steps": steps,
                "whole_s": w_s,
                "whole_mib": w_mb,
                "blocks_s": b_s,
                "blocks_mib": b_mb,
            }
        )
        print(f"measured {size:.0e} samples", file=sys.stderr)
    print(
        f"workload: 7 skills, global batch {BATCH}, blocks of {args.block_steps} steps; "
        f"machine: {platform.machine()}, numpy {np.__version__}"
    )
    print()
    print("| samples per round | whole: s | whole: MiB | blocks: s | blocks: MiB | speed-up |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['samples']:,} | {r['whole_s']:.3f} | {r['whole_mib']:.1f} | "
            f"{r['blocks_s'] * 1000:.2f} ms | {r['blocks_mib']:.2f} | "
            f"{r['whole_s'] / r['blocks_s']:.0f}x |"
        )
    write_result(args.out, {"block_steps": args.block_steps, "batch": BATCH, "rows": rows})


if __name__ == "__main__":
    main()
