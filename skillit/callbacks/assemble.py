"""The callbacks of one run, in the order the Trainer calls them (the order is stated here).

At every round end, in list order:
1. the strategy's in-round callbacks (ODM, Aioli: skillit.callbacks.in_round) observe the round's
   tail, so the strategy has seen everything inside the round;
2. DeliveredCounts, and EpochCap where the source counts its tokens (capability token_counts):
   the round's delivered tokens are added to the epochs seen before the next mixture is capped;
3. MixingCallback: the strategy's next mixture, through the cap, to the data module;
4. RunRecord writes the round's history line, console line and metrics;
5. DivergenceGuard stops a run whose round is all NaN (on record by now);
6. the curriculum's pool callback (curriculum strategies) admits the next round's samples.
The Trainer adds the round-end checkpoint and the progress display after these (skillit.training).
"""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L

from skillit.build import RunParts, train_token_counts
from skillit.callbacks.curriculum import CurriculumCallback
from skillit.callbacks.delivered import DeliveredCounts
from skillit.callbacks.divergence import DivergenceGuard
from skillit.callbacks.in_round import in_round_callbacks
from skillit.callbacks.mixing import MixingCallback
from skillit.callbacks.record import RunRecord
from skillit.callbacks.repetition import EpochCap
from skillit.config import RunConfig


@dataclass
class RunCallbacks:
    callbacks: list[L.Callback]  # in the Trainer's order
    record: RunRecord  # draws the plots once the results are on disk


def epoch_cap(cfg: RunConfig, parts: RunParts, delivered: DeliveredCounts) -> EpochCap | None:
    """Epochs seen (and their cap) for a source that counts its train tokens, else None."""
    spec = parts.source_spec
    if not spec.capabilities.token_counts:
        return None
    counts = train_token_counts(parts.source, parts.train_skills)
    cap = spec.epoch_cap(parts.source_options) if spec.epoch_cap is not None else None
    rows = cfg.data.global_batch_size * parts.source.train_width  # tokens a step draws
    round_tokens = [n * rows for n in parts.data.round_lengths]
    return EpochCap(parts.train_skills, counts, cap, round_tokens, delivered)


def run_callbacks(cfg: RunConfig, parts: RunParts, run_dir) -> RunCallbacks:
    strategy = parts.mixing.strategy
    caps = parts.source_spec.capabilities
    delivered = DeliveredCounts(parts.train_skills, parts.source.pad_id)
    cap = epoch_cap(cfg, parts, delivered)
    mixing = MixingCallback(strategy, parts.train_skills, constraint=cap)
    record = RunRecord(
        mixing,
        parts.eval_skills,
        run_dir,
        rounds=cfg.mixing.rounds,
        parts=[delivered, *([cap] if cap else [])],
        metric=caps.metric,
        loss_of=caps.loss_of,
        plots=cfg.mixing.plots,
    )
    callbacks: list[L.Callback] = [
        *in_round_callbacks(strategy),
        delivered,
        *([cap] if cap else []),
        mixing,
        record,
        DivergenceGuard(mixing),
    ]
    if parts.mixing.curriculum is not None:
        callbacks.append(
            CurriculumCallback(
                parts.mixing.curriculum,
                total_steps=cfg.trainer.max_steps,
                global_batch_size=cfg.data.global_batch_size,
                seed=cfg.seed,
                pool_size=cfg.mixing.curriculum_pool,
                reference=cfg.mixing.curriculum_reference,
            )
        )
    return RunCallbacks(callbacks, record)
