"""Does `skillit graph learn` recover prerequisite structure that is known by construction?

    .venv/bin/python benchmarks/graph_recovery.py [--steps 100] [--seeds 3] [--min-z 2] [--jobs 2]
        [--only lego_chain ...] [--methods transfer,linear,brute] [--compose-worlds 0-4]
        [--out benchmarks/out/graph_recovery.json] [--reuse]

Transfer (the default of `skillit graph learn`) warms each seed's model up for 4 x the probe steps
on the uniform mixture, then compares probes without one skill against a control (see
skillit.graphlearn.probes); its cost in training steps, warm-ups included, is in the table as a
fraction of one compose run (4800 steps). Skill sets, each learned with every method: probes of
--steps steps from each seed's random init (1-layer GPT d=64, batch 64, lr 1e-3), seeds 0..--seeds-1 averaged.

- lego_chain: LEGO, chain of k=5 variables, chain-of-answers format scoring every listed value.
  Skill i asks the variable at depth i; its answer walks the chain through depths 1..i, so skill i
  needs every skill j < i. Known edges: j -> i for j < i (10 of the 20 ordered pairs).
- lego_tree: LEGO on a balanced binary tree of k=15 variables, skill i = a variable at depth i
  (4 skills); the answer walks from the root, so again j -> i for j < i (6 of 12 pairs).
- compose: the ordered-skill family (composition of 8 permutations of 8 symbols, worlds
  --compose-worlds), depths
  1..3, with its own 3-layer model (configs/graph_learn/compose.yaml, 200-step probes unless
  --steps is given). Depth d composes d lookups, so depth d needs every shallower depth: known
  edges j -> i for j < i (3 of 6 pairs). Brute force probes from each seed's random init; the
  linear method from a start model that already knows the format (as the paper's probes do):
  --compose-start-steps steps of stratified training on seed 0 (written under the output folder).
- independent (control): a toy JSONL set of three skills that share nothing: each has its own
  prompt and answer tokens (no token appears in two skills, and no end-of-sequence token is scored,
  which would be a shared answer) and its own operation (copy the first token; look a pair up in a
  fixed random table; count the x among x/y tokens). Known edges: none (0 of 6 pairs). Addition
  digits would not do: the digit-sum step and the carry are shared between digits.

Two rules decide which pairs i != j count as found edges, both from the same probes: "mean > 0" is
the paper's (the learned A[i, j] > 0: the mean drop over seeds is positive; this is the graph
written), "z > Z" also asks the mean to exceed Z standard errors over the seeds (--min-z).
Times: "wall s" is this run's wall time per
method (--jobs workers, their start-up included), "probe s" the summed run time of its probes.
Precision = found edges that are known / found; recall = known edges found / known; "rev" counts
found edges i -> j whose reverse j -> i is the known one. For the control (no known edges) the
number of false edges is the measure. Probe results, graphs, heatmaps and summaries land in
benchmarks/out/graph_recovery/<set>-<method>/; the table and all numbers in --out (JSON).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import platform
import shutil
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "graph_learn" / "lego_chain.yaml"
COMPOSE_CONFIG = ROOT / "configs" / "graph_learn" / "compose.yaml"


# -- the independent control ----------------------------------------------------------------------
def write_independent_skills(path: Path, per_skill: int = 3000, seed: int = 0) -> Path:
    """Three unrelated skills with disjoint vocabularies, as JSONL (skill, prompt, answer)."""
    rng = np.random.default_rng(seed)
    table = rng.integers(0, 10, size=(10, 10))
    rows = []
    for _ in range(per_skill):
        first = rng.integers(0, 10, size=4)
        rows.append(("first", "F " + " ".join(f"a{d}" for d in first), f"a{first[0]}"))
        u, v = rng.integers(0, 10, size=2)
        rows.append(("table", f"T b{u} b{v}", f"b{table[u, v]}"))
        xs = rng.integers(0, 2, size=6)
        rows.append(("count", "C " + " ".join("x" if x else "y" for x in xs), f"n{xs.sum()}"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for skill, prompt, answer in rows:
            fh.write(json.dumps({"skill": skill, "prompt": prompt, "answer": answer}) + "\n")
    return path


# -- skill sets with their known structure ------------------------------------------------------
def prerequisite_edges(names: list[str]) -> np.ndarray:
    """Known edges j -> i for j < i (skill i needs every earlier skill)."""
    k = len(names)
    return np.triu(np.ones((k, k), dtype=bool), 1)


def workloads(work: Path, compose_worlds: list[int]) -> list[dict]:
    control = write_independent_skills(work / "independent.jsonl")
    composes = [
        {
            "name": "compose" if world == 0 else f"compose_w{world}",
            "config": COMPOSE_CONFIG,
            "overrides": [f"data.compose.world={world}"],
            "known": "j -> i for j < i",
            "steps": 200,
            "transfer_steps": 300,
            "linear_from_start_model": True,
        }
        for world in compose_worlds
    ]
    return composes + [
        {
            "name": "lego_chain",
            "overrides": ["data.lego.k=5", "data.lego.structure=chain"],
            "known": "j -> i for j < i",
        },
        {
            "name": "lego_tree",
            "overrides": ["data.lego.k=15", "data.lego.structure=tree"],
            "known": "j -> i for j < i",
        },
        {
            "name": "independent",
            "overrides": [
                "data.source=jsonl",
                f"data.jsonl.path={control}",
                "data.jsonl.add_eos=false",
                "data.jsonl.tokenizer=wordlevel",
            ],
            "known": "none",
        },
    ]


def compose_start_model(work: Path, steps: int) -> Path:
    """A model that knows the composition format: `steps` of stratified training (seed 0)."""
    from skillit.config import load_config
    from skillit.training import train

    run_dir = work / "compose-start"
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    if ckpt.is_file():
        return ckpt
    shutil.rmtree(run_dir, ignore_errors=True)
    cfg = load_config(
        [COMPOSE_CONFIG],
        [
            f"trainer.max_steps={steps}",
            "mixing.strategy=stratified",
            "mixing.rounds=1",
            "optim.warmup_steps=100",
            "mixing.plots=false",
            "logger.csv=false",
            "seed=0",
            f"run_dir={run_dir}",
        ],
    )
    train(cfg)
    return ckpt


def score(found: np.ndarray, known: np.ndarray) -> dict:
    off = ~np.eye(len(found), dtype=bool)
    found, known = found & off, known & off
    tp, fp, fn = (
        int((found & known).sum()),
        int((found & ~known).sum()),
        int((~found & known).sum()),
    )
    return {
        "pairs": int(off.sum()),
        "known_edges": int(known.sum()),
        "found_edges": int(found.sum()),
        "true_positives": tp,
        "false_positives": fp,
        "reversed": int((found & known.T & ~known).sum()),  # found i -> j where j -> i is known
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
    }


def learn(workload: dict, method: str, args, work: Path) -> dict:
    from skillit.build import build_source, resolve_skills
    from skillit.config import load_config
    from skillit.graphlearn.estimate import estimate_graph
    from skillit.graphlearn.learn import LearnSettings, learn_graph, write_outputs
    from skillit.graphlearn.runner import TrainerProbeRunner

    overrides = list(workload["overrides"])
    start_model = "each seed's random init"
    if method == "linear" and workload.get("linear_from_start_model"):
        ckpt = compose_start_model(work, args.compose_start_steps)
        overrides.append(f"model.init_from={ckpt}")
        start_model = f"{args.compose_start_steps} steps of stratified training ({ckpt})"
    cfg = load_config([workload.get("config", CONFIG)], [*overrides, "logger.wandb=off", "seed=0"])
    steps = args.steps if args.steps is not None else workload.get("steps", 100)
    if method == "transfer" and args.steps is None:
        steps = workload.get("transfer_steps", steps)
    warmup = 4 * steps if method == "transfer" else 0
    train, evals = resolve_skills(cfg, build_source(cfg))
    out = work / f"{workload['name']}-{method}"
    if not args.reuse:
        shutil.rmtree(out, ignore_errors=True)
    settings = LearnSettings(
        method=method,
        steps=steps,
        seeds=list(range(args.seeds)),
        normalize="paper",  # own entries 1, strongest edge 0.5: small edges stay visible
        warmup_steps=warmup,
        jobs=args.jobs,
        progress=False,
    )
    runner = TrainerProbeRunner(cfg, train, evals, out, warmup)
    start = time.perf_counter()
    result = learn_graph(runner, train, evals, settings, out, setup=runner.setup())
    seconds = time.perf_counter() - start
    write_outputs(result, out)
    known = np.zeros((len(train), len(train)), dtype=bool)
    if workload["known"] != "none":
        known = prerequisite_edges(train)
    strict = estimate_graph(result.estimate.raw, train, evals, min_z=args.min_z).matrix
    return {
        "structure": workload["name"],
        "method": method,
        "skills": train,
        "known": workload["known"],
        "steps_per_probe": steps,
        "start_model": start_model,
        "probes": len(result.losses),
        "probes_run": result.ran,
        "warmup_steps": warmup,
        "training_steps": settings.training_steps(list(result.losses)),
        "runs_of_4800": round(settings.training_steps(list(result.losses)) / 4800, 2),
        "backward_over_weakest_forward": backward_ratio(result.matrix),
        "seconds": round(seconds, 1),
        "probe_seconds": round(probe_seconds(out), 1),
        "matrix": np.round(result.matrix, 4).tolist(),
        "raw_mean": np.round(result.estimate.raw_mean, 5).tolist(),
        "raw_std": np.round(result.estimate.raw_std, 5).tolist(),
        "matrix_z": np.round(strict, 4).tolist(),
        "mean_rule": score(result.matrix > 0, known),
        "z_rule": score(strict > 0, known),
    }


def backward_ratio(matrix) -> float | None:
    """Strongest backward edge (i -> j, i > j) over the weakest direct forward edge (d -> d+1)."""
    a = np.asarray(matrix, dtype=np.float64)
    k = len(a)
    forward = min(a[d, d + 1] for d in range(k - 1))
    backward = max((a[i, j] for i in range(k) for j in range(i)), default=0.0)
    return None if forward <= 0 else round(float(backward / forward), 3)


def probe_seconds(out: Path) -> float:
    """Summed run time of the probes on record (also right when --reuse skipped them now)."""
    return sum(json.loads(p.read_text())["seconds"] for p in (out / "probes").glob("*.json"))


def fmt(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def print_table(rows: list[dict], z: float) -> None:
    left = (
        f"{'structure':<12} {'method':<8} {'k':>2} {'probes':>6} {'runs':>5} {'wall s':>6} "
        f"{'probe s':>7} "
        f"{'known':>5} "
    )
    mid = f" {'found':>5} {'TP':>3} {'FP':>3} {'rev':>3} {'prec.':>5} {'recall':>6} "
    right = f" {'found':>5} {'prec.':>5} {'recall':>6}"
    print(" " * len(left) + "|" + f"{'edge rule: mean > 0':^{len(mid)}}|" + f" z > {z:g}")
    print(left + "|" + mid + "|" + right)
    print("-" * len(left + mid + right + "||"))
    for r in rows:
        m, zr = r["mean_rule"], r["z_rule"]
        print(
            f"{r['structure']:<12} {r['method']:<8} {len(r['skills']):>2} {r['probes']:>6} "
            f"{r['runs_of_4800']:>5.2f} {r['seconds']:>6.1f} {r['probe_seconds']:>7.1f} {m['known_edges']:>5} | "
            f"{m['found_edges']:>5} "
            f"{m['true_positives']:>3} {m['false_positives']:>3} {m['reversed']:>3} "
            f"{fmt(m['precision']):>5} {fmt(m['recall']):>6} | {zr['found_edges']:>5} "
            f"{fmt(zr['precision']):>5} {fmt(zr['recall']):>6}"
        )


def parse_worlds(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(w) for w in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training steps per probe (h = H); default 100 (LEGO, control) and 200 (compose)",
    )
    parser.add_argument(
        "--compose-start-steps",
        type=int,
        default=600,
        help="stratified training steps of the compose start model for the linear method",
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds averaged (0, 1, ...)")
    parser.add_argument("--min-z", type=float, default=2.0, help="keep edges above Z std. errors")
    parser.add_argument("--jobs", type=int, default=2, help="probe worker processes")
    parser.add_argument("--only", nargs="*", default=None, help="structures to run (default all)")
    parser.add_argument(
        "--methods", default="transfer,linear,brute", help="comma-separated methods to run"
    )
    parser.add_argument(
        "--compose-worlds", default="0", help="compose worlds (development: 0-4), e.g. 0-4 or 0,2"
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "graph_recovery.json"))
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep finished probes from an earlier run (timings then shrink)",
    )
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    work = Path(args.out).with_suffix("")
    rows = []
    began = time.perf_counter()
    worlds = parse_worlds(args.compose_worlds)
    for workload in workloads(work, worlds):
        if args.only and not any(workload["name"].startswith(o) for o in args.only):
            continue
        for method in args.methods.split(","):
            rows.append(learn(workload, method, args, work))
            print(f"{workload['name']} {method}: {rows[-1]['seconds']:.1f} s", flush=True)
    print()
    print_table(rows, args.min_z)
    total = time.perf_counter() - began
    print(f"\ntotal {total:.0f} s; graphs, heatmaps and probe results in {work}/")
    report = {
        "command": "python benchmarks/graph_recovery.py "
        + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in vars(args).items()
            if k
            in (
                "steps",
                "seeds",
                "min_z",
                "jobs",
                "compose_start_steps",
                "methods",
                "compose_worlds",
            )
            and v is not None
        ),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads_per_process": 1,
        },
        "workload": {
            "model": "GPT 1 layer, d_model 64, 4 heads (configs/model/gpt_tiny.yaml); compose: "
            "3 layers (configs/model/gpt_compose.yaml)",
            "batch_size": 64,
            "steps_per_probe": "per result (steps_per_probe)",
            "seeds": list(range(args.seeds)),
            "start_model": "per result (start_model)",
            "edge_rules": {
                "mean_rule": "A[i, j] > 0 (mean drop over seeds > 0), i != j",
                "z_rule": f"mean drop > {args.min_z} standard errors over the seeds, i != j",
            },
        },
        "total_seconds": round(total, 1),
        "results": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
