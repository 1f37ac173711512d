"""Cost of each mixer's work as a share of training wall time, at its default cadence.

    .venv/bin/python benchmarks/round_overhead.py [--config configs/experiment/lego_cpt_cpu.yaml]
        [--strategies stratified,skillit,doremi,odm,aioli] [--steps N]

Workload: the lego-cpt suite's CPU default (chain LEGO, 1-layer GPT, batch 64, 3000 steps, T = 6
rounds), one thread, seed 0, the strategies one after the other in this process (stratified first:
it is the baseline, and DoReMi's reference model is its final checkpoint). A round boundary is
everything between the last training step of a round and the first step of the next one (and,
after the last round, until training ends): the evaluation of every eval skill, the update and
history line, the round's checkpoint and rebuilding the loader. The evaluation alone is also
reported. Inside rounds: ODM's reductions and updates (every step by default), and Aioli's
evaluations between probes, reported separately; Aioli's probe steps are training steps (they
count against the budget, not as overhead) and their share of the steps is listed. The fit time
of each strategy is also given as a ratio to stratified's, measured in the same process.
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


INSIDE_ROUND_CALLBACKS = ("TrainingLossCallback", "BlockEvalCallback")


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
            self.inside = [
                c for c in trainer.callbacks if type(c).__name__ in INSIDE_ROUND_CALLBACKS
            ]

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


def measure(
    config: str, strategy: str, seed: int, steps: int | None, extra: list[str], keep: Path
) -> dict:
    """Train one run into `keep`/`strategy` and time it."""
    from skillit.config import load_config
    from skillit.training import train

    run_dir = keep / strategy  # kept until the end: stratified's is DoReMi's reference
    cfg = load_config(
        [config],
        [
            f"mixing.strategy={strategy}",
            f"seed={seed}",
            f"run_dir={run_dir}",
            "trainer.progress_bar=false",
            "trainer.threads=1",
            *([f"trainer.max_steps={steps}"] if steps else []),
            *extra,
        ],
    )
    timer = make_timer()
    start = time.perf_counter()
    train(cfg, extra_callbacks=[timer])
    wall = time.perf_counter() - start
    fit = timer.train_end - timer.train_start
    boundary, evaluation = sum(timer.boundaries), sum(timer.evals)
    inside = sum(
        getattr(c, "update_seconds", 0.0) + getattr(c, "block_eval_seconds", 0.0)
        for c in timer.inside
    )
    probe_steps = 0
    for c in timer.inside:
        if type(c).__name__ == "BlockEvalCallback":
            s = c.strategy
            probe_steps = s.probe_total * sum(
                s.probes_in(t) for t in range(1, cfg.mixing.rounds + 1)
            )
    return {
        "strategy": strategy,
        "rounds": cfg.mixing.rounds,
        "steps": cfg.trainer.max_steps,
        "fit_s": fit,
        "round_boundaries_s": boundary,
        "evaluation_s": evaluation,
        "inside_rounds_s": inside,
        "per_boundary_s": boundary / len(timer.boundaries),
        "boundary_share": boundary / fit,
        "evaluation_share": evaluation / fit,
        "inside_share": inside / fit,
        "probe_step_share": probe_steps / cfg.trainer.max_steps,
        "train_wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", default=str(REPO / "configs" / "experiment" / "lego_cpt_cpu.yaml")
    )
    parser.add_argument("--strategies", default="stratified,skillit,doremi,odm,aioli")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="trainer.max_steps (config's)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "round_overhead.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    strategies = [s for s in args.strategies.split(",") if s]
    if "doremi" in strategies and "stratified" not in strategies[: strategies.index("doremi")]:
        parser.error("doremi needs stratified before it in --strategies (its reference model)")
    rows = []
    with tempfile.TemporaryDirectory() as keep:
        reference = Path(keep) / "stratified" / "checkpoints" / "last.ckpt"
        for strategy in strategies:
            extra = [f"mixing.doremi.reference={reference}"] if strategy == "doremi" else []
            rows.append(measure(args.config, strategy, args.seed, args.steps, extra, Path(keep)))
            print(f"measured {strategy}", file=sys.stderr)
    base = next((r["fit_s"] for r in rows if r["strategy"] == "stratified"), None)
    first = rows[0]
    print(
        f"workload: {Path(args.config).name}, {first['steps']} steps, seed {args.seed}, "
        "1 thread, strategies in one process"
    )
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}")
    print()
    print(
        "| strategy | T | fit s | fit / stratified | round boundaries | of which eval | "
        "inside rounds (ODM updates, Aioli probe evals) | probe steps |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = f"{r['fit_s'] / base:.3f}" if base else "n/a"
        r["fit_ratio_to_stratified"] = r["fit_s"] / base if base else None
        print(
            f"| {r['strategy']} | {r['rounds']} | {r['fit_s']:.2f} | {ratio} | "
            f"{100 * r['boundary_share']:.2f}% | {100 * r['evaluation_share']:.2f}% | "
            f"{100 * r['inside_share']:.2f}% | {100 * r['probe_step_share']:.1f}% of steps |"
        )
    print()
    print("shares are of each strategy's own fit time")
    write_result(
        args.out,
        {
            "config": str(Path(args.config).relative_to(REPO))
            if Path(args.config).is_relative_to(REPO)
            else args.config,
            "seed": args.seed,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
