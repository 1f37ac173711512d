"""The swarm: one short proxy run per sampled mixture, trained through the bench runner.

`swarm.json` in the search folder fixes the swarm before any run starts (the config, overrides,
steps, seed and every mixture); a rerun into the same folder continues it, skipping finished runs
(a run is finished when its final_eval.json exists), and a rerun with other settings is refused
naming them. Each run trains its mixture as `mixing.strategy=manual` for `steps` steps in one
round and evaluates every eval skill once, at its end.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from skillit.bench.runner import RunSpec, execute
from skillit.errors import SkillitError
from skillit.run.directory import FINAL_FILE
from skillit.utils import jsonio

SWARM_FILE = "swarm.json"


@dataclass
class Swarm:
    config: str
    overrides: list[str]
    steps: int
    seed: int
    skills: list[str]  # the training skills the mixtures are over
    eval_skills: list[str]
    mixtures: list[list[float]]
    tokens_per_step: int
    natural: list[float] = field(default_factory=list)
    train_tokens: list[float] | None = None  # per training skill, for a source that counts them

    @property
    def cost_tokens(self) -> int:
        """Training tokens of the whole swarm."""
        return len(self.mixtures) * self.steps * self.tokens_per_step

    def settings(self) -> dict:
        """What a continued search must share with the one that started the folder."""
        return {k: v for k, v in asdict(self).items() if k not in ("natural", "train_tokens")}


def save_or_check(swarm: Swarm, out: Path) -> None:
    """Write swarm.json, or check a rerun asks for the swarm already there."""
    path = out / SWARM_FILE
    if path.is_file():
        try:
            saved = Swarm(**jsonio.loads(path.read_text(), path))
        except (ValueError, TypeError) as exc:
            raise SkillitError(f"{path} is not a swarm file ({exc}); use another --out") from None
        changed = [k for k, v in swarm.settings().items() if saved.settings()[k] != v]
        if changed:
            raise SkillitError(
                f"{out} holds a search with other settings ({', '.join(changed)} differ); "
                "continue it with the same command, or choose another --out"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SWARM_FILE}.tmp")
    tmp.write_text(json.dumps(asdict(swarm), indent=2) + "\n")
    tmp.replace(path)


def weights_override(weights) -> str:
    return "mixing.weights=[" + ",".join(repr(float(w)) for w in weights) + "]"


def run_specs(swarm: Swarm, out: Path, threads: int = 1) -> list[RunSpec]:
    specs = []
    for i, weights in enumerate(swarm.mixtures):
        run_dir = out / "swarm" / f"mix{i:04d}"
        overrides = (
            *swarm.overrides,
            "mixing.strategy=manual",
            weights_override(weights),
            f"trainer.max_steps={swarm.steps}",
            "mixing.rounds=1",
            "mixing.eval_every=null",
            "mixing.plots=false",
            "logger.wandb=off",
            "logger.csv=false",
            "trainer.progress_bar=false",
            f"seed={swarm.seed}",
            f"run_dir={run_dir}",
        )
        specs.append(
            RunSpec(f"mix{i:04d}", swarm.seed, str(run_dir), swarm.config, overrides, threads)
        )
    return specs


def run_swarm(swarm: Swarm, out: Path, jobs: int, threads: int, progress: bool) -> dict:
    try:
        return execute(run_specs(swarm, out, threads), jobs=jobs, progress=progress)
    except (SkillitError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a proxy run crashed: say which, keep what finished
        raise SkillitError(
            f"a proxy run of the swarm failed ({type(exc).__name__}: {exc}); its train.log is "
            f"under {out / 'swarm'}; the finished runs are kept: rerun the same command"
        ) from exc


def swarm_losses(swarm: Swarm, out: Path) -> np.ndarray:
    """(runs, eval skills) final losses of the finished swarm; NaN where a loss is not finite."""
    rows = []
    for spec in run_specs(swarm, out):
        path = Path(spec.run_dir) / FINAL_FILE
        if not path.is_file():
            raise SkillitError(f"the swarm run {spec.run_dir} has not finished: rerun the search")
        try:
            losses = jsonio.loads(path.read_text(), path)["eval_loss"]
            rows.append(
                [float(losses[s]) if losses[s] is not None else np.nan for s in swarm.eval_skills]
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise SkillitError(f"{path} is not a finished run's result ({exc})") from None
    return np.array(rows, dtype=np.float64)


def target_of(losses: np.ndarray, eval_skills: list[str], target: str) -> np.ndarray:
    """Each run's target loss: `mean` over the eval skills, the `worst` one, or one skill's."""
    if target == "mean":
        return losses.mean(axis=1)
    if target == "worst":
        return losses.max(axis=1)
    if target in eval_skills:
        return losses[:, eval_skills.index(target)]
    raise SkillitError(
        f"--target must be mean, worst or an eval skill of {eval_skills}, got {target!r}"
    )
