"""RunRecord: what a run writes about itself while it trains.

- `mixture_history.jsonl`, one line per round (rank 0), and `ranks/rank<r>.jsonl` (every rank's
  own view, in a multi-process run, to check that all ranks agree):

      {"round": t, "step": ..., "weights": {skill: p_t}, "eval_loss": {skill: L after round t},
       "eval_acc": {...}, "next_weights": {skill: p_t+1}, <the strategy's signal>,
       <the data module's round details>, "delivered_samples": {skill: rows trained},
       "delivered_tokens": {skill: non-pad tokens}, <the epoch cap's record, for a corpus>}

  so p_{t+1} can be recomputed from the logged losses and the graph;
- `eval_history.jsonl`, one line per evaluation (round ends, and every mixing.eval_every steps);
- the console line of each round, the loggers' metrics (`mixture/<skill>`, the delivered counts,
  epochs seen) and, once the results are on disk, the run's plots.

On resume, the history files are cut back to what the checkpoint has seen (rounds; evaluations
by step), so a killed run's files continue the same trajectory.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Protocol

import lightning as L

from skillit.callbacks.mixing import MixingCallback, RoundOutcome
from skillit.errors import SkillitError
from skillit.run.directory import EVAL_FILE, HISTORY_FILE
from skillit.run.plots import plot_run
from skillit.utils import jsonio
from skillit.utils.kill_points import kill_point
from skillit.utils.safe_paths import append_inside, write_inside

log = logging.getLogger("skillit")


class RecordPart(Protocol):
    """A callback that adds its own keys to each round's history line."""

    def round_record(self, trainer: L.Trainer, outcome: RoundOutcome) -> dict[str, Any]: ...


def append_jsonl(path: Path, record: dict) -> None:
    """One line appended to a history file, never through a link planted at its name."""
    append_inside(path.parent, path.name, jsonio.dumps(record) + "\n")


def trim_history(path: Path, kept_up_to: int, key: str = "round") -> None:
    """Drop history lines a resumed checkpoint has not seen: of later rounds (or, by step, of
    later steps: a checkpoint inside a round); all of them on a fresh run."""
    if not path.exists():
        return
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    kept = []
    for n, line in enumerate(lines, start=1):
        try:
            value = jsonio.loads(line, path)[key]
        except (ValueError, KeyError, TypeError):
            if n == len(lines):  # the last line, cut short by a kill while it was written
                break
            raise SkillitError(
                f"{path}:{n} is not a history line (a JSON object with {key!r}); the file was "
                "edited or damaged: restore it, or start the run again with --overwrite"
            ) from None
        if value <= kept_up_to:
            kept.append(line)
    # a kill now leaves the old file or the new one
    write_inside(path.parent, path.name, "".join(line + "\n" for line in kept))


def history_line(outcome: RoundOutcome, train: list[str], evals: list[str]) -> dict[str, Any]:
    """The keys every round's history line starts with."""
    return {
        "round": outcome.round,
        "step": outcome.step,
        "weights": dict(zip(train, map(float, outcome.weights))),
        "eval_loss": dict(zip(evals, map(float, outcome.eval_loss))),
        "eval_acc": dict(zip(evals, map(float, outcome.eval_acc))),
        "next_weights": dict(zip(train, map(float, outcome.next_weights))),
        **{key: dict(zip(train, values)) for key, values in outcome.signal.items()},
        **outcome.details,
    }


