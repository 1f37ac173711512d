"""Cost of Skill-It's round boundaries as a share of training wall time, at the default cadence.

    .venv/bin/python benchmarks/round_overhead.py [--config configs/experiment/lego_cpt_cpu.yaml]

Workload: the lego-cpt suite's CPU default (chain LEGO, 1-layer GPT, batch 64, 3000 steps, T = 6
rounds, strategy skillit), one thread, seed 0. A round boundary is everything between the last
training step of a round and the first step of the next one (and, after the last round, until
training ends): the evaluation of every eval skill, the Skill-It update and history line, the
round's checkpoint and rebuilding the loader. The evaluation alone is also reported.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from bench_io import write_result  # this folder: benchmarks run as scripts

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def make_timer():
    import lightning as L

    class RoundTimer(L.Callback):
        def __init__(self) -> None:
            self.train_start = self.train_end = 0.0
            self.last_batch_end: float | None = None
            self.boundaries: list[float] = []
            self.evals: list[float] = []
            self._eval_start = 0.0

        def on_train_start(self, trainer, pl_module) -> None:
            self.train_start = time.perf_counter()

        def on_train_batch_start(self, trainer, *args) -> None:
            if self.last_batch_end is not None and trainer.current_epoch > len(self.boundaries):
                self.boundaries.append(time.perf_counter() - self.last_batch_end)

        def on_train_batch_end(self, trainer, *args) -> None:
            self.last_batch_end = time.perf_counter()

        def on_validation_start(self, trainer, pl_module) -> None:
            self._eval_start = time.perf_counter()

        def on_validation_end(self, trainer, pl_module) -> None:
            self.evals.append(time.perf_counter() - self._eval_start)

        def on_train_end(self, trainer, pl_module) -> None:
            self.train_end = time.perf_counter()
            self.boundaries.append(self.train_end - self.last_batch_end)

    return RoundTimer()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", default=str(REPO / "configs" / "experiment" / "lego_cpt_cpu.yaml")
    )
    parser.add_argument("--strategy", default="skillit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "round_overhead.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    from skillit.config import load_config
    from skillit.train import train

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(
            [args.config],
            [
                f"mixing.strategy={args.strategy}",
                f"seed={args.seed}",
                f"run_dir={tmp}",
                "trainer.progress_bar=false",
                "trainer.threads=1",
            ],
        )
        timer = make_timer()
        start = time.perf_counter()
        train(cfg, extra_callbacks=[timer])
        wall = time.perf_counter() - start
    fit = timer.train_end - timer.train_start
    boundary, evaluation = sum(timer.boundaries), sum(timer.evals)
    rows = {
        "rounds": cfg.mixing.rounds,
        "steps": cfg.trainer.max_steps,
        "eval_samples": 100 * 5,
        "fit_s": fit,
        "round_boundaries_s": boundary,
        "evaluation_s": evaluation,
        "per_boundary_s": boundary / len(timer.boundaries),
        "boundary_share": boundary / fit,
        "evaluation_share": evaluation / fit,
        "train_wall_s": wall,
    }
    print(
        f"workload: {Path(args.config).name}, strategy {args.strategy}, {rows['steps']} steps, "
        f"T = {rows['rounds']}, seed {args.seed}, 1 thread"
    )
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}")
    print()
    print("| quantity | seconds | share of fit time |")
    print("|---|---|---|")
    print(f"| fit (all rounds) | {fit:.2f} | 100% |")
    print(
        f"| round boundaries ({len(timer.boundaries)}: eval + update + checkpoint + loader) | "
        f"{boundary:.2f} | {100 * rows['boundary_share']:.2f}% |"
    )
    print(f"| of which evaluation | {evaluation:.2f} | {100 * rows['evaluation_share']:.2f}% |")
    print(f"| one boundary | {rows['per_boundary_s']:.3f} | |")
    print()
    print(f"goal: round overhead <= 5% -> {'met' if rows['boundary_share'] <= 0.05 else 'not met'}")
    write_result(
        args.out,
        {
            "config": str(Path(args.config).relative_to(REPO))
            if Path(args.config).is_relative_to(REPO)
            else args.config,
            "strategy": args.strategy,
            "seed": args.seed,
            **rows,
        },
    )


if __name__ == "__main__":
    main()
