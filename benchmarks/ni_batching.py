"""Speed of producing Natural Instructions training batches, one thread.

    .venv/bin/python benchmarks/ni_batching.py [--root /work/shared/natinst] [--batches 40]

Every task of the sample is a skill by its category (no split file, no instance minimum). A row
times `--batches` calls of `train_examples(skill, 8, rng)` plus the conversion to torch tensors,
after a warm-up call that tokenizes the skill's tasks (timed apart). tokens/s counts real tokens
(not padding); fill is real tokens / max_len; instances/seq counts packed instances. Each row is
the best of `--repeats` runs. The BPE is trained once into benchmarks/out/cache and reused.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # numpy, torch and the Rust tokenizer all on one thread
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from skillit.sources.natinst import NatInstSource, NatInstSourceConfig, NatInstWarning

REPO = Path(__file__).resolve().parents[1]


def default_root() -> str:
    return os.environ.get("SKILLIT_NATINST") or str(REPO.parent / "shared" / "natinst")


def to_tensors(ex) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(ex.input_ids), torch.from_numpy(ex.loss_mask)


def instances_per_row(mask: np.ndarray) -> np.ndarray:
    """Packed instances per row = runs of scored positions."""
    starts = mask & ~np.pad(mask, ((0, 0), (1, 0)))[:, :-1]
    return starts.sum(axis=1)


def time_skill(src: NatInstSource, skill: int, batches: int, batch: int, repeats: int) -> dict:
    best, real, rows, instances = float("inf"), 0, 0, 0
    for rep in range(repeats):
        rng = np.random.default_rng(rep)
        real = rows = instances = 0
        start = time.perf_counter()
        for _ in range(batches):
            ex = src.train_examples(skill, batch, rng)
            ids, _ = to_tensors(ex)
            real += int((ids != src.pad_id).sum())
            rows += len(ex)
            instances += int(instances_per_row(ex.loss_mask).sum())
        best = min(best, time.perf_counter() - start)
    return {
        "seconds": best,
        "sequences_per_s": rows / best,
        "tokens_per_s": real / best,
        "fill": real / (rows * src.max_len),
        "instances_per_seq": instances / rows,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=default_root())
    p.add_argument("--batches", type=int, default=40, help="batches per skill and repeat")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-len", type=int, default=512)
    p.add_argument("--vocab-size", type=int, default=8192)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cache-dir", default=str(REPO / "benchmarks" / "out" / "cache"))
    p.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "ni_batching.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    cfg = NatInstSourceConfig(
        root=args.root,
        dev_size=50,
        max_len=args.max_len,
        vocab_size=args.vocab_size,
        cache_dir=args.cache_dir,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NatInstWarning)  # small sample tasks clip the hold-out
        src = NatInstSource(cfg)
    setup = time.perf_counter() - start

    rows = []
    for skill, name in enumerate(src.skill_names):
        start = time.perf_counter()
        src.train_examples(skill, 1, np.random.default_rng(0))  # tokenizes the skill's tasks
        warmup = time.perf_counter() - start
        row = {"skill": name, "tasks": len(src.tasks_of(skill)), "warmup_s": warmup}
        row.update(time_skill(src, skill, args.batches, args.batch_size, args.repeats))
        rows.append(row)
    total_s = sum(r["seconds"] for r in rows)
    total_tokens = sum(r["tokens_per_s"] * r["seconds"] for r in rows)
    overall = {
        "tokens_per_s": total_tokens / total_s,
        "batches_per_s": len(rows) * args.batches / total_s,
        "warmup_s": sum(r["warmup_s"] for r in rows),
    }

    head = f"{'skill':38} {'tasks':>5} {'seq/s':>8} {'tokens/s':>10} {'fill':>5} {'inst/seq':>8}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['skill']:38} {r['tasks']:>5} {r['sequences_per_s']:>8.0f} "
            f"{r['tokens_per_s']:>10.0f} {r['fill']:>5.2f} {r['instances_per_seq']:>8.1f}"
        )
    print("-" * len(head))
    print(
        f"all skills: {overall['tokens_per_s']:.0f} tokens/s, {overall['batches_per_s']:.0f} "
        f"batches/s of {args.batch_size} x {args.max_len}; source setup {setup:.2f} s, "
        f"first-use tokenization {overall['warmup_s']:.2f} s in all"
    )

    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "threads": 1,
        "root": args.root,
        "batch_size": args.batch_size,
        "max_len": args.max_len,
        "vocab_size": args.vocab_size,
        "batches_per_skill": args.batches,
        "repeats": args.repeats,
        "setup_s": setup,
        "overall": overall,
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
