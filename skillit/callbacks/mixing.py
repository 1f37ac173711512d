"""SkillItCallback: the one place that connects evaluation to the mixture.

A run is T rounds, numbered from 1; one round is one Lightning epoch. At fit start the callback
hands the strategy's mixture (p_1 on a fresh run, the restored one on a resume) to the data module.
At the end of round t the module has just evaluated every eval skill on its fixed validation set
(losses reduced across ranks as sums). The callback then asks the strategy for the next mixture,
makes every rank hold rank 0's copy, sets it on the data module (it takes effect when the next
round's loader is built), logs `mixture/<skill>` and appends one line to `mixture_history.jsonl`:

    {"round": t, "step": ..., "weights": {skill: p_t}, "eval_loss": {skill: L after round t},
     "eval_acc": {...}, "next_weights": {skill: p_t+1},
     "delivered_samples": {skill: rows trained}, "delivered_tokens": {skill: non-pad tokens}}

so p_{t+1} can be recomputed from the logged losses and the graph; the delivered counts (summed
over ranks) say what the round actually trained on, and reach the loggers as
`delivered_tokens/<skill>` and `delivered_samples/<skill>`. The strategy owns the mixture
and its state; the callback saves it in every checkpoint with the rounds done (and, for a
checkpoint inside a round, the round's delivered counts so far), and on resume cuts the history
files back to what the checkpoint has seen (rounds; evaluations by step), so a killed run
continues the same trajectory.
"""

from __future__ import annotations

import json
import logging
import math
import os
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from skillit.errors import SkillitError
from skillit.mixing.base import MixingStrategy
from skillit.mixing.repetition import cap_mixture, epochs_seen
from skillit.run.directory import EVAL_FILE, HISTORY_FILE
from skillit.run.plots import plot_run
from skillit.sampling import check_weights
from skillit.utils import jsonio

log = logging.getLogger("skillit")


