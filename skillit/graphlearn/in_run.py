"""The graph learned inside a run (`mixing.graph.learn`): probes from the run's own start model and
seed, written into RUN/graph/ (graph.json, summary.json, probes/), before the run trains.

The probes are kept, so a run stopped while it learns continues from the probes it finished
(`skillit train --resume RUN`); a resumed run re-reads them (nothing is trained again) to report
what learning cost. DDP ranks other than the launcher read the graph the launcher wrote.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from skillit.config import GRAPH_DIR, LEARNED_GRAPH, RunConfig, config_to_yaml
from skillit.run.directory import (
    CONFIG_FILE,
    RUN_LAYOUT,
    RUN_MARKER,
    RunLock,
    is_launcher_process,
    resolve_run_dir,
)
from skillit.utils.safe_paths import claim_names, write_inside

if TYPE_CHECKING:
    from skillit.training import TrainResult


def train_learning_graph(cfg: RunConfig) -> TrainResult:
    """Train a fresh run whose folder the caller has prepared (the bench's), learning its graph
    first where mixing.graph.learn says; the TrainResult, with what the graph cost."""
    from skillit.training import check_runtime, train

    check_runtime(cfg)
    run_dir = resolve_run_dir(cfg)
    with RunLock(run_dir):
        steps = learn_before_training(cfg, run_dir, fresh=True)
        return train(cfg, run_dir=run_dir, graph_steps=steps)


def learned_graph_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / LEARNED_GRAPH


def learning_unfinished(run_dir: str | Path) -> bool:
    """A run stopped while it learned its graph: probes begun, no graph yet."""
    return (Path(run_dir) / GRAPH_DIR).is_dir() and not learned_graph_path(run_dir).is_file()


def learn_before_training(cfg: RunConfig, run_dir: Path, fresh: bool) -> int | None:
    """mixing.graph.learn: the run's graph, learned into RUN/graph/ before the run trains, by the
    launcher under the run's lock (DDP ranks read what it wrote); what it cost in training
    steps, or None where the run learns no graph (or this process is not the launcher)."""
    if cfg.mixing.graph.learn is None:  # (the config drops it where the strategy reads none)
        return None
    cfg.run_dir = str(run_dir)
    if not is_launcher_process():
        return None
    if fresh:  # a run from here on: --resume continues a stopped learning, --overwrite clears it
        claim_names(run_dir, RUN_LAYOUT)
        write_inside(run_dir, RUN_MARKER, "")
        write_inside(run_dir, CONFIG_FILE, config_to_yaml(cfg))
    return learn_run_graph(cfg, run_dir)


def learn_run_graph(cfg: RunConfig, run_dir: Path) -> int:
    """Learn the run's graph into run_dir/graph/ (reusing finished probes); returns what it cost
    in training steps (warm-ups and probes)."""
    from skillit.build import build_source, resolve_skills
    from skillit.graphlearn.learn import LearnSettings, learn_graph, write_outputs
    from skillit.graphlearn.runner import TrainerProbeRunner

    g = cfg.mixing.graph
    out = Path(run_dir) / GRAPH_DIR
    settings = LearnSettings(
        method=g.learn,
        steps=g.learn_steps,
        # as `skillit graph learn` does: transfer probes start from a model warmed up this long
        warmup_steps=4 * g.learn_steps if g.learn == "transfer" else 0,
        seeds=[cfg.seed + i for i in range(g.learn_seeds)],
        progress=cfg.trainer.progress_bar,
    )
    print(
        f"skillit: learning the run's skills graph first ({g.learn}, {g.learn_steps} steps a "
        f"probe, {g.learn_seeds} seed(s)) into {out}",
        file=sys.stderr,
    )
    learner = copy.deepcopy(cfg)
    learner.mixing.graph.learn = None  # the probes read no graph
    train_skills, eval_skills = resolve_skills(learner, build_source(learner))
    runner = TrainerProbeRunner(learner, train_skills, eval_skills, out, settings.warmup_steps)
    with _quiet_probes():
        result = learn_graph(runner, train_skills, eval_skills, settings, out, runner.setup())
    write_outputs(result, out, plot=cfg.mixing.plots)
    return settings.training_steps(list(result.losses))


@contextlib.contextmanager
def _quiet_probes():
    """The probes' own round lines stay out of the run's log (their progress is shown)."""
    logger = logging.getLogger("skillit")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
