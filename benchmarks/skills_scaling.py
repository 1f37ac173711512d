"""How the framework's per-round and per-step costs grow with the number of skills k.

    .venv/bin/python benchmarks/skills_scaling.py [--max-skills 1000] [--quick]
        [--round-steps 500] [--seed 0] [--out benchmarks/out/skills_scaling.json]

Workload: a synthetic SkillSource defined here (`WindowSource`) with k skills named s0000, s0001,
...: every sample of skill i is a 16-token window whose first token marks the skill and whose
other 15 tokens (all scored) come from the caller's generator; 64 word tokens plus the three
special ones; 4 validation samples per skill (a generator keyed by (1234, i), independent of the
training seed). Train skills = eval skills = all k, uniform natural mix, continual pre-training.
k is 10, 100, 1,000 (up to --max-skills; --quick: up to 100 and rounds of 20 steps), and 10,000
for the pure parts (update math, sampler). Seeds: the run seed is --seed (0), the losses fed to
the updates come from the tiny model's real evaluation at k (random init, seed 0) where that was
measured and from numpy's generator keyed by (seed, k) otherwise. One process, one thread
(OMP_NUM_THREADS=1, torch.set_num_threads(1)); the machine is printed with the tables. Times
are wall times: on a machine shared with other work the training step times move most.

Strategies (columns): stratified (uniform), skillit (a k x k graph: identity plus an edge
i -> i+1 of weight 0.5; eta 0.5, window 3), doremi (uniform start; eta 1, c 1e-3; the reference
losses: 0.3 below the evaluated losses with noise in the pure parts, the generated losses in the
real training, where no reference checkpoint is scored), odm (EXP3, an update every step: the
paper's cadence), aioli (1 sweep of 1 probe step per skill, so a round is R + k steps: the
defaults, 4 sweeps x 6 steps x k, do not fit a 500-step round for k >= 21; ema 0.5, normalised).

Quantities (rows k, columns strategy); times are the best of several calls unless said:

- update: the strategy's `next_weights(round, eval_losses)`, as MixingCallback calls it at a
  round end (Aioli's includes its interaction solve; ODM's is trivial, its work is in-round);
- in-round: the strategy calls inside one round of R = --round-steps steps: ODM R x
  `observe_training` (one per step), Aioli k x `observe_block_eval` (one per probe block; the
  evaluations themselves are in the evaluation tables); 0 for the others;
- odm step: one ODM `observe_training` call (the pure call), and in real training the
  TrainingLossCallback's work per update (reduction, call, publication of the next block);
- order: `round_skill_order` of a round of R x 64 samples from the strategy's first mixture (time;
  peak of Python/numpy allocations by tracemalloc, torch tensors are not traced). ODM and Aioli
  loaders draw block orders instead: the loader table measures what each loader really does;
- loader first batch: `SkillDataModule.train_dataloader()` for round 1 (its block plan, if any,
  included) and the first batch out of it (time, tracemalloc peak);
- evaluation: `skillit.model.evaluation.evaluate_skills` of the k validation sets (4 samples each)
  with `GPT(d_model 32, 1 layer, 2 heads)` on a SkillDataModule (eval batch 256); per round =
  evaluations a round makes (1; Aioli 1 + k, after every probe block) x that time (computed);
- history row: bytes of the `mixture_history.jsonl` line of round 1, built as MixingCallback
  and RunRecord build it (same data module, strategy and helpers, after the round's in-round calls; losses and
  accuracies from the evaluation above) and, where a real training ran, the line it wrote; and
  the time of `jsonio.dumps` of that record;
- real training (`skillit.training.train`, the CPU demo-size model: GPT d_model 64, 1 layer, 4 heads,
  batch 64, CSV logger on, W&B off, plots off; 2 rounds of R steps, stopped at the first batch of
  round 2 so only one boundary is trained through; Aioli only up to k = 100: at k = 1,000 a round
  needs 1,000 probe blocks each followed by an evaluation of 1,000 skills): step time (round 1's
  training wall / R), the round boundary (benchmarks/round_overhead.py's timer: last step of round
  1 to first step of round 2: evaluation, update, history line, checkpoint, next loader) in seconds
  and as a share of the round's wall time (R steps + boundary), the validation loop inside it,
  metrics.csv columns and bytes of a training-loss row, logger keys per training step and per round
  end (the keys handed to every logger's log_metrics: what W&B's log would receive), the
  checkpoint's bytes and the eval_history.jsonl line's bytes.

A cell the workload cannot fill is "n/a" in the tables and listed with its reason under `skipped`
in the JSON.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import csv
import logging
import math
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from bench_io import best_seconds, machine, write_result  # this folder: benchmarks run as scripts

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from round_overhead import make_timer  # noqa: E402  (the boundary timer of the overhead bench)

from skillit.callbacks.record import round_summary  # noqa: E402
from skillit.data import SkillDataModule  # noqa: E402
from skillit.mixing import registry  # noqa: E402
from skillit.mixing.aioli import AioliConfig  # noqa: E402
from skillit.mixing.base import BuildContext, MixingStrategy  # noqa: E402
from skillit.mixing.doremi import DoReMiConfig  # noqa: E402
from skillit.mixing.odm import ODMConfig  # noqa: E402
from skillit.mixing.skillit import SkillItConfig  # noqa: E402
from skillit.sampling import round_skill_order  # noqa: E402
from skillit.sources.base import SkillExamples  # noqa: E402
from skillit.utils import jsonio  # noqa: E402
from skillit.utils.tokenization import wordlevel_tokenizer  # noqa: E402

STRATEGIES = ("stratified", "skillit", "doremi", "odm", "aioli")
WINDOW = 16  # tokens per sample
WORDS = 64  # word tokens (ids 3..66)
VAL_SIZE = 4  # validation samples per skill
VAL_SEED = 1234
BATCH = 64  # global batch (the CPU demo's)
EVAL_BATCH = 256
PURE_EXTRA_K = 10_000  # the pure parts only
AIOLI_PURE_MAX = 1_000  # k x k probe tables and a dense solve: measured up to here
AIOLI_TRAIN_MAX = 100  # real training: k probe blocks, each followed by an evaluation of k skills
OPTIONS = {  # the strategies' options (see the docstring)
    "skillit": SkillItConfig(eta=0.5, window=3),
    "doremi": DoReMiConfig(eta=1.0, smoothing=1e-3),
    "odm": ODMConfig(update_every=1),
    "aioli": AioliConfig(sweeps=1, probe_steps=1),
}
CONFIG_OVERRIDES = (  # the real training: the CPU demo-size model, CSV on, nothing else
    "model.n_layer=1",
    "model.n_head=4",
    "model.d_model=64",
    "model.max_seq_len=128",
    f"data.global_batch_size={BATCH}",
    f"data.eval_batch_size={EVAL_BATCH}",
    "trainer.accelerator=cpu",
    "trainer.threads=1",
    "trainer.progress_bar=false",
    "trainer.log_every_n_steps=50",
    "logger.wandb=off",
    "logger.csv=true",
    "mixing.plots=false",
    "mixing.aioli.sweeps=1",
    "mixing.aioli.probe_steps=1",
)


# -- the workload ---------------------------------------------------------------------------------


class WindowSource:
    """k skills of fixed 16-token windows: token 0 marks the skill, the 15 others are random and
    scored. Cheap to generate, deterministic by the caller's generator."""

    def __init__(self, num_skills: int) -> None:
        self.k = int(num_skills)
        self._names = [f"s{i:04d}" for i in range(self.k)]
        self._tokenizer = wordlevel_tokenizer([f"w{j}" for j in range(WORDS)])

    @property
    def skill_names(self) -> list[str]:
        return list(self._names)

    @property
    def tokenizer(self):
        return self._tokenizer

    @property
    def pad_id(self) -> int:
        return 0

    def natural_proportions(self) -> np.ndarray:
        return np.full(self.k, 1.0 / self.k)

    def _window(self, skill: int, n: int, rng: np.random.Generator) -> SkillExamples:
        ids = rng.integers(3, 3 + WORDS, size=(n, WINDOW), dtype=np.int64)
        ids[:, 0] = 3 + skill % WORDS
        mask = np.ones((n, WINDOW), dtype=bool)
        mask[:, 0] = False
        return SkillExamples(ids, mask, np.full(n, skill, dtype=np.int64))

    def train_examples(self, skill: int, n: int, rng: np.random.Generator) -> SkillExamples:
        return self._window(skill, n, rng)

    def validation_examples(self, skill: int) -> SkillExamples:
        return self._window(skill, VAL_SIZE, np.random.default_rng([VAL_SEED, skill]))