class RunRecord(L.Callback):
    def __init__(
        self,
        mixing: MixingCallback,
        eval_skills: list[str],
        run_dir: str | Path,
        rounds: int,
        parts: list[RecordPart] = (),
        metric: str = "accuracy",
        loss_of: str = "answer tokens",
        plots: bool = True,
    ) -> None:
        self.mixing = mixing  # whose round outcomes are recorded
        self.train_skills = list(mixing.train_skills)
        self.eval_skills = list(eval_skills)
        self.run_dir = Path(run_dir)
        self.rounds = rounds
        self.parts = list(parts)  # in the order their keys appear in a history line
        self.metric = metric  # what the console line reports: accuracy, or the loss of a corpus
        self.loss_of = loss_of  # what the loss is over (plot labels)
        self.plots = plots

    @property
    def history_path(self) -> Path:
        return self.run_dir / HISTORY_FILE

    @property
    def eval_path(self) -> Path:
        return self.run_dir / EVAL_FILE

    def rank_path(self, rank: int) -> Path:
        return self.run_dir / "ranks" / f"rank{rank}.jsonl"

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        done = self.mixing.rounds_done
        if trainer.world_size > 1:
            trim_history(self.rank_path(trainer.global_rank), done)
        if trainer.is_global_zero:
            trim_history(self.history_path, done)
            if done == 0:
                weights = dict(zip(self.train_skills, map(float, trainer.datamodule.mixture)))
                log.info(mixture_line(1, weights))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:  # the step is restored by now (it is not at fit start)
            trim_history(self.eval_path, trainer.global_step, key="step")

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        result = pl_module.last_eval
        if trainer.sanity_checking or not trainer.is_global_zero or result is None:
            return
        append_jsonl(
            self.eval_path,
            {
                "round": trainer.current_epoch + 1,
                "step": result.step,
                "eval_loss": dict(zip(self.eval_skills, map(float, result.loss))),
                "eval_acc": dict(zip(self.eval_skills, map(float, result.acc))),
            },
        )
        kill_point("train.eval_line")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        outcome = self.mixing.last_round
        if trainer.sanity_checking or outcome is None or outcome.round != trainer.current_epoch + 1:
            return  # a replayed round end: on record already
        record = history_line(outcome, self.train_skills, self.eval_skills)
        for part in self.parts:
            record.update(part.round_record(trainer, outcome))
        if trainer.world_size > 1:  # each rank's own view, to check that all ranks agree
            append_jsonl(self.rank_path(trainer.global_rank), record)
        if trainer.is_global_zero:
            append_jsonl(self.history_path, record)
            kill_point("train.history_line")
            log.info(round_summary(record, self.rounds, self.metric))
            # per-skill eval losses reach the loggers as val/loss/<skill> from the module
            metrics = {f"mixture/{s}": w for s, w in record["weights"].items()}
            for key in ("delivered_samples", "delivered_tokens", "epochs"):
                metrics.update({f"{key}/{s}": v for s, v in record.get(key, {}).items()})
            metrics["round"] = float(outcome.round)
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=trainer.global_step)

    def draw_plots(self, trainer: L.Trainer) -> None:
        """The run's PNGs (and W&B images), drawn once its results are on disk (by train())."""
        if not (self.plots and trainer.is_global_zero and self.history_path.exists()):
            return
        try:
            images = plot_run(self.history_path, self.run_dir, self.loss_of, self.metric)
        except ImportError:  # matplotlib is an optional extra
            warnings.warn(
                "matplotlib is not installed: no plots (pip install skillit[plots])", stacklevel=2
            )
            return
        except Exception as exc:  # a plot is never worth a finished run's results
            warnings.warn(
                f"could not draw the plots ({type(exc).__name__}: {exc}); the results are kept "
                f"(redraw with skillit.run.plots.plot_run({str(self.history_path)!r}, ...))",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):
                for key, path in images.items():
                    logger.log_image(key=f"plots/{key}", images=[str(path)])


def mixture_line(round_t: int, weights: dict[str, float]) -> str:
    return f"round {round_t} mixture: " + "  ".join(f"{s} {w:.2f}" for s, w in weights.items())


def round_summary(record: dict, rounds: int | None = None, metric: str = "accuracy") -> str:
    """One line per round for the console: accuracy per eval skill (the loss, for a corpus:
    exact match of a whole window means nothing), then the next mixture."""
    of = f"/{rounds}" if rounds else ""
    if metric == "perplexity":
        acc = "loss " + "  ".join(f"{s} {v:.3f}" for s, v in record["eval_loss"].items())
    else:
        acc = "acc " + "  ".join(f"{s} {a * 100:.0f}%" for s, a in record["eval_acc"].items())
    final = rounds is not None and record["round"] >= rounds
    mix = "  ".join(f"{s} {w:.2f}" for s, w in record["next_weights"].items())
    trained = "  ".join(f"{s} {w:.2f}" for s, w in record["weights"].items())
    tail = f"trained on: {trained}" if final else f"next mixture: {mix}"
    return f"round {record['round']}{of} (step {record['step']}): {acc} | {tail}"