def append_jsonl(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(jsonio.dumps(record) + "\n")


def trim_history(path: Path, kept_up_to: int, key: str = "round") -> None:
    """Drop history lines a resumed checkpoint has not seen: of later rounds (or, by step, of
    later steps: a checkpoint inside a round); all of them on a fresh run."""
    if not path.exists():
        return
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    kept = []
    for n, line in enumerate(lines, start=1):
        try:
            value = json.loads(line)[key]
        except (ValueError, KeyError, TypeError):
            if n == len(lines):  # the last line, cut short by a kill while it was written
                break
            raise SkillitError(
                f"{path}:{n} is not a history line (a JSON object with {key!r}); the file was "
                "edited or damaged: restore it, or start the run again with --overwrite"
            ) from None
        if value <= kept_up_to:
            kept.append(line)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    os.replace(tmp, path)  # a kill now leaves the old file or the new one


class SkillItCallback(L.Callback):
    def __init__(
        self,
        strategy: MixingStrategy,
        train_skills: list[str],
        eval_skills: list[str],
        run_dir: str | Path,
        plots: bool = True,
        show: str = "acc",
        max_epochs: float | None = None,
    ) -> None:
        self.strategy = strategy
        self.max_epochs = max_epochs  # data.tokens.max_epochs (skillit.mixing.repetition)
        self.show = show  # what the console line per round reports: "acc" or "loss"
        self.train_skills = list(train_skills)
        self.eval_skills = list(eval_skills)
        self.run_dir = Path(run_dir)
        self.plots = plots
        self.rounds_done = 0
        self._lookup = None  # source skill id -> training skill index
        self._pad_id = 0  # the source's, read once (a source may derive it)
        self._delivered: torch.Tensor | None = None  # (2, k): samples and tokens this round
        self._delivered_round = 0
        self._restored_delivered: tuple[int, list] | None = None
        self._train_tokens: np.ndarray | None = None  # per training skill (token sources)
        self._tokens_seen: np.ndarray | None = None  # delivered by the rounds done
        self.cap_hits: dict[str, int] = {}  # skill -> the round at whose end it reached the cap

    @property
    def history_path(self) -> Path:
        return self.run_dir / HISTORY_FILE

    @property
    def eval_path(self) -> Path:
        return self.run_dir / EVAL_FILE

    def rank_path(self, rank: int) -> Path:
        return self.run_dir / "ranks" / f"rank{rank}.jsonl"

    # -- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "rounds_done": self.rounds_done,
            "train_skills": self.train_skills,
            "strategy": self.strategy.state_dict(),
            # the round's delivered counts so far (a checkpoint inside a round continues them)
            "delivered_round": self._delivered_round,
            "delivered": None if self._delivered is None else self._delivered.cpu().tolist(),
            "tokens_seen": None if self._tokens_seen is None else self._tokens_seen.tolist(),
            "cap_hits": dict(self.cap_hits),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state.get("train_skills")
        if saved is not None and list(saved) != self.train_skills:
            raise SkillitError(
                f"checkpoint was trained on skills {saved}, this run has "
                f"skills.train={self.train_skills}"
            )
        self.rounds_done = int(state["rounds_done"])
        if state.get("delivered") is not None:
            self._restored_delivered = (int(state["delivered_round"]), state["delivered"])
        if state.get("strategy") is not None:
            self.strategy.load_state_dict(state["strategy"])
        if state.get("tokens_seen") is not None:
            self._tokens_seen = np.asarray(state["tokens_seen"], dtype=np.float64)
        self.cap_hits = {str(k): int(v) for k, v in state.get("cap_hits", {}).items()}

    # -- hooks ------------------------------------------------------------------------------------
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.world_size > 1:
            trim_history(self.rank_path(trainer.global_rank), self.rounds_done)
        if trainer.is_global_zero:
            trim_history(self.history_path, self.rounds_done)
        dm = trainer.datamodule
        counts = getattr(dm.source, "train_token_counts", None)
        if counts is not None:  # a corpus: epochs seen per domain, and the cap if one is set
            self._train_tokens = np.asarray(counts(), dtype=np.float64)[dm.source_train_ids]
            if self._tokens_seen is None:
                self._tokens_seen = np.zeros(len(self.train_skills))
        # The first mixture reaches the data module the way every later one does.
        first = self.rounds_done + 1
        dm.set_mixture(self._capped(trainer, first, self.strategy.current_weights))
        if trainer.is_global_zero and self.rounds_done == 0:
            weights = dict(zip(self.train_skills, map(float, trainer.datamodule.mixture)))
            show_round(trainer, mixture_line(1, weights))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:  # the step is restored by now (it is not at fit start)
            trim_history(self.eval_path, trainer.global_step, key="step")
        # Lightning does not call on_train_epoch_start for a round resumed at a step inside it
        self.on_train_epoch_start(trainer, pl_module)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._lookup is None:
            self._lookup = trainer.datamodule.skill_lookup().to(pl_module.device)
            self._pad_id = trainer.datamodule.source.pad_id
        k, round_t = len(self.train_skills), trainer.current_epoch + 1
        restored, self._restored_delivered = self._restored_delivered, None
        if restored is not None and restored[0] == round_t:  # resumed inside this round
            self._delivered = torch.tensor(restored[1], dtype=torch.float64).to(pl_module.device)
        else:
            self._delivered = torch.zeros(2, k, dtype=torch.float64, device=pl_module.device)
        self._delivered_round = round_t

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        skills = self._lookup[batch["skill"]]
        tokens = (batch["input_ids"] != self._pad_id).sum(1)
        self._delivered[0].index_add_(0, skills, torch.ones_like(skills, dtype=torch.float64))
        self._delivered[1].index_add_(0, skills, tokens.double())

    def delivered(self, trainer: L.Trainer) -> dict[str, dict[str, int]]:
        """Rows and non-pad tokens of each training skill this round, summed over the ranks."""
        if self._delivered is None:  # no training step ran in this process
            return {}
        total = trainer.strategy.reduce(self._delivered.clone(), reduce_op="sum").cpu().numpy()
        return {
            "delivered_samples": {s: int(v) for s, v in zip(self.train_skills, total[0])},
            "delivered_tokens": {s: int(v) for s, v in zip(self.train_skills, total[1])},
        }

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

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        round_t = trainer.current_epoch + 1
        if trainer.sanity_checking or round_t <= self.rounds_done:
            # Resuming from a round-end checkpoint replays that round's end hook: already done.
            return
        dm = trainer.datamodule
        result = pl_module.last_eval
        if result is None or result.step != trainer.global_step:
            raise RuntimeError(
                "SkillItCallback needs an evaluation at the end of every round; got "
                f"{'none' if result is None else f'one at step {result.step}'} "
                f"at step {trainer.global_step}"
            )
        details = dm.round_details(round_t)
        # A curriculum round draws its skill mix from the pool: record that, not the pool's source.
        used = np.asarray(details.pop("drawn", dm.mixture), dtype=np.float64)
        losses = np.asarray(result.loss, dtype=np.float64)
        diverged = self._divergence(trainer, pl_module, round_t, losses)
        # A non-finite loss makes the strategy keep the previous mixture (and warn).
        next_w = np.asarray(self.strategy.next_weights(round_t, losses), dtype=np.float64)
        # Every rank must hold the same mixture: take rank 0's (identical in exact arithmetic).
        next_w = np.asarray(trainer.strategy.broadcast(next_w.tolist(), src=0), dtype=np.float64)
        check_mixture(next_w, len(self.train_skills), self.strategy.name)
        delivered = self.delivered(trainer)
        repetition = self._repetition(round_t, delivered)
        requested = next_w
        next_w = self._capped(trainer, round_t + 1, next_w)
        dm.set_mixture(next_w)
        next_w = dm.mixture  # as the next round draws it (renormalised: may differ in the last bit)
        if self.max_epochs is not None and not np.array_equal(requested, next_w):
            repetition["requested_next_weights"] = dict(
                zip(self.train_skills, map(float, requested))
            )
        self.rounds_done = round_t
        record = {
            "round": round_t,
            "step": trainer.global_step,
            "weights": dict(zip(self.train_skills, map(float, used))),
            "eval_loss": dict(zip(self.eval_skills, map(float, losses))),
            "eval_acc": dict(zip(self.eval_skills, map(float, result.acc))),
            "next_weights": dict(zip(self.train_skills, map(float, next_w))),
            **{
                key: dict(zip(self.train_skills, values))
                for key, values in self.strategy.signal().items()
            },
            **details,
            **delivered,
            **repetition,
        }
        if trainer.world_size > 1:  # each rank's own view, to check that all ranks agree
            append_jsonl(self.rank_path(trainer.global_rank), record)
        if trainer.is_global_zero:
            append_jsonl(self.history_path, record)
            rounds = len(getattr(dm, "round_lengths", ())) or None
            show_round(trainer, round_summary(record, rounds, self.show))
            # per-skill eval losses reach the loggers as val/loss/<skill> from the module
            metrics = {f"mixture/{s}": w for s, w in record["weights"].items()}
            for key in ("delivered_samples", "delivered_tokens", "epochs"):
                metrics.update({f"{key}/{s}": v for s, v in record.get(key, {}).items()})
            metrics["round"] = float(round_t)
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=trainer.global_step)
        if diverged:  # the round is on record (non-finite values as null); stop here
            raise TrainingDiverged(diverged)

    def _repetition(self, round_t: int, delivered: dict) -> dict:
        """Epochs seen per domain by the end of round `round_t` (and the cap's record)."""
        if self._train_tokens is None or "delivered_tokens" not in delivered:
            return {}
        tokens = np.array([delivered["delivered_tokens"][s] for s in self.train_skills], float)
        self._tokens_seen = self._tokens_seen + tokens
        epochs = epochs_seen(self._tokens_seen, self._train_tokens)
        out: dict[str, Any] = {"epochs": dict(zip(self.train_skills, map(float, epochs)))}
        if self.max_epochs is not None:
            for skill, e in zip(self.train_skills, epochs):
                if e >= self.max_epochs * (1 - 1e-9) and skill not in self.cap_hits:
                    self.cap_hits[skill] = round_t
            out["max_epochs"] = float(self.max_epochs)
            out["cap_hits"] = dict(self.cap_hits)
        return out

    def _capped(self, trainer: L.Trainer, round_number: int, weights: np.ndarray) -> np.ndarray:
        """`weights` under data.tokens.max_epochs for round `round_number` (unchanged without a
        cap, or after the last round); a changed or impossible mixture is reported."""
        dm = trainer.datamodule
        weights = np.asarray(weights, dtype=np.float64)
        lengths = getattr(dm, "round_lengths", ())
        if self.max_epochs is None or self._train_tokens is None or round_number > len(lengths):
            return weights
        round_tokens = lengths[round_number - 1] * dm.global_batch_size * dm.source.train_width
        capped = cap_mixture(
            weights, self._tokens_seen, self._train_tokens, self.max_epochs, round_tokens
        )
        if capped.changed and trainer.is_global_zero:
            epochs = epochs_seen(self._tokens_seen, self._train_tokens)
            moved = ", ".join(
                f"{s} {a:.3f} -> {b:.3f} (seen {e:.2f} epochs of {t:,.0f} tokens)"
                for s, a, b, e, t in zip(
                    self.train_skills, weights, capped.weights, epochs, self._train_tokens
                )
                if abs(a - b) > 1e-12
            )
            if capped.honoured:
                log.warning(
                    "round %d: data.tokens.max_epochs=%g changes the mixture: %s",
                    round_number,
                    self.max_epochs,
                    moved,
                )
            else:
                log.warning(
                    "round %d: the domains have %.0f tokens left under data.tokens.max_epochs=%g "
                    "but the round draws %.0f: every domain goes over its cap (%s)",
                    round_number,
                    float(capped.room.sum() * round_tokens),
                    self.max_epochs,
                    float(round_tokens),
                    moved,
                )
        return capped.weights

    @staticmethod
    def _divergence(trainer, pl_module, round_t: int, losses: np.ndarray) -> str | None:
        """Why the run cannot go on (every loss of the round non-finite), or None."""
        finite = getattr(pl_module, "finite_train_steps", None)
        if finite is not None:  # summed over ranks, so every rank takes the same decision
            finite = float(trainer.strategy.reduce(finite.clone(), reduce_op="sum"))
        if np.isfinite(losses).any() and (finite is None or finite > 0):
            return None
        what = "every evaluation loss" if not np.isfinite(losses).any() else "every training loss"
        lr = getattr(getattr(pl_module, "optim_cfg", None), "lr", None)
        return (
            f"training diverged: {what} of round {round_t} is non-finite (at step "
            f"{trainer.global_step}); the likely cause is a learning rate too high for this model"
            f"{f' (optim.lr={lr:g})' if lr is not None else ''}: lower optim.lr, keep "
            "optim.grad_clip > 0, or check the data of the skills. The rounds so far are in "
            "mixture_history.jsonl"
        )

    def draw_plots(self, trainer: L.Trainer) -> None:
        """The run's PNGs (and W&B images), drawn once its results are on disk (by train())."""
        if not (self.plots and trainer.is_global_zero and self.history_path.exists()):
            return
        try:
            loss_of = "every token of a window" if self.show == "loss" else "answer tokens"
            images = plot_run(self.history_path, self.run_dir, loss_of)
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


