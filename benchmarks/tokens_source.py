"""Throughput of the tokens source and of `skillit prepare`, each against a bare baseline.

    .venv/bin/python benchmarks/tokens_source.py [--corpus DIR]

Workload: the built-in demo corpus (`skillit prepare DIR --demo --bpe-vocab 4096`; prepared into
benchmarks/out/demo_corpus when --corpus is not given), windows of 128 tokens, batches of 64, one
thread everywhere (RAYON_NUM_THREADS=1, torch 1 thread), seed 0.

1. Tokens source: batches through the data module's stream (skill mixture, draw, memmap windows,
   tensors), against a bare loop that reads the same number of windows from the same memmaps at
   precomputed offsets into one int64 array. Goal: >= 0.9 of bare.
2. What the model consumes: tokens/s of a training step (forward + backward + AdamW) of the
   domains_cpu GPT on the same batches, to show the source is not the bottleneck.
3. `skillit prepare` on the python domain (workers 1) against tokenizers' encode_batch alone on
   the same documents. Goal: >= 0.8 of encode_batch.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # before tokenizers first runs: per-core numbers
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_io import best_seconds, write_result  # this folder: benchmarks run as scripts

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SEQ = 128
BATCH = 64


def source_throughput(corpus: Path, batches: int, seq: int) -> dict:
    from skillit.data import SkillDataModule
    from skillit.sources.tokens import TokensSource, TokensSourceConfig

    source = TokensSource(TokensSourceConfig(path=str(corpus)), seq_len=seq)
    names = source.skill_names
    dm = SkillDataModule(
        source, names, names, [batches], global_batch_size=BATCH, seed=0, fixed_width_rows=True
    )
    dm.set_mixture(source.natural_proportions())

    def through_skillit():
        for _ in dm.train_stream(1):
            pass

    # The bare loop: random windows of the same files, the shard of every row drawn up front,
    # each batch's offsets drawn by one generator call and read by the fastest read we know (a
    # row take per shard from a view of all its windows) into a new int64 array per batch (a
    # loader hands every batch on): no mixture, no per-batch keyed generator, no loss mask, no
    # tensors.
    shards = [source._map(p) for usable in source._usable for p, _ in usable]
    views = [np.lib.stride_tricks.sliding_window_view(x, seq) for x in shards]
    highs = np.array([len(x) for x in views])
    picks = np.random.default_rng(1).integers(0, len(shards), size=(batches, BATCH))
    groups = [[(s, np.flatnonzero(p == s)) for s in np.unique(p)] for p in picks]

    def bare():
        rng = np.random.default_rng(0)
        for b in range(batches):
            offsets = rng.integers(0, highs[picks[b]])
            out = np.empty((BATCH, seq), dtype=np.int64)
            for s, rows in groups[b]:
                out[rows] = views[s][offsets[rows]]

    tokens = batches * BATCH * seq
    t_skillit, t_bare = best_seconds(through_skillit, 3), best_seconds(bare, 3)
    return {
        "seq": seq,
        "tokens": tokens,
        "source_tok_s": tokens / t_skillit,
        "bare_tok_s": tokens / t_bare,
        "ratio_to_bare": t_bare / t_skillit,
        "source": source,
        "dm": dm,
    }


def model_throughput(dm, source, steps: int) -> float:
    """Tokens/s of training steps of the domains_cpu GPT (built as `skillit train` builds it)."""
    from skillit.build import build_network
    from skillit.config import load_config
    from skillit.utils.shipped import resolve_config

    torch.manual_seed(0)
    run = load_config([resolve_config("domains_cpu")], [f"model.max_seq_len={SEQ}"])
    net = build_network(run, source.tokenizer.get_vocab_size())
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    batches = [b for _, b in zip(range(steps), dm.train_stream(1))]
    start = time.perf_counter()
    for batch in batches:
        logits = net(batch["input_ids"])
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), batch["input_ids"][:, 1:].reshape(-1)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * BATCH * SEQ / (time.perf_counter() - start)


def prepare_throughput(corpus: Path) -> dict:
    from skillit.corpus.demo import python_sources
    from skillit.corpus.prepare import DomainInput, PrepareOptions, prepare_domain
    from skillit.corpus.shards import read_manifest
    from skillit.utils.tokenization import load_tokenizer

    manifest = read_manifest(corpus)
    tok_path = corpus / manifest.tokenizer
    tokenizer = load_tokenizer(tok_path)
    docs = list(python_sources())
    t_encode = best_seconds(lambda: tokenizer.encode_batch(docs, add_special_tokens=False), 2)
    tokens = sum(len(e.ids) + 1 for e in tokenizer.encode_batch(docs, add_special_tokens=False))

    def run_prepare():
        with tempfile.TemporaryDirectory() as tmp:
            prepare_domain(
                Path(tmp),
                DomainInput("python", Path("stdlib"), "demo"),
                python_sources(),
                tok_path,
                manifest.dtype,
                manifest.eos_id,
                PrepareOptions(progress=False),
            )

    t_prepare = best_seconds(run_prepare, 2)
    return {
        "tokens": tokens,
        "encode_batch_tok_s": tokens / t_encode,
        "prepare_tok_s": tokens / t_prepare,
        "ratio_to_encode_batch": t_encode / t_prepare,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=None, help="a prepared corpus (default: the demo)")
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "tokens_source.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    corpus = Path(args.corpus) if args.corpus else REPO / "benchmarks" / "out" / "demo_corpus"
    if not (corpus / "manifest.json").is_file():
        from skillit.cli import main as cli

        shutil.rmtree(corpus, ignore_errors=True)
        code = cli(["prepare", str(corpus), "--demo", "--bpe-vocab", "4096", "--no-progress"])
        if code:
            sys.exit(code)
    sources = [source_throughput(corpus, args.batches, seq) for seq in (128, 1024)]
    src = sources[0]
    model_tok_s = model_throughput(src.pop("dm"), src.pop("source"), steps=30)
    sources[1].pop("dm"), sources[1].pop("source")
    prep = prepare_throughput(corpus)
    print(
        f"workload: demo corpus {corpus}, batches of {BATCH}, 1 thread; "
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}"
    )
    print()
    print("| path | tokens/s | ratio | goal |")
    print("|---|---|---|---|")
    for r in sources:
        print(
            f"| bare numpy sampler over the memmaps, windows of {r['seq']} | {r['bare_tok_s']:,.0f} | 1 | |"
        )
        print(
            f"| tokens source through the data module, windows of {r['seq']} | "
            f"{r['source_tok_s']:,.0f} | {r['ratio_to_bare']:.2f} of bare | >= 0.9 |"
        )
    print(
        f"| model training step (domains_cpu GPT, windows of {SEQ}) | {model_tok_s:,.0f} | "
        f"source is {src['source_tok_s'] / model_tok_s:.0f}x faster | |"
    )
    print(f"| tokenizers encode_batch (python domain) | {prep['encode_batch_tok_s']:,.0f} | 1 | |")
    print(
        f"| skillit prepare (python domain, 1 worker) | {prep['prepare_tok_s']:,.0f} | "
        f"{prep['ratio_to_encode_batch']:.2f} of encode_batch | >= 0.8 |"
    )
    write_result(
        args.out,
        {"corpus": str(corpus), "sources": sources, "model_tok_s": model_tok_s, **prep},
    )


if __name__ == "__main__":
    main()