def skill_graph(k: int) -> np.ndarray:
    """Identity plus a prerequisite edge i -> i + 1 (weight 0.5): k x k, dense as the run takes it."""
    a = np.eye(k)
    idx = np.arange(k - 1)
    a[idx, idx + 1] = 0.5
    return a


def fake_losses(k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(loss, acc) per skill where no evaluation was run (k beyond the trained sizes)."""
    rng = np.random.default_rng([seed, k])
    return rng.uniform(3.5, 4.5, k), np.zeros(k)


def build(name: str, k: int, round_steps: int, seed: int, losses: np.ndarray) -> MixingStrategy:
    """The strategy as the build layer makes it (registry.build_strategy, its needs checked)."""
    names = [f"s{i:04d}" for i in range(k)]
    rng = np.random.default_rng([seed, k, 7])
    ctx = BuildContext(
        train_skills=names,
        eval_skills=names,
        rounds=2,
        round_lengths=(round_steps, round_steps),
        seed=seed,
        graph=skill_graph(k) if name == "skillit" else None,
        natural=np.full(k, 1.0 / k),
        reference_losses=losses - 0.3 + rng.normal(0.0, 0.2, k) if name == "doremi" else None,
    )
    return registry.build_strategy(name, ctx, OPTIONS.get(name))


def round_length(name: str, k: int, round_steps: int) -> int:
    """Steps of a round: R, and Aioli's k probe steps on top (1 sweep x 1 step per skill)."""
    return round_steps + (k if name == "aioli" else 0)


def step_signals(k: int, seed: int, count: int = 8) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per-skill (loss sum, token count) of one step of 64 rows, as ODM receives them."""
    rng = np.random.default_rng([seed, k, 11])
    out = []
    for _ in range(count):
        rows = np.bincount(rng.integers(0, k, BATCH), minlength=k).astype(np.float64)
        tokens = rows * (WINDOW - 1)
        out.append((tokens * rng.uniform(3.5, 4.5, k), tokens))
    return out


# -- measuring --------------------------------------------------------------------------------------


def timed_peak(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(best seconds, tracemalloc peak MiB) of fn(), the peak from one extra traced call."""
    seconds = best_seconds(fn, repeats)
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return seconds, peak / 2**20


def repeats_for(k: int) -> int:
    return 5 if k <= 1000 else 2


def measure_update(name: str, k: int, round_steps: int, seed: int, losses: np.ndarray) -> dict:
    """next_weights at a round end, and the strategy's in-round calls of one round."""
    out: dict[str, float] = {}
    repeats = repeats_for(k)
    if name == "aioli":  # the probe blocks' evaluations fill the round's drops first
        strategy = build(name, k, round_length(name, k, round_steps), seed, losses)
        blocks = strategy.sweeps * k  # blocks 0..k-1 are closed in-round, the last by the update
        best_in, best_up = math.inf, math.inf
        for t in range(1, repeats + 1):
            strategy.rounds = t + 1  # every timed round probes
            start = time.perf_counter()
            for block in range(blocks):
                strategy.observe_block_eval(t, block, losses - 1e-3 * block)
            middle = time.perf_counter()
            strategy.next_weights(t, losses - 1e-3 * blocks)
            best_in = min(best_in, middle - start)
            best_up = min(best_up, time.perf_counter() - middle)
        return {"update_s": best_up, "in_round_s": best_in}
    strategy = build(name, k, round_steps, seed, losses)
    rounds = iter(range(1, 10**6))
    out["update_s"] = best_seconds(lambda: strategy.next_weights(next(rounds), losses), repeats)
    out["in_round_s"] = 0.0
    if name == "odm":
        signals = step_signals(k, seed)
        steps = iter(range(1, 10**9))

        def a_round() -> None:
            for i in range(round_steps):
                sums, counts = signals[i % len(signals)]
                strategy.observe_training(next(steps), sums, counts)

        out["in_round_s"] = best_seconds(a_round, 3 if k <= 1000 else 1)
        out["odm_step_s"] = out["in_round_s"] / round_steps
    return out


def datamodule(source: WindowSource, strategy: MixingStrategy, steps: int, seed: int):
    names = source.skill_names
    dm = SkillDataModule(
        source,
        names,
        names,
        [steps, steps],
        global_batch_size=BATCH,
        eval_batch_size=EVAL_BATCH,
        seed=seed,
        block_planner=strategy.round_blocks,
    )
    dm.set_mixture(strategy.current_weights)
    return dm


def measure_sampler(name: str, k: int, round_steps: int, seed: int, losses: np.ndarray) -> dict:
    steps = round_length(name, k, round_steps)
    strategy = build(name, k, steps, seed, losses)
    weights = strategy.current_weights
    repeats = 3 if k <= 1000 else 2
    order_s, order_mib = timed_peak(
        lambda: round_skill_order(weights, round_steps * BATCH, seed, 1), repeats
    )
    dm = datamodule(WindowSource(k), strategy, steps, seed)
    loader_s, loader_mib = timed_peak(lambda: next(iter(dm.train_dataloader())), repeats)
    return {
        "order_s": order_s,
        "order_mib": order_mib,
        "loader_s": loader_s,
        "loader_mib": loader_mib,
    }


def measure_eval(k: int, seed: int) -> dict:
    from skillit.model.evaluation import evaluate_skills
    from skillit.model.gpt import GPT, GPTConfig

    torch.manual_seed(seed)
    source = WindowSource(k)
    net = GPT(
        GPTConfig(
            vocab_size=source.tokenizer.get_vocab_size(),
            n_layer=1,
            n_head=2,
            d_model=32,
            max_seq_len=WINDOW,
        )
    )
    dm = datamodule(source, build("stratified", k, 10, seed, np.zeros(k)), 10, seed)
    start = time.perf_counter()
    loss, acc = evaluate_skills(net, dm)  # the first builds the validation sets (cached after)
    first = time.perf_counter() - start
    seconds = best_seconds(lambda: evaluate_skills(net, dm), 3)
    return {"eval_s": seconds, "eval_first_s": first, "loss": loss, "acc": acc}


def round_record(
    name: str, k: int, round_steps: int, seed: int, losses: np.ndarray, acc: np.ndarray
) -> dict:
    """Round 1's mixture_history.jsonl record, built as MixingCallback.on_train_epoch_end and
    RunRecord do (skillit/callbacks/mixing.py, record.py), after the round's in-round calls (ODM's updates, Aioli's probes)."""
    steps = round_length(name, k, round_steps)
    strategy = build(name, k, steps, seed, losses)
    source = WindowSource(k)
    dm = datamodule(source, strategy, steps, seed)
    dm.plan_blocks(1)
    live = dm.strategy_blocks
    if name == "odm":  # TrainingLossCallback: an update (published) after every block
        signals = step_signals(k, seed)
        for j in range(1, len(live.steps)):
            sums, counts = signals[j % len(signals)]
            live.publish(j, strategy.observe_training(int(live.starts[j]), sums, counts))
        strategy.observe_training(steps, *signals[0])  # the round's tail, at its end
    elif name == "aioli":  # BlockEvalCallback: an evaluation after every block but the last
        for block in range(len(live.steps) - 1):
            strategy.observe_block_eval(1, block, losses - 1e-3 * block)
    # -- as in MixingCallback.on_train_epoch_end and RunRecord --
    details = dm.round_details(1)
    used = np.asarray(details.pop("drawn", dm.mixture), dtype=np.float64)
    next_w = np.asarray(strategy.next_weights(1, losses), dtype=np.float64)
    dm.set_mixture(next_w)
    next_w = dm.mixture
    drawn = np.bincount(round_skill_order(used, steps * BATCH, seed, 1), minlength=k)
    names = source.skill_names
    return {
        "round": 1,
        "step": steps,
        "weights": dict(zip(names, map(float, used))),
        "eval_loss": dict(zip(names, map(float, losses))),
        "eval_acc": dict(zip(names, map(float, acc))),
        "next_weights": dict(zip(names, map(float, next_w))),
        **{key: dict(zip(names, values)) for key, values in strategy.signal().items()},
        **details,
        "delivered_samples": {s: int(v) for s, v in zip(names, drawn)},
        "delivered_tokens": {s: int(v) * WINDOW for s, v in zip(names, drawn)},
    }


def measure_history(
    name: str, k: int, round_steps: int, seed: int, losses: np.ndarray, acc: np.ndarray
) -> dict:
    record = round_record(name, k, round_steps, seed, losses, acc)
    line = jsonio.dumps(record) + "\n"
    return {
        "history_bytes": float(len(line.encode())),
        "history_write_s": best_seconds(lambda: jsonio.dumps(record), 3),
        "console_chars": float(len(round_summary(record, 2))),
    }


# -- real training -------------------------------------------------------------------------------


class StopAfterBoundary(Exception):
    """Raised at round 2's first batch: its boundary is timed, nothing after it is needed."""


def make_clock():
    import lightning as L

    class RoundClock(L.Callback):
        """Round 1's training wall (first batch start to last batch end); stops at round 2."""

        def __init__(self) -> None:
            self.start: float | None = None
            self.end = 0.0

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if trainer.current_epoch >= 1:
                raise StopAfterBoundary
            if self.start is None:
                self.start = time.perf_counter()

        def on_train_batch_end(self, trainer, *args) -> None:
            self.end = time.perf_counter()

    return RoundClock()


def make_recorder():
    from lightning.pytorch.loggers import Logger

    class KeyRecorder(Logger):
        """Every log_metrics call's (step, keys): what any logger (W&B's too) receives."""

        def __init__(self) -> None:
            super().__init__()
            self.calls: list[tuple[int | None, list[str]]] = []

        @property
        def name(self) -> str:
            return "keys"

        @property
        def version(self) -> int:
            return 0

        def log_hyperparams(self, params, *args, **kwargs) -> None:
            pass

        def log_metrics(self, metrics, step=None) -> None:
            self.calls.append((step, sorted(metrics)))

    return KeyRecorder()


def csv_stats(path: Path) -> tuple[float, float]:
    """(columns, mean bytes of a row that holds only the training loss) of a metrics.csv."""
    lines = path.read_text().splitlines()
    header = next(csv.reader([lines[0]]))
    loss_col = header.index("train/loss")
    val_cols = [i for i, h in enumerate(header) if h.startswith("val/")]
    sizes = []
    for line in lines[1:]:
        row = next(csv.reader([line]))
        if row[loss_col] and not any(row[i] for i in val_cols):
            sizes.append(len(line.encode()) + 1)
    return float(len(header)), float(np.mean(sizes)) if sizes else 0.0


def run_training(name: str, k: int, round_steps: int, seed: int, folder: Path) -> dict:
    """Train k skills with `name` through skillit.training.train (its source and strategy made
    here: build_run is replaced for the call), through round 1's boundary."""
    from skillit import training as train_module
    from skillit.build import (
        MixingPlan,
        RunParts,
        build_start_network,
        data_settings,
        strategy_options,
    )
    from skillit.config import load_config
    from skillit.run.directory import CHECKPOINT, EVAL_FILE, HISTORY_FILE
    from skillit.sources.registry import SourceSpec

    steps = round_length(name, k, round_steps)
    run_dir = folder / f"{name}-{k}"
    cfg = load_config(
        [],
        [
            *CONFIG_OVERRIDES,
            f"trainer.log_every_n_steps={min(50, round_steps)}",
            f"mixing.strategy={name}",
            "mixing.rounds=2",
            f"trainer.max_steps={2 * steps}",
            f"seed={seed}",
            f"run_dir={run_dir}",
        ],
    )
    source = WindowSource(k)
    names = source.skill_names
    losses = fake_losses(k, seed)[0]

    source_spec = SourceSpec("windows", lambda ctx, options: source, "the benchmark's windows")

    def build_run(cfg, network=True):
        spec = registry.get(name)
        ctx = BuildContext(
            train_skills=names,
            eval_skills=names,
            rounds=cfg.mixing.rounds,
            round_lengths=(steps, steps),
            seed=cfg.seed,
            graph=skill_graph(k) if name == "skillit" else None,
            natural=source.natural_proportions(),
            reference_losses=losses if name == "doremi" else None,
        )
        strategy = registry.build_strategy(name, ctx, strategy_options(cfg, spec))
        plan = MixingPlan(strategy, None, ctx.graph)
        settings = data_settings(cfg, source_spec, plan, [steps, steps])
        parts = RunParts(source, source_spec, None, names, names, plan, settings)
        parts.network = build_start_network(cfg, source) if network else None
        return parts

    recorder = make_recorder()
    original_parts, original_loggers = train_module.build_run, train_module.build_loggers
    train_module.build_run = build_run
    train_module.build_loggers = lambda *a, **kw: [*original_loggers(*a, **kw), recorder]
    timer, clock = make_timer(), make_clock()
    try:
        train_module.train(cfg, extra_callbacks=[timer, clock])
        raise RuntimeError("the training ended before round 2")
    except StopAfterBoundary:
        pass
    finally:
        train_module.build_run, train_module.build_loggers = original_parts, original_loggers
    train_s = clock.end - clock.start
    boundary = timer.boundaries[0]
    columns, row_bytes = csv_stats(run_dir / "csv" / "metrics.csv")
    step_keys = [keys for _, keys in recorder.calls if "train/loss" in keys]
    # round 1's end: the module's validation metrics and the callback's round metrics (no
    # training-loss key; nothing else is logged outside the log steps)
    round_keys = set().union(*(keys for _, keys in recorder.calls if "train/loss" not in keys))
    out = {
        "step_s": train_s / steps,
        "boundary_s": boundary,
        "boundary_share": boundary / (train_s + boundary),
        "val_in_training_s": timer.evals[0],
        "csv_columns": columns,
        "csv_train_row_bytes": row_bytes,
        "keys_per_step": float(max(map(len, step_keys), default=0)),
        "keys_per_round": float(len(round_keys)),
        "history_bytes_real": float(len((run_dir / HISTORY_FILE).read_text().splitlines()[0]) + 1),
        "eval_history_bytes": float(len((run_dir / EVAL_FILE).read_text().splitlines()[0]) + 1),
        "checkpoint_bytes": float((run_dir / CHECKPOINT).stat().st_size),
    }
    for cb in timer.inside:
        if type(cb).__name__ == "TrainingLossCallback":
            out["odm_update_in_training_s"] = cb.update_seconds / max(1, steps - 1)
    return out


# -- the report ---------------------------------------------------------------------------------


QUANTITIES = {  # key: (title, unit, scale for the table, which strategies, which k list)
    "update_s": ("Round update: next_weights", "ms", 1e3, STRATEGIES, "pure"),
    "in_round_s": ("In-round strategy calls per round", "ms", 1e3, STRATEGIES, "pure"),
    "odm_step_s": ("ODM observe_training per call (pure)", "us", 1e6, ("odm",), "pure"),
    "order_s": ("round_skill_order of R x 64 samples: time", "ms", 1e3, STRATEGIES, "pure"),
    "order_mib": ("round_skill_order: tracemalloc peak", "MiB", 1.0, STRATEGIES, "pure"),
    "loader_s": ("Loader start to first batch: time", "ms", 1e3, STRATEGIES, "pure"),
    "loader_mib": ("Loader start to first batch: tracemalloc peak", "MiB", 1.0, STRATEGIES, "pure"),
    "eval_s": ("evaluate_skills once (k validation sets)", "ms", 1e3, ("all",), "eval"),
    "eval_per_skill_s": ("evaluate_skills per skill", "ms", 1e3, ("all",), "eval"),
    "eval_per_round_s": ("Evaluation per round (evaluations x time)", "s", 1.0, STRATEGIES, "eval"),
    "history_bytes": (
        "History row (constructed as the callback does)",
        "KiB",
        1 / 1024,
        STRATEGIES,
        "eval",
    ),
    "history_write_s": ("History row: jsonio.dumps", "ms", 1e3, STRATEGIES, "eval"),
    "console_chars": ("Round summary console line", "chars", 1.0, STRATEGIES, "eval"),
    "step_s": ("Real training: time per step", "ms", 1e3, STRATEGIES, "train"),
    "boundary_s": ("Real training: round boundary", "s", 1.0, STRATEGIES, "train"),
    "boundary_share": (
        "Real training: boundary share of the round",
        "%",
        100.0,
        STRATEGIES,
        "train",
    ),
    "val_in_training_s": ("Real training: validation loop", "s", 1.0, STRATEGIES, "train"),
    "odm_update_in_training_s": (
        "Real training: ODM callback update",
        "us",
        1e6,
        ("odm",),
        "train",
    ),
    "history_bytes_real": (
        "Real training: history.jsonl line",
        "KiB",
        1 / 1024,
        STRATEGIES,
        "train",
    ),
    "eval_history_bytes": (
        "Real training: eval_history.jsonl line",
        "KiB",
        1 / 1024,
        STRATEGIES,
        "train",
    ),
    "checkpoint_bytes": ("Real training: last.ckpt", "KiB", 1 / 1024, STRATEGIES, "train"),
    "csv_columns": ("metrics.csv columns", "columns", 1.0, STRATEGIES, "train"),
    "csv_train_row_bytes": (
        "metrics.csv bytes of a training-loss row",
        "bytes",
        1.0,
        STRATEGIES,
        "train",
    ),
    "keys_per_step": ("Logger (W&B) keys per training step", "keys", 1.0, STRATEGIES, "train"),
    "keys_per_round": ("Logger (W&B) keys per round end", "keys", 1.0, STRATEGIES, "train"),
}


def fmt(value: float) -> str:
    if value == 0:
        return "0"
    if float(value).is_integer() or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def print_table(key: str, q: dict) -> None:
    print(f"### {q['title']} ({q['unit']})")
    print()
    print("| k | " + " | ".join(q["strategies"]) + " |")
    print("|---|" + "---|" * len(q["strategies"]))
    for k in q["ks"]:
        cells = []
        for s in q["strategies"]:
            value = q["values"].get(s, {}).get(str(k))
            cells.append("n/a" if value is None else fmt(value * q["scale"]))
        print(f"| {k:,} | " + " | ".join(cells) + " |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-skills", type=int, default=1000, help="largest k (default 1000)")
    parser.add_argument("--quick", action="store_true", help="k up to 100, rounds of 20 steps")
    parser.add_argument("--round-steps", type=int, default=None, help="R (default 500; quick 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "skills_scaling.json"))
    args = parser.parse_args()
    if args.max_skills < 10:
        parser.error("--max-skills must be at least 10")
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger("lightning.fabric").setLevel(logging.ERROR)
    began = time.perf_counter()
    max_k = min(args.max_skills, 100) if args.quick else args.max_skills
    round_steps = args.round_steps or (20 if args.quick else 500)
    ks = [k for k in (10, 100, 1000) if k <= max_k]
    if max_k not in ks:
        ks.append(max_k)
    pure_ks = ks if args.quick else sorted({*ks, PURE_EXTRA_K})
    lists = {"pure": pure_ks, "eval": ks, "train": ks}
    values: dict[str, dict[str, dict[str, float]]] = {key: {} for key in QUANTITIES}
    skipped: dict[str, dict[str, dict[str, str]]] = {key: {} for key in QUANTITIES}

    def put(key: str, strategy: str, k: int, value: float) -> None:
        values[key].setdefault(strategy, {})[str(k)] = float(value)

    def skip(keys, strategy: str, k: int, reason: str) -> None:
        for key in keys:
            if strategy in QUANTITIES[key][3]:
                skipped[key].setdefault(strategy, {})[str(k)] = reason

    evaluated: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for k in ks:  # evaluation first: its losses feed the updates and the records
        e = measure_eval(k, args.seed)
        evaluated[k] = (e["loss"], e["acc"])
        put("eval_s", "all", k, e["eval_s"])
        put("eval_per_skill_s", "all", k, e["eval_s"] / k)
        for s in STRATEGIES:
            evals = 1 + (OPTIONS["aioli"].sweeps * k if s == "aioli" else 0)
            put("eval_per_round_s", s, k, evals * e["eval_s"])
        print(f"measured evaluation at k={k}", file=sys.stderr)

    pure_keys = ("update_s", "in_round_s", "order_s", "order_mib", "loader_s", "loader_mib")
    for k in pure_ks:
        losses = evaluated.get(k, fake_losses(k, args.seed))[0]
        for s in STRATEGIES:
            if s == "aioli" and k > AIOLI_PURE_MAX:
                skip(
                    pure_keys, s, k, f"k x k probe tables and a dense solve: up to {AIOLI_PURE_MAX}"
                )
                continue
            for key, value in measure_update(s, k, round_steps, args.seed, losses).items():
                put(key, s, k, value)
            for key, value in measure_sampler(s, k, round_steps, args.seed, losses).items():
                put(key, s, k, value)
        print(f"measured updates and sampler at k={k}", file=sys.stderr)

    for k in ks:
        loss, acc = evaluated[k]
        for s in STRATEGIES:
            for key, value in measure_history(s, k, round_steps, args.seed, loss, acc).items():
                put(key, s, k, value)
    print("measured history rows", file=sys.stderr)

    train_keys = [key for key, q in QUANTITIES.items() if q[4] == "train"]
    with tempfile.TemporaryDirectory() as folder:
        for k in ks:
            for s in STRATEGIES:
                if s == "aioli" and k > AIOLI_TRAIN_MAX:
                    skip(
                        train_keys,
                        s,
                        k,
                        f"k probe blocks each with an evaluation of k skills; "
                        f"trained up to k={AIOLI_TRAIN_MAX}",
                    )
                    continue
                result = run_training(s, k, round_steps, args.seed, Path(folder))
                for key, value in result.items():
                    put(key, s, k, value)
                print(f"trained {s} at k={k}", file=sys.stderr)

    run_seconds = time.perf_counter() - began
    quantities = {}
    for key, (title, unit, scale, strategies, which) in QUANTITIES.items():
        quantities[key] = {
            "title": title,
            "unit": unit,
            "scale": scale,  # table value = stored value (seconds, bytes, fraction) x scale
            "strategies": list(strategies),
            "ks": lists[which],
            "values": values[key],
            "skipped": skipped[key],
        }
    print(
        f"workload: WindowSource ({WINDOW}-token windows, {VAL_SIZE} validation samples per "
        f"skill), R = {round_steps} steps x batch {BATCH}, seed {args.seed}, 1 thread"
    )
    print(f"machine: {machine()}, torch {torch.__version__}, numpy {np.__version__}")
    print()
    for key, q in quantities.items():
        print_table(key, q)
    print(f"run time: {run_seconds:.0f} s")
    write_result(
        args.out,
        {
            "workload": {
                "source": "WindowSource (benchmarks/skills_scaling.py)",
                "window_tokens": WINDOW,
                "val_samples_per_skill": VAL_SIZE,
                "round_steps": round_steps,
                "global_batch": BATCH,
                "eval_batch": EVAL_BATCH,
                "seed": args.seed,
                "quick": args.quick,
                "options": {name: vars(opt) for name, opt in OPTIONS.items()},
            },
            "ks": ks,
            "pure_ks": pure_ks,
            "strategies": list(STRATEGIES),
            "run_seconds": run_seconds,
            "quantities": quantities,
        },
    )


if __name__ == "__main__":
    main()
