"""One-GPU check: training throughput, MFU and memory of the project's models and of skillit.training.

    .venv/bin/python benchmarks/gpu_check.py             # one CUDA GPU, a few minutes
    .venv/bin/python benchmarks/gpu_check.py --dry-run   # the same code paths on CPU, tiny sizes

Prints one Markdown table and writes JSON (benchmarks/bench_io.write_result) to --out.

Workload (GPU): GPT-2-small sizes, 12 layers, d_model 768, 12 heads, windows of 1024 tokens, a
vocabulary of 50257, batch 16 (--batch), bf16 autocast (torch.autocast(device, torch.bfloat16),
what Lightning's bf16-mixed does), AdamW with the project's parameter groups and lr schedule
(skillit.model.module.build_optimizer, domains_cpu's optim settings), gradient clipping at the
config's optim.grad_clip. Each row trains --warmup steps untimed (compilation included), then
--steps timed steps between two CUDA synchronisations. Seed 0 for every model and batch.
Rows:

1. gpt eager / gpt compile: skillit's GPT (skillit/model/gpt.py, SDPA attention, tied head, about
   124M parameters) in a bare loop over fixed random token batches already on the GPU; without
   and with torch.compile (default mode).
2. gpt-neo eager / gpt-neo compile: Hugging Face GPT-Neo-125M (12 layers, 768, 12 heads,
   global/local attention with a 256-token window, 2048 positions) built from its config with
   random weights, nothing downloaded, through the project's builder (skillit/model/hf.py, as
   model.hf_config builds it); SDPA where transformers supports it for GPT-Neo, else its eager
   attention (the table says which). Same bare loop.
3. skillit.train: the row-1 GPT trained by the framework: Lightning, bf16-mixed, the Skill-It
   strategy and callback (an inline graph over the corpus's domains), the tokens source over the
   demo corpus (`skillit prepare DIR --demo`, tokenized with a BPE trained by prepare and padded
   with unused special tokens to exactly the row-1 vocabulary, so the network is row 1's), one
   round. Timed by a Lightning callback from the start of step --warmup to the end of the last
   step; the round end (evaluation, Skill-It update, checkpoint) is reported apart. Its ratio is
   to row 1 eager at the same model, batch and sequence length.
4. fsdp: the same run with Lightning's FSDP (configs/trainer/fsdp.yaml, devices 1) for a few
   steps, to check that the path runs: steps/s and ok, or the error. If it fails on gradient
   clipping, it is retried once with optim.grad_clip=0 and the retry reported in its note.

MFU = tokens/s * (6 * N + 12 * n_layer * d_model * seq) / peak, with N the parameters used in
matmuls (all parameters counted once, a tied embedding once, minus position-embedding tables,
which are only looked up) and 12 * n_layer * d_model * seq the attention scores and values per
token (forward + backward over the whole T x T score matrix, the usual convention; a causal
kernel does about half of it). Peak is the device's dense bf16
tensor-core peak from a table of known GPUs by torch.cuda.get_device_name (H100 SXM / H200 989,
H100 PCIe 756, A100 312, L4 121 TFLOP/s, ...) or --peak-tflops; n/a on CPU or an unknown device.
Peak memory is torch.cuda.max_memory_allocated, reset before each row (n/a on CPU); for rows 3
and 4 it covers the whole of train(), its evaluation and checkpoint included.

--dry-run: every row's code path on CPU at tiny sizes (2 layers, d_model 64, 4 heads, windows of
64, vocabulary 512, batch 8, one torch thread, a few steps), under a minute on 2 cores.
torch.compile rows are skipped there (the table says so); Lightning's FSDP needs CUDA, so the
fsdp row builds its config and starts skillit.train, and reports the refusal as skipped.

A failing row prints its error in the table and the check goes on; the exit status is 1 if any
row failed, 2 without a GPU and without --dry-run. Machine: one CUDA GPU with bf16 (sized for
an 80 GB H100 / H200, where the whole check is estimated at 3-5 minutes, most of it torch.compile;
lower --batch on smaller cards); the prepare steps use the CPU cores. The JSON records the device,
torch, transformers and Lightning versions, and each row's error traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import lightning as L
import torch
from bench_io import write_result  # this folder: benchmarks run as scripts

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from skillit.config import ModelConfig, load_config
from skillit.model.losses import masked_mean_loss
from skillit.model.module import build_optimizer
from skillit.utils.shipped import resolve_config

TRAINER_DIR = REPO / "skillit" / "configs" / "trainer"

# Dense bf16 tensor-core peak in FLOP/s by device name; the first matching entry wins (so the
# H100 variants come before plain "H100", L40S and L40 before L4).
PEAK_BF16 = (
    ("H200", 989e12),  # H200 and GH200
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),  # SXM
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L40", 181e12),
    ("L4", 121e12),
)


@dataclass(frozen=True)
class Size:
    n_layer: int
    n_head: int
    d_model: int
    seq: int
    vocab: int
    batch: int
    neo_window: int  # GPT-Neo's local attention window
    neo_positions: int  # GPT-Neo's max_position_embeddings


GPU_SIZE = Size(12, 12, 768, 1024, 50257, 16, 256, 2048)
DRY_SIZE = Size(2, 4, 64, 64, 512, 8, 16, 128)

ROWS = (
    ("gpt-eager", "1. GPT, bare loop, eager"),
    ("gpt-compile", "1. GPT, bare loop, torch.compile"),
    ("neo-eager", "2. GPT-Neo-125M (HF), bare loop, eager"),
    ("neo-compile", "2. GPT-Neo-125M (HF), bare loop, torch.compile"),
    ("framework", "3. GPT through skillit.train (Skill-It, bf16-mixed)"),
    ("fsdp", "4. skillit.train with Lightning FSDP, 1 device"),
)


@dataclass
class Row:
    key: str
    title: str
    status: str = "ok"  # ok | skipped | error
    params: int | None = None
    steps_per_s: float | None = None
    tokens_per_s: float | None = None
    mfu: float | None = None
    peak_mem_gib: float | None = None
    wall_s: float | None = None
    note: str = ""
    error: str | None = None
    traceback: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Context:
    size: Size
    device: torch.device
    steps: int
    warmup: int
    fsdp_steps: int
    fsdp_warmup: int
    peak: float | None  # FLOP/s, None: unknown (MFU n/a)
    work: Path  # scratch folder for run directories
    corpus: Path | None = None
    bare_gpt_steps_per_s: float | None = None  # row 1 eager, for row 3's ratio
    gpt_params: int | None = None

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"


# -- measurement helpers ---------------------------------------------------------------------


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_params(model: torch.nn.Module) -> int:
    """Parameters counted once (a tied weight once), minus embedding tables no Linear shares
    (position embeddings: looked up, never multiplied)."""
    total = sum(p.numel() for p in model.parameters())
    linear_weights = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Linear)}
    lookups = sum(
        m.weight.numel()
        for m in model.modules()
        if isinstance(m, torch.nn.Embedding) and id(m.weight) not in linear_weights
    )
    return total - lookups


def flops_per_token(n_matmul: int, n_layer: int, d_model: int, seq: int) -> float:
    return 6.0 * n_matmul + 12.0 * n_layer * d_model * seq


def fill_rates(row: Row, ctx: Context, steps_per_s: float, flops_token: float) -> None:
    row.steps_per_s = steps_per_s
    row.tokens_per_s = steps_per_s * ctx.size.batch * ctx.size.seq
    row.mfu = flops_token * row.tokens_per_s / ctx.peak if ctx.peak else None
    row.extra["flops_per_token"] = flops_token


def peak_flops(device: torch.device, override_tflops: float | None) -> tuple[float | None, str]:
    """(peak bf16 FLOP/s or None, where it came from)."""
    if override_tflops:
        return override_tflops * 1e12, "--peak-tflops"
    if device.type != "cuda":
        return None, "n/a on CPU"
    name = torch.cuda.get_device_name(device)
    for key, value in PEAK_BF16:
        if key in name:
            return value, f"table entry {key!r}"
    return None, f"unknown device {name!r}: pass --peak-tflops"


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def bare_loop(
    network: torch.nn.Module, ctx: Context, compiled: bool, optim_cfg, grad_clip: float
) -> dict:
    """Fixed random batches already on the device -> forward + loss under bf16 autocast ->
    backward -> clip -> AdamW step -> lr schedule; steps/s over the timed steps."""
    size, device = ctx.size, ctx.device
    total = ctx.warmup + ctx.steps
    network.to(device).train()
    optimizer, schedule = build_optimizer(network, optim_cfg, total)
    forward = torch.compile(network) if compiled else network
    gen = torch.Generator(device=device).manual_seed(0)
    batches = torch.randint(0, size.vocab, (4, size.batch, size.seq), device=device, generator=gen)
    mask = torch.ones(size.batch, size.seq, dtype=torch.bool, device=device)
    mask[:, 0] = False  # as the tokens source: the first token has no context
    params = [p for p in network.parameters() if p.requires_grad]
    begin = time.perf_counter()
    start = begin
    for step in range(total):
        if step == ctx.warmup:
            sync(device)
            start = time.perf_counter()
        ids = batches[step % len(batches)]
        with torch.autocast(device.type, dtype=torch.bfloat16):
            logits = forward(ids)
            loss = masked_mean_loss(logits, ids, mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()
        schedule.step()
    sync(device)
    end = time.perf_counter()
    final = float(loss)
    if not math.isfinite(final):
        raise FloatingPointError(f"training loss is {final}")
    return {
        "steps_per_s": ctx.steps / (end - start),
        "warmup_s": start - begin,
        "final_loss": final,
    }


# -- rows 1 and 2: bare loops ------------------------------------------------------------------


def framework_optim():
    """The optimiser settings the framework rows train with (domains_cpu's)."""
    return load_config([resolve_config("domains_cpu")], []).optim


def gpt_row(row: Row, ctx: Context, compiled: bool) -> None:
    if compiled and not ctx.cuda:
        row.status, row.note = "skipped", "skipped on CPU (torch.compile is checked on the GPU)"
        return
    from skillit.model.gpt import GPT, GPTConfig

    s = ctx.size
    torch.manual_seed(0)
    network = GPT(GPTConfig(s.vocab, s.seq, s.n_layer, s.n_head, s.d_model))
    n_matmul = matmul_params(network)
    row.params = sum(p.numel() for p in network.parameters())
    optim = framework_optim()
    out = bare_loop(network, ctx, compiled, optim, optim.grad_clip)
    fill_rates(row, ctx, out["steps_per_s"], flops_per_token(n_matmul, s.n_layer, s.d_model, s.seq))
    row.extra.update(out, matmul_params=n_matmul)
    row.note = f"{row.params:,} params ({n_matmul:,} in matmuls), SDPA"
    if compiled:
        row.note += f", compile + warmup {out['warmup_s']:.0f} s"
    else:
        ctx.bare_gpt_steps_per_s, ctx.gpt_params = out["steps_per_s"], row.params


def neo_settings(s: Size) -> dict:
    """GPT-Neo-125M's published hyperparameters (EleutherAI/gpt-neo-125M), at `s`'s sizes."""
    return {
        "model_type": "gpt_neo",
        "hidden_size": s.d_model,
        "num_layers": s.n_layer,
        "num_heads": s.n_head,
        "attention_types": [[["global", "local"], s.n_layer // 2]],
        "window_size": s.neo_window,
        "max_position_embeddings": s.neo_positions,
        "intermediate_size": None,  # 4 * hidden_size
        "activation_function": "gelu_new",
        "embed_dropout": 0.0,
        "attention_dropout": 0.0,
        "resid_dropout": 0.0,
        "layer_norm_epsilon": 1e-5,
    }


def build_neo(s: Size) -> tuple[torch.nn.Module, str]:
    """GPT-Neo through skillit's HF builder; SDPA if transformers has it for GPT-Neo."""
    from skillit.model.hf import build_hf_network

    def build(extra: dict):
        torch.manual_seed(0)
        cfg = ModelConfig(backend="hf", hf_config={**neo_settings(s), **extra}, max_seq_len=s.seq)
        return build_hf_network(cfg, s.vocab)

    try:
        network = build({"attn_implementation": "sdpa"})
        return network, network.model.config._attn_implementation
    except ValueError as exc:  # transformers refuses an implementation the model lacks
        if "scaled_dot_product_attention" not in str(exc) and "sdpa" not in str(exc):
            raise
        network = build({})
        impl = network.model.config._attn_implementation
        return network, f"{impl} (transformers has no SDPA for GPT-Neo)"


def neo_row(row: Row, ctx: Context, compiled: bool) -> None:
    if compiled and not ctx.cuda:
        row.status, row.note = "skipped", "skipped on CPU (torch.compile is checked on the GPU)"
        return
    s = ctx.size
    network, attention = build_neo(s)
    n_matmul = matmul_params(network)
    row.params = sum(p.numel() for p in network.parameters())
    optim = framework_optim()
    out = bare_loop(network, ctx, compiled, optim, optim.grad_clip)
    fill_rates(row, ctx, out["steps_per_s"], flops_per_token(n_matmul, s.n_layer, s.d_model, s.seq))
    row.extra.update(out, matmul_params=n_matmul, attention=attention)
    row.note = f"{row.params:,} params ({n_matmul:,} in matmuls), attention {attention}"
    if compiled:
        row.note += f", compile + warmup {out['warmup_s']:.0f} s"


# -- rows 3 and 4: skillit.train ----------------------------------------------------------------


def run_prepare(argv: list[str]) -> None:
    """`skillit prepare ...` in this process; its report goes to stderr (stdout is the table)."""
    from skillit.cli import main as cli

    with contextlib.redirect_stdout(sys.stderr):
        code = cli(["prepare", *argv, "--no-progress"])
    if code:
        raise RuntimeError(f"skillit prepare {' '.join(argv)} exited with {code}")


def prepare_corpus(cache: Path, vocab: int) -> Path:
    """The demo corpus tokenized with exactly `vocab` tokens (reused when already prepared).

    `skillit prepare --demo --bpe-vocab V` trains a byte BPE that stops when the text runs out of
    merges (about 37k for V = 50257); then its tokenizer is padded with unused special tokens to V
    and the demo is prepared again with `--tokenizer`, so the framework's network (sized by the
    tokenizer) is the bare loop's.
    """
    bpe = cache / f"demo-bpe{vocab}"
    if not (bpe / "manifest.json").is_file():
        shutil.rmtree(bpe, ignore_errors=True)
        run_prepare([str(bpe), "--demo", "--bpe-vocab", str(vocab)])
    have = json.loads((bpe / "manifest.json").read_text())["vocab_size"]
    if have == vocab:
        return bpe
    if have > vocab:
        raise RuntimeError(f"the BPE of {bpe} has {have} tokens, more than {vocab}")
    padded = cache / f"demo-padded{vocab}"
    if (padded / "manifest.json").is_file():
        return padded
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(bpe / "tokenizer.json"))
    tokenizer.add_special_tokens([f"<|gpu_check_unused_{i}|>" for i in range(vocab - have)])
    if tokenizer.get_vocab_size() != vocab:
        raise RuntimeError(f"padding gave {tokenizer.get_vocab_size()} tokens, not {vocab}")
    tok_path = cache / f"tokenizer-padded{vocab}.json"
    tokenizer.save(str(tok_path))
    shutil.rmtree(padded, ignore_errors=True)
    run_prepare([str(padded), "--demo", "--tokenizer", str(tok_path)])
    return padded


def framework_config(ctx: Context, trainer_file: str | None, steps: int, extra: list[str]):
    """domains_cpu + a trainer file + the row-1 model, the Skill-It strategy and one round."""
    s = ctx.size
    domains = list(json.loads((ctx.corpus / "manifest.json").read_text())["domains"])
    k = len(domains)
    graph = [[1.0 if i == j else 0.5 for j in range(k)] for i in range(k)]
    run_dir = tempfile.mkdtemp(prefix="run-", dir=ctx.work)
    files = [resolve_config("domains_cpu")]
    if trainer_file:
        files.append(TRAINER_DIR / trainer_file)
    overrides = [
        f"data.tokens.path={ctx.corpus}",
        "data.tokens.val_windows=4",
        f"data.global_batch_size={s.batch}",
        f"data.eval_batch_size={s.batch}",
        f"model.n_layer={s.n_layer}",
        f"model.n_head={s.n_head}",
        f"model.d_model={s.d_model}",
        f"model.max_seq_len={s.seq}",
        "mixing.strategy=skillit",
        f"mixing.graph.matrix={json.dumps(graph).replace(' ', '')}",
        f"mixing.graph.train_skills=[{','.join(domains)}]",
        "mixing.rounds=1",
        "mixing.plots=false",
        f"trainer.max_steps={steps}",
        "trainer.precision=bf16-mixed",
        "trainer.progress_bar=false",
        "logger.wandb=off",
        "logger.csv=false",
        f"run_dir={run_dir}",
        "seed=0",
    ]
    if ctx.cuda:
        overrides.append("trainer.threads=null")  # domains_cpu's one CPU thread is for CPUs
    return load_config(files, [*overrides, *extra])


class StepTimer(L.Callback):
    """Wall time from the start of step `warmup` to the end of the last step (synchronised at
    both ends), the end of training, and the network's parameter count."""

    def __init__(self, warmup: int, device: torch.device) -> None:
        self.warmup, self.device = warmup, device
        self.start: float | None = None
        self.end: float | None = None
        self.last_step = 0
        self.train_end: float | None = None
        self.params: int | None = None

    def setup(self, trainer, pl_module, stage: str) -> None:  # before any strategy wraps it
        self.params = sum(p.numel() for p in pl_module.network.parameters())

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if self.start is None and trainer.global_step == self.warmup:
            sync(self.device)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if trainer.global_step >= trainer.max_steps:
            sync(self.device)
        self.end = time.perf_counter()
        self.last_step = trainer.global_step

    def on_train_end(self, trainer, pl_module) -> None:
        self.train_end = time.perf_counter()


def timed_train(ctx: Context, cfg, warmup: int) -> tuple[StepTimer, float]:
    """skillit.train(cfg) with a StepTimer; (the timer, wall seconds of train())."""
    from skillit.training import train

    timer = StepTimer(warmup, ctx.device)
    begin = time.perf_counter()
    try:
        with contextlib.redirect_stdout(sys.stderr):
            train(cfg, extra_callbacks=[timer])
    finally:
        shutil.rmtree(cfg.run_dir, ignore_errors=True)  # its checkpoint: 1.5 GB at GPU sizes
    wall = time.perf_counter() - begin
    if timer.start is None or timer.end is None or timer.last_step <= warmup:
        raise RuntimeError(f"no timed steps (last step {timer.last_step}, warmup {warmup})")
    return timer, wall


def timer_steps_per_s(timer: StepTimer, warmup: int) -> float:
    return (timer.last_step - warmup) / (timer.end - timer.start)


def framework_row(row: Row, ctx: Context) -> None:
    s = ctx.size
    cfg = framework_config(ctx, "gpu.yaml" if ctx.cuda else None, ctx.warmup + ctx.steps, [])
    timer, wall = timed_train(ctx, cfg, ctx.warmup)
    row.params = timer.params
    from skillit.model.gpt import GPT, GPTConfig

    with torch.device("meta"):  # the row-1 network's count without its memory
        n_matmul = matmul_params(GPT(GPTConfig(s.vocab, s.seq, s.n_layer, s.n_head, s.d_model)))
    fill_rates(
        row,
        ctx,
        timer_steps_per_s(timer, ctx.warmup),
        flops_per_token(n_matmul, s.n_layer, s.d_model, s.seq),
    )
    round_end = timer.train_end - timer.end
    row.extra.update(round_end_s=round_end, train_wall_s=wall, corpus=str(ctx.corpus))
    notes = []
    if ctx.bare_gpt_steps_per_s:
        ratio = row.steps_per_s / ctx.bare_gpt_steps_per_s
        row.extra["ratio_to_bare"] = ratio
        notes.append(f"{ratio:.2f} of row 1 eager")
    else:
        notes.append("ratio n/a (row 1 eager did not run)")
    if ctx.gpt_params is not None and timer.params != ctx.gpt_params:
        notes.append(f"NOT row 1's model: {timer.params} vs {ctx.gpt_params} params")
    notes.append(f"round end (eval, Skill-It update, checkpoint) {round_end:.1f} s")
    notes.append(f"train() {wall:.1f} s")
    row.note = "; ".join(notes)


def fsdp_row(row: Row, ctx: Context) -> None:
    base = ["trainer.devices=1"] + ([] if ctx.cuda else ["trainer.accelerator=cpu"])
    steps = ctx.fsdp_warmup + ctx.fsdp_steps

    def attempt(extra: list[str]) -> tuple[StepTimer, float]:
        cfg = framework_config(ctx, "fsdp.yaml", steps, [*base, *extra])
        assert cfg.trainer.strategy == "fsdp" and cfg.trainer.devices == 1
        return timed_train(ctx, cfg, ctx.fsdp_warmup)

    try:
        timer, wall = attempt([])
    except ValueError as exc:
        if not ctx.cuda and "requires a GPU" in str(exc):  # Lightning's own refusal
            row.status = "skipped"
            row.note = "skipped on CPU (needs CUDA): config built, Lightning refuses FSDP on CPU"
            row.extra["refusal"] = one_line(exc)
            return
        raise
    except Exception as exc:
        if "gradient_clip" not in str(exc):
            raise
        # The shipped config clips by norm, which Lightning's FSDP precision refuses: report that
        # as the row's error, and whether the rest of the path runs without clipping.
        row.status, row.error = "error", one_line(exc)
        row.traceback = traceback.format_exc()[-4000:]
        try:
            timer, wall = attempt(["optim.grad_clip=0"])
        except Exception as retry:
            row.note = f"retried with optim.grad_clip=0: also failed: {one_line(retry)}"
            return
        rate = timer_steps_per_s(timer, ctx.fsdp_warmup)
        row.extra["retry_grad_clip_0"] = {"steps_per_s": rate, "train_wall_s": wall}
        row.note = f"retried with optim.grad_clip=0: ok, {rate:.2f} steps/s"
        return
    row.params = timer.params
    rate = timer_steps_per_s(timer, ctx.fsdp_warmup)
    row.steps_per_s = rate
    row.tokens_per_s = rate * ctx.size.batch * ctx.size.seq
    row.extra["train_wall_s"] = wall
    row.note = f"{ctx.fsdp_steps} timed steps after {ctx.fsdp_warmup}; train() {wall:.1f} s"


# -- the check --------------------------------------------------------------------------------


def run_row(key: str, title: str, fn: Callable[[Row], None], ctx: Context) -> Row:
    row = Row(key, title)
    print(f"[gpu_check] {title} ...", file=sys.stderr, flush=True)
    gc.collect()
    if ctx.cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(ctx.device)
    begin = time.perf_counter()
    try:
        fn(row)
    except Exception as exc:
        row.status, row.error = "error", one_line(exc)
        row.traceback = traceback.format_exc()[-4000:]
        print(row.traceback, file=sys.stderr)
    row.wall_s = time.perf_counter() - begin
    if ctx.cuda and row.status != "skipped":
        row.peak_mem_gib = torch.cuda.max_memory_allocated(ctx.device) / 2**30
    if "compile" in key:
        torch._dynamo.reset()  # drop compiled graphs before the next row
    gc.collect()
    if ctx.cuda:
        torch.cuda.empty_cache()
    return row


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def print_table(rows: list[Row]) -> None:
    print("| row | status | steps/s | tokens/s | MFU | peak mem (GiB) | note |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        status = r.status if r.status != "error" else f"error: {r.error}"
        note = r.note.replace("|", "/")
        status = status.replace("|", "/")
        print(
            f"| {r.title} | {status} | {fmt(r.steps_per_s, '.2f')} | {fmt(r.tokens_per_s, ',.0f')} "
            f"| {fmt(None if r.mfu is None else 100 * r.mfu, '.1f')}{'%' if r.mfu is not None else ''} "
            f"| {fmt(r.peak_mem_gib, '.1f')} | {note} |"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="run every row's code path on CPU at tiny sizes (under a minute); no GPU needed",
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="timed steps per row (default 50; 6 dry)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="untimed steps first, compilation included (default 10; 2 dry)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=None,
        help="rows per step (default 16; 8 dry); lower on small GPUs",
    )
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="the device's dense bf16 peak in TFLOP/s for MFU (default: from the table of known GPUs)",
    )
    parser.add_argument(
        "--rows",
        default=",".join(k for k, _ in ROWS),
        help=f"comma-separated rows to run (default all: {','.join(k for k, _ in ROWS)})",
    )
    parser.add_argument(
        "--cache",
        default=str(REPO / "benchmarks" / "out" / "gpu_check"),
        help="folder the demo corpus is prepared into once and reused from",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="JSON result (default benchmarks/out/gpu_check.json; gpu_check_dry.json with --dry-run)",
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.rows.split(",")) - {k for k, _ in ROWS})
    if unknown:
        parser.error(f"--rows: unknown rows {unknown}; choose from {[k for k, _ in ROWS]}")
    for name in ("steps", "warmup", "batch"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "warmup" else 1):
            parser.error(f"--{name} must be >= {0 if name == 'warmup' else 1}, got {value}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dry = args.dry_run
    if not dry and not torch.cuda.is_available():
        print("gpu_check: no CUDA device visible to torch; use --dry-run on CPU", file=sys.stderr)
        return 2
    if dry:
        os.environ.setdefault("RAYON_NUM_THREADS", "1")  # prepare's tokenizer: one core
        torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    for name in ("lightning.pytorch", "lightning.fabric", "transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        hf_version = transformers.__version__
    except ImportError:
        hf_version = None

    device = torch.device("cpu" if dry else "cuda")
    size = DRY_SIZE if dry else GPU_SIZE
    if args.batch:
        size = replace(size, batch=args.batch)
    peak, peak_source = peak_flops(device, args.peak_tflops)
    out = args.out or str(
        REPO / "benchmarks" / "out" / ("gpu_check_dry.json" if dry else "gpu_check.json")
    )
    wanted = set(args.rows.split(","))
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"

    with tempfile.TemporaryDirectory(prefix="gpu_check-") as work:
        ctx = Context(
            size=size,
            device=device,
            steps=args.steps or (6 if dry else 50),
            warmup=args.warmup if args.warmup is not None else (2 if dry else 10),
            fsdp_steps=3 if dry else 10,
            fsdp_warmup=1 if dry else 3,
            peak=peak,
            work=Path(work),
        )
        rows: list[Row] = []

        def corpus_then(fn):
            def run(row: Row) -> None:
                if ctx.corpus is None:
                    ctx.corpus = prepare_corpus(Path(args.cache), size.vocab)
                fn(row, ctx)

            return run

        runners = {
            "gpt-eager": lambda row: gpt_row(row, ctx, compiled=False),
            "gpt-compile": lambda row: gpt_row(row, ctx, compiled=True),
            "neo-eager": lambda row: neo_row(row, ctx, compiled=False),
            "neo-compile": lambda row: neo_row(row, ctx, compiled=True),
            "framework": corpus_then(framework_row),
            "fsdp": corpus_then(fsdp_row),
        }
        begin = time.perf_counter()
        for key, title in ROWS:
            if key in wanted:
                rows.append(run_row(key, title, runners[key], ctx))
        total = time.perf_counter() - begin

    s = size
    print()
    print(
        f"workload: {'DRY RUN on CPU, ' if dry else ''}{s.n_layer} layers, d_model {s.d_model}, "
        f"{s.n_head} heads, seq {s.seq}, vocab {s.vocab}, batch {s.batch}, bf16 autocast, AdamW; "
        f"{ctx.steps} timed steps after {ctx.warmup} (fsdp {ctx.fsdp_steps} after "
        f"{ctx.fsdp_warmup}), seed 0"
    )
    print(
        f"machine: {device_name}, torch {torch.__version__}, transformers {hf_version}, "
        f"lightning {L.__version__}; MFU peak: "
        f"{'n/a' if peak is None else f'{peak / 1e12:.0f} TFLOP/s'} ({peak_source}); "
        f"total {total:.0f} s"
    )
    print()
    print_table(rows)
    print()
    failed = [r.key for r in rows if r.status == "error"]
    write_result(
        out,
        {
            "dry_run": dry,
            "device": device_name,
            "torch": torch.__version__,
            "transformers": hf_version,
            "lightning": L.__version__,
            "peak_flops": peak,
            "peak_source": peak_source,
            "workload": {
                **asdict(size),
                "steps": ctx.steps,
                "warmup": ctx.warmup,
                "fsdp_steps": ctx.fsdp_steps,
                "fsdp_warmup": ctx.fsdp_warmup,
                "seed": 0,
                "corpus": None if ctx.corpus is None else str(ctx.corpus),
            },
            "total_s": total,
            "rows": [asdict(r) for r in rows],
            "failed": failed,
        },
    )
    if failed:
        print(f"failed rows: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
