"""Training steps/s: the framework path (`skillit.train.train`) vs a bare PyTorch loop.

    .venv/bin/python benchmarks/throughput.py [--steps 600] [--warmup 100] [--repeats 3]

Workload: chain-format LEGO (k=5, uniform mix), the 2-layer d=64 GPT, batch 64, one torch thread,
seed 0. Both paths use the same network, AdamW with the same groups, lr schedule and grad clip,
and the same data generation (the framework's RoundStream, iterated directly by the bare loop).
The framework path has Lightning, the data module's loader, the Skill-It callback and logging on
(CSV logger and offline W&B, train loss logged every 50 steps); one round, so no evaluation falls inside the
timed window. Steps/s is measured from the start of step `warmup` to the end of the last step;
the best of `repeats` alternating repetitions is reported (noise from other processes only slows).
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

from skillit.config import load_config

CONFIG = REPO / "configs" / "experiment" / "lego.yaml"


def workload(steps: int, run_dir: str, logging_on: bool = True):
    overrides = [
        f"trainer.max_steps={steps}",
        "mixing.rounds=1",
        "mixing.strategy=random",
        "mixing.plots=false",
        "data.global_batch_size=64",
        "trainer.threads=1",
        "trainer.progress_bar=false",
        "trainer.log_every_n_steps=50",
        f"logger.wandb={'offline' if logging_on else 'off'}",
        f"logger.csv={str(logging_on).lower()}",
        f"run_dir={run_dir}",
        "seed=0",
    ]
    return load_config([CONFIG], overrides)


class StepTimer:
    """Lightning callback: wall time from the start of batch `warmup` to the end of the last batch."""

    def __init__(self, warmup: int) -> None:
        import lightning as L

        class _Timer(L.Callback):
            def on_train_batch_start(cb, trainer, *args) -> None:
                if trainer.global_step == warmup and self.start is None:
                    self.start = time.perf_counter()

            def on_train_batch_end(cb, trainer, *args) -> None:
                self.end = time.perf_counter()
                self.last_step = trainer.global_step

        self.start: float | None = None
        self.end = 0.0
        self.last_step = 0
        self.callback = _Timer()


def framework_steps_per_s(steps: int, warmup: int) -> tuple[float, float]:
    """(steps/s in the timed window, end-to-end wall seconds of train())."""
    from skillit.train import train

    with tempfile.TemporaryDirectory() as tmp:
        cfg = workload(steps, tmp)
        timer = StepTimer(warmup)
        start = time.perf_counter()
        train(cfg, extra_callbacks=[timer.callback])
        wall = time.perf_counter() - start
    return (timer.last_step - warmup) / (timer.end - timer.start), wall


def bare_steps_per_s(steps: int, warmup: int) -> float:
    """The same training as a plain loop: stream -> forward -> loss -> backward -> clip -> step."""
    import numpy as np

    from skillit.build import build_network, build_source
    from skillit.data import MixtureDraw, RoundPlan, RoundStream
    from skillit.model.losses import masked_mean_loss
    from skillit.model.module import build_optimizer

    with tempfile.TemporaryDirectory() as tmp:
        cfg = workload(steps, tmp, logging_on=False)
    torch.manual_seed(cfg.seed)
    source = build_source(cfg)
    k = len(source.skill_names)
    network = build_network(cfg, source.tokenizer.get_vocab_size())
    optimizer, schedule = build_optimizer(network, cfg.optim, steps)  # as SkillLM does
    plan = RoundPlan(
        round_number=1,
        first_step=0,
        num_batches=steps,
        global_batch_size=64,
        rank=0,
        world_size=1,
        seed=cfg.seed,
    )
    stream = RoundStream(MixtureDraw(source, np.arange(k), np.full(k, 1.0 / k)), plan)
    network.train()
    start = None
    for step, batch in enumerate(stream):
        if step == warmup:
            start = time.perf_counter()
        logits = network(batch["input_ids"])
        loss = masked_mean_loss(logits, batch["input_ids"], batch["loss_mask"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), cfg.optim.grad_clip)
        optimizer.step()
        schedule.step()
    float(loss)  # make sure the last step is done
    return (steps - warmup) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "throughput.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    import warnings

    warnings.filterwarnings("ignore")
    os.environ.setdefault("WANDB_SILENT", "true")
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    bare, framework, walls = [], [], []
    for _ in range(args.repeats):
        bare.append(bare_steps_per_s(args.steps, args.warmup))
        fw, wall = framework_steps_per_s(args.steps, args.warmup)
        framework.append(fw)
        walls.append(wall)
    best_bare, best_fw = max(bare), max(framework)
    ratio = best_fw / best_bare
    print(
        f"workload: chain LEGO k=5, 2-layer d=64 GPT, batch 64, {args.steps} steps "
        f"(timed after {args.warmup}), 1 thread, seed 0, best of {args.repeats}"
    )
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}")
    print()
    print("| path | steps/s (best) | all repeats |")
    print("|---|---|---|")
    print(f"| bare PyTorch loop | {best_bare:.1f} | {', '.join(f'{x:.1f}' for x in bare)} |")
    print(
        f"| skillit.train (Lightning, logging on) | {best_fw:.1f} | {', '.join(f'{x:.1f}' for x in framework)} |"
    )
    print()
    print(f"ratio framework / bare: {ratio:.3f} (goal >= 0.95)")
    print(f"end-to-end train() wall time for {args.steps} steps incl. start-up: {min(walls):.1f} s")
    write_result(
        args.out,
        {
            "torch": torch.__version__,
            "workload": {
                "config": "configs/experiment/lego.yaml",
                "batch_size": 64,
                "steps": args.steps,
                "warmup": args.warmup,
                "threads": 1,
                "seed": 0,
            },
            "bare_steps_per_s": bare,
            "framework_steps_per_s": framework,
            "framework_wall_s": walls,
            "ratio_best": ratio,
        },
    )


if __name__ == "__main__":
    main()
