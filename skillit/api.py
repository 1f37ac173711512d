"""The Python API: the same runs as the command line, as quiet.

    import skillit

    cfg = skillit.load_config("ordered", ["mixing.strategy=stratified", "run_dir=runs/strat"])
    result = skillit.train(cfg)
    print(result.run_dir, result.per_skill())

`load_config` takes what `skillit train` takes: shipped experiment names or YAML paths (later
ones override earlier ones), then `key=value` overrides. `train` runs it with the CLI's output
(skillit's own lines, no Lightning banners) and returns a `TrainResult`: the run directory, the
final step, and each evaluated skill's final loss and accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from skillit.config import RunConfig
from skillit.config import load_config as _load_config
from skillit.utils.shipped import resolve_config


def load_config(
    configs: str | Path | Sequence[str | Path] = (), overrides: Sequence[str] = ()
) -> RunConfig:
    """A validated RunConfig from shipped names or YAML paths, then `key=value` overrides."""
    if isinstance(configs, (str, Path)):
        configs = [configs]
    if isinstance(overrides, str):
        overrides = [overrides]
    return _load_config([resolve_config(str(c)) for c in configs], list(overrides))


def train(cfg: RunConfig, overwrite: bool = False):
    """Train `cfg` as `skillit train` does (the same checks of the machine and the run folder,
    under the run's lock; `overwrite` as --overwrite) and return its TrainResult. To continue a
    stopped run, use `skillit train --resume RUN_DIR`."""
    from skillit.graphlearn.in_run import learn_before_training
    from skillit.run.directory import RunLock, claim_fresh_run_dir, resolve_run_dir
    from skillit.training import check_runtime
    from skillit.training import train as _train
    from skillit.utils.quiet import quiet_known_warnings, quiet_lightning, show_skillit_info

    quiet_known_warnings()
    quiet_lightning()
    show_skillit_info()
    check_runtime(cfg)
    run_dir = resolve_run_dir(cfg)
    cfg.run_dir = str(run_dir)
    with RunLock(run_dir):
        claim_fresh_run_dir(run_dir, overwrite=overwrite)
        steps = learn_before_training(cfg, run_dir, fresh=True)  # mixing.graph.learn
        return _train(cfg, run_dir=run_dir, graph_steps=steps)