def round_summary(record: dict, rounds: int | None = None, show: str = "acc") -> str:
    """One line per round for the console: accuracy (or loss) per eval skill, then the next
    mixture."""
    of = f"/{rounds}" if rounds else ""
    if show == "loss":  # token windows: exact match of a whole window means nothing
        acc = "loss " + "  ".join(f"{s} {v:.3f}" for s, v in record["eval_loss"].items())
    else:
        acc = "acc " + "  ".join(f"{s} {a * 100:.0f}%" for s, a in record["eval_acc"].items())
    final = rounds is not None and record["round"] >= rounds
    mix = "  ".join(f"{s} {w:.2f}" for s, w in record["next_weights"].items())
    trained = "  ".join(f"{s} {w:.2f}" for s, w in record["weights"].items())
    tail = f"trained on: {trained}" if final else f"next mixture: {mix}"
    return f"round {record['round']}{of} (step {record['step']}): {acc} | {tail}"


def show_round(trainer: L.Trainer, line: str) -> None:
    """As skillit INFO, on its own line above any live bar (skillit.callbacks.progress): the CLI shows it,
    benchmark workers do not."""
    logging.getLogger("skillit").info(line)


class TrainingDiverged(SkillitError):
    """The losses of a whole round are non-finite: going on would only train on NaN."""


def check_mixture(weights: np.ndarray, num_skills: int, strategy: str) -> None:
    """A strategy's output must already be a distribution: anything else is a bug, not input."""
    try:
        check_weights(weights, num_skills, key=f"the mixture of strategy {strategy!r}")
    except SkillitError as exc:
        raise RuntimeError(str(exc)) from None
    if not math.isclose(float(np.sum(weights)), 1.0, abs_tol=1e-6):
        raise RuntimeError(
            f"strategy {strategy!r} returned weights summing to {np.sum(weights)}, not 1"
        )
