"""Samples/s of 2-process CPU DDP vs one process, each run a `skillit train` subprocess.

    .venv/bin/python benchmarks/ddp_scaling.py [--short 100] [--long 700] [--workload small]
    .venv/bin/python benchmarks/ddp_scaling.py --workload large --short 20 --long 80

Workload: the quick-start config (chain LEGO, 2-layer d=64 GPT), one round, logging off, seed 0.
Every setup is trained twice, for `short` and `long` steps; throughput is
(long - short) * global batch / (wall(long) - wall(short)), so process start-up, imports, DDP set-up
and the final evaluation cancel out. Each point is the fastest of `repeats` runs (other processes on
the machine only ever slow a run down). DDP with 64 rows per rank trains a global batch of 128
(data.global_batch_size=128), compared with one process at batch 64 and at batch 128.

`--workload large` trains a 4-layer d=256 GPT instead (8 heads, ~3.2M parameters, about 20 times
the compute of a step of the small one for 30 times its gradient bytes), so that a step is mostly
compute and the all-reduce of the gradients is a small part of it, as on real models.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_io import machine, write_result  # this folder: benchmarks run as scripts

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "experiment" / "lego.yaml"

WORKLOADS = {
    "small": [],  # the config's own 2-layer d=64 GPT
    "large": ["model.n_layer=4", "model.d_model=256", "model.n_head=8"],
}

SETUPS = [
    # label, per-rank batch, devices, strategy, threads per process
    ("1 process x 1 thread, batch 64", 64, 1, "auto", 1),
    ("1 process x 2 threads, batch 64", 64, 1, "auto", 2),
    ("1 process x 1 thread, batch 128", 128, 1, "auto", 1),
    ("DDP 2 processes x 1 thread, 64 per rank (global 128)", 64, 2, "ddp", 1),
]


def clean_env() -> dict[str, str]:
    """The environment without leftovers of any earlier distributed run."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "MASTER_ADDR",
            "MASTER_PORT",
            "RANK",
            "LOCAL_RANK",
            "WORLD_SIZE",
            "NODE_RANK",
            "SKILLIT_RUN_DIR",
        )
    }
    env.update(OMP_NUM_THREADS="1", WANDB_MODE="disabled", PYTHONWARNINGS="ignore")
    return env


def timed_train(
    steps: int, batch: int, devices: int, strategy: str, threads: int, workload: str
) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "skillit.cli",
            "train",
            str(CONFIG),
            f"trainer.max_steps={steps}",
            "mixing.rounds=1",
            "mixing.strategy=random",
            "mixing.plots=false",
            f"data.global_batch_size={batch * devices}",
            "trainer.accelerator=cpu",
            f"trainer.devices={devices}",
            f"trainer.strategy={strategy}",
            f"trainer.threads={threads}",
            "trainer.progress_bar=false",
            "logger.wandb=off",
            "logger.csv=false",
            f"run_dir={tmp}/run",
            "seed=0",
            *WORKLOADS[workload],
        ]
        start = time.perf_counter()
        proc = subprocess.run(
            cmd, check=False, cwd=REPO, env=clean_env(), capture_output=True, text=True
        )
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=100)
    parser.add_argument("--long", type=int, default=700)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--workload",
        choices=sorted(WORKLOADS),
        default="small",
        help="small: the config's 2-layer d=64 GPT; large: 4 layers, d=256 (mostly compute)",
    )
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "ddp_scaling.json"))
    args = parser.parse_args()
    rows = []
    for label, batch, devices, strategy, threads in SETUPS:
        short = min(
            timed_train(args.short, batch, devices, strategy, threads, args.workload)
            for _ in range(args.repeats)
        )
        long = min(
            timed_train(args.long, batch, devices, strategy, threads, args.workload)
            for _ in range(args.repeats)
        )
        global_batch = batch * devices
        steps_per_s = (args.long - args.short) / (long - short)
        rows.append(
            {
                "setup": label,
                "per_rank_batch": batch,
                "devices": devices,
                "strategy": strategy,
                "threads": threads,
                "wall_short_s": short,
                "wall_long_s": long,
                "steps_per_s": steps_per_s,
                "samples_per_s": steps_per_s * global_batch,
            }
        )
    base = rows[0]["samples_per_s"]
    same_batch = rows[2]["samples_per_s"]
    print(
        f"workload: {CONFIG.relative_to(REPO)} {' '.join(WORKLOADS[args.workload])}, 1 round, "
        "logging off, seed 0; "
        f"steps {args.short} vs {args.long} (difference timed), best of {args.repeats}"
    )
    print(f"machine: {machine()}")
    print()
    print("| setup | steps/s | samples/s | vs 1x1 batch 64 | vs 1x1 batch 128 |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['setup']} | {r['steps_per_s']:.1f} | {r['samples_per_s']:.0f} | "
            f"{r['samples_per_s'] / base:.2f}x | {r['samples_per_s'] / same_batch:.2f}x |"
        )
    write_result(
        args.out,
        {
            "config": str(CONFIG.relative_to(REPO)),
            "workload": args.workload,
            "overrides": WORKLOADS[args.workload],
            "short": args.short,
            "long": args.long,
            "repeats": args.repeats,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
