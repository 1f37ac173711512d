"""Training steps/s: the framework path (`skillit.training.train`) vs a bare PyTorch loop.

    .venv/bin/python benchmarks/throughput.py [--steps 600] [--warmup 100] [--repeats 5]
        [--check 0.98]

Workload: chain-format LEGO (k=5, uniform mix), the 2-layer d=64 GPT, batch 64, one torch thread,
seed 0. All paths use the same network, AdamW with the same groups, lr schedule and grad clip,
and the same data generation (the framework's RoundStream, iterated directly by the bare loop).
Three paths, run in turn in every repetition (so slow spells of a shared machine hit all three):

- bare: a plain loop, stream -> forward -> loss -> backward -> clip -> step;
- lightning: a minimal LightningModule over the same stream (no logger, callback or checkpoint):
  what Lightning's loop itself costs;
- skillit: `skillit.train` with the data module's loader, the Skill-It callback, the checkpoint
  callback, the CSV logger and offline W&B (train loss logged every 50 steps); one round, so no
  evaluation falls inside the timed window.

Steps/s is measured from the start of step `warmup` to the end of the last step, in wall time and
in this process's CPU time. The ratio reported is of the medians over the repetitions (the best
of each is printed too); the load average before and after is recorded, since other processes
only ever slow a path down. `--check R` exits 1 when the median ratio skillit / bare is below R:
a check a reviewer runs on a quiet machine, not part of CI (timings there are too noisy).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
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
    """Lightning callback: wall and CPU time from the start of batch `warmup` to the end of the
    last batch."""

    def __init__(self, warmup: int) -> None:
        import lightning as L

        class _Timer(L.Callback):
            def on_train_batch_start(cb, trainer, *args) -> None:
                if trainer.global_step == warmup and self.start is None:
                    self.start, self.cpu_start = time.perf_counter(), time.process_time()

            def on_train_batch_end(cb, trainer, *args) -> None:
                self.end, self.cpu_end = time.perf_counter(), time.process_time()
                self.last_step = trainer.global_step

        self.start: float | None = None
        self.cpu_start = self.cpu_end = 0.0
        self.end = 0.0
        self.last_step = 0
        self.callback = _Timer()


@dataclass
class Timing:
    steps_per_s: float  # by wall time
    cpu_steps_per_s: float  # by this process's CPU time
    wall_s: float = 0.0  # end to end, start-up included (skillit.train only)


def timer_result(timer: StepTimer, warmup: int, wall: float = 0.0) -> Timing:
    steps = timer.last_step - warmup
    return Timing(
        steps / (timer.end - timer.start), steps / (timer.cpu_end - timer.cpu_start), wall
    )


def framework_steps_per_s(steps: int, warmup: int) -> Timing:
    """skillit.train: its steps/s in the timed window and its end-to-end wall seconds."""
    from skillit.training import train

    with tempfile.TemporaryDirectory() as tmp:
        cfg = workload(steps, tmp)
        timer = StepTimer(warmup)
        start = time.perf_counter()
        train(cfg, extra_callbacks=[timer.callback])
        wall = time.perf_counter() - start
    return timer_result(timer, warmup, wall)


def bare_parts(steps: int):
    """The network, optimiser, schedule and stream every path trains, built as SkillLM would."""
    import numpy as np

    from skillit.build import build_network, build_source
    from skillit.data import MixtureDraw, RoundPlan, RoundStream
    from skillit.model.module import build_optimizer

    with tempfile.TemporaryDirectory() as tmp:
        cfg = workload(steps, tmp, logging_on=False)
    torch.manual_seed(cfg.seed)
    source = build_source(cfg)
    k = len(source.skill_names)
    network = build_network(cfg, source.tokenizer.get_vocab_size())
    optimizer, schedule = build_optimizer(network, cfg.optim, steps)
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
    return cfg, network, optimizer, schedule, stream


def lightning_steps_per_s(steps: int, warmup: int) -> Timing:
    """A minimal LightningModule on the same parts: Lightning's own loop, nothing of skillit's."""
    import lightning as L
    from torch.utils.data import DataLoader

    from skillit.model.losses import masked_mean_loss

    cfg, network, optimizer, schedule, stream = bare_parts(steps)

    class Minimal(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def training_step(self, batch, batch_idx):
            logits = self.network(batch["input_ids"])
            return masked_mean_loss(logits, batch["input_ids"], batch["loss_mask"])

        def configure_optimizers(self):
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": schedule, "interval": "step"},
            }

    timer = StepTimer(warmup)
    trainer = L.Trainer(
        max_steps=steps,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=cfg.optim.grad_clip,
        num_sanity_val_steps=0,
        callbacks=[timer.callback],
    )
    trainer.fit(Minimal(), DataLoader(stream, batch_size=None))
    return timer_result(timer, warmup)


def bare_steps_per_s(steps: int, warmup: int) -> Timing:
    """The same training as a plain loop: stream -> forward -> loss -> backward -> clip -> step."""
    from skillit.model.losses import masked_mean_loss

    cfg, network, optimizer, schedule, stream = bare_parts(steps)
    network.train()
    start = cpu_start = None
    for step, batch in enumerate(stream):
        if step == warmup:
            start, cpu_start = time.perf_counter(), time.process_time()
        logits = network(batch["input_ids"])
        loss = masked_mean_loss(logits, batch["input_ids"], batch["loss_mask"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), cfg.optim.grad_clip)
        optimizer.step()
        schedule.step()
    float(loss)  # make sure the last step is done
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return Timing((steps - warmup) / wall, (steps - warmup) / cpu)


PATHS = {
    "bare": ("bare PyTorch loop", bare_steps_per_s),
    "lightning": ("Lightning, a minimal module (no skillit)", lightning_steps_per_s),
    "skillit": ("skillit.train (Lightning, logging on)", framework_steps_per_s),
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog="See the module docstring for the workload."
    )
    parser.add_argument("--steps", type=int, default=600, help="steps per run (default 600)")
    parser.add_argument("--warmup", type=int, default=100, help="untimed first steps (100)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repetitions (5)")
    parser.add_argument(
        "--check",
        type=float,
        default=None,
        metavar="RATIO",
        help="exit 1 if the median ratio skillit / bare is below RATIO (e.g. 0.98)",
    )
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "throughput.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    import warnings

    warnings.filterwarnings("ignore")
    os.environ.setdefault("WANDB_SILENT", "true")
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    load_before = os.getloadavg()
    runs: dict[str, list[Timing]] = {key: [] for key in PATHS}
    for _ in range(args.repeats):
        for key, (_, measure) in PATHS.items():
            runs[key].append(measure(args.steps, args.warmup))
    load_after = os.getloadavg()

    def median(key: str, field: str = "steps_per_s") -> float:
        return statistics.median(getattr(t, field) for t in runs[key])

    def best(key: str) -> float:
        return max(t.steps_per_s for t in runs[key])

    ratio = median("skillit") / median("bare")
    cpu_ratio = median("skillit", "cpu_steps_per_s") / median("bare", "cpu_steps_per_s")
    print(
        f"workload: chain LEGO k=5, 2-layer d=64 GPT, batch 64, {args.steps} steps "
        f"(timed after {args.warmup}), 1 thread, seed 0, {args.repeats} interleaved repetitions"
    )
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}")
    print(
        "load average (1, 5, 15 min): before "
        + ", ".join(f"{x:.2f}" for x in load_before)
        + "; after "
        + ", ".join(f"{x:.2f}" for x in load_after)
    )
    print()
    print(
        "| path | steps/s median | best | CPU-time steps/s median | ratio (median) | all repeats |"
    )
    print("|---|---|---|---|---|---|")
    for key, (label, _) in PATHS.items():
        each = ", ".join(f"{t.steps_per_s:.1f}" for t in runs[key])
        print(
            f"| {label} | {median(key):.1f} | {best(key):.1f} | "
            f"{median(key, 'cpu_steps_per_s'):.1f} | {median(key) / median('bare'):.3f} | {each} |"
        )
    print()
    print(
        f"ratio skillit / bare: {ratio:.3f} on the medians ({best('skillit') / best('bare'):.3f} "
        f"on the best; {cpu_ratio:.3f} by CPU time); goal >= 0.98 on the medians"
    )
    walls = [t.wall_s for t in runs["skillit"]]
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
                "repeats": args.repeats,
            },
            "load_average_before": load_before,
            "load_average_after": load_after,
            "runs": {key: [asdict(t) for t in runs[key]] for key in PATHS},
            "ratio_median": ratio,
            "ratio_best": best("skillit") / best("bare"),
            "ratio_cpu_median": cpu_ratio,
            "lightning_ratio_median": median("lightning") / median("bare"),
        },
    )
    if args.check is not None and ratio < args.check:
        print(f"CHECK FAILED: median ratio {ratio:.3f} < {args.check}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
