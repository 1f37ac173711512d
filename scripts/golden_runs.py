"""Refactor guard: run eight representative jobs at one thread and print the SHA-256 of the files
that must not change (mixture_history.jsonl and final_eval.json).

    python scripts/golden_runs.py OUT [--corpus DIR] [--only NAME ...]

Run it on the commit before a refactor and on the one after (same machine, same torch), then
compare the two OUT/hashes.json. The corpus run, the ODM, Aioli and DoReMi runs train on a small
demo-corpus copy, prepared once into OUT/corpus (or the --corpus given). DoReMi's reference is
the corpus run's own last checkpoint.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NATINST = REPO.parent / "shared" / "natinst"
COMMON = ["trainer.threads=1", "trainer.progress_bar=false", "logger.wandb=off"]
CORPUS_RUN = [
    "data.tokens.domains=[python,pydoc,docstrings,unicode]",
    "trainer.max_steps=200",
    "mixing.plots=false",
]


def jobs(corpus: Path, out: Path) -> dict[str, list[str]]:
    corpus_args = ["domains_cpu", f"data.tokens.path={corpus}", *CORPUS_RUN]
    return {
        "main": ["ordered"],
        "lego_cpt_skillit": ["lego_cpt_cpu", "trainer.max_steps=600", "mixing.strategy=skillit"],
        # pydoc is the smallest domain: a cap of 0.2 epochs is hit within the 200 steps
        "corpus_cap": [*corpus_args, "mixing.strategy=stratified", "data.tokens.max_epochs=0.2"],
        "odm": [*corpus_args, "mixing.strategy=odm"],
        "aioli": [*corpus_args, "mixing.strategy=aioli", "mixing.aioli.sweeps=1"],
        "doremi": [
            *corpus_args,
            "mixing.strategy=doremi",
            f"mixing.doremi.reference={out / 'corpus_cap' / 'checkpoints' / 'last.ckpt'}",
        ],
        "curriculum": ["compose_cpt_cpu", "mixing.strategy=curriculum", "trainer.max_steps=960"],
        "natinst": [
            "ni_stance_cpu",
            f"data.natinst.root={NATINST}",
            "data.natinst.min_instances=0",  # the sample holds a 29-instance text-matching task
            "trainer.max_steps=120",
            "mixing.plots=false",
        ],
    }


def sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--corpus", type=Path, help="a prepared demo corpus (default OUT/corpus)")
    parser.add_argument("--only", nargs="*", help="run only these jobs")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    skillit = [sys.executable, "-m", "skillit.cli"]
    corpus = (args.corpus or out / "corpus").resolve()
    if not (corpus / "manifest.json").is_file():
        subprocess.run(
            [*skillit, "prepare", str(corpus), "--demo", "--bpe-vocab", "1024"], check=True
        )
    saved = out / "hashes.json"  # --only updates its jobs' entries and keeps the others
    hashes: dict[str, dict[str, str | None]] = (
        json.loads(saved.read_text()) if saved.is_file() else {}
    )
    for name, argv_ in jobs(corpus, out).items():
        if args.only and name not in args.only:
            continue
        run_dir = out / name
        cmd = [*skillit, "train", *argv_, *COMMON, f"run_dir={run_dir}", "--overwrite"]
        print("+", " ".join(cmd[2:]), flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        hashes[name] = {
            f: sha256(run_dir / f) for f in ("mixture_history.jsonl", "final_eval.json")
        }
        print(name, hashes[name], flush=True)
        saved.write_text(json.dumps(hashes, indent=2) + "\n")  # after every job: a kill keeps them
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
