"""Shared tiny fakes and helpers: a toy skill source that needs no generator or file, tiny run
configs, a callback that kills a run mid-round, a run's history, small prepared corpora, and the
normalised exponential of hand-worked Skill-It numbers.

Plain helpers are imported by the test files as `from conftest import ...`.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import types
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch

from skillit.config import RunConfig, load_config
from skillit.sources.base import SkillExamples
from skillit.utils.tokenization import wordlevel_tokenizer

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "skillit" / "configs"

# The smallest LEGO run that trains in a second or two: chain format, 3 skills, a 1-layer GPT on
# one CPU thread, nothing logged but the files a run always writes. Tests add what they measure.
TINY_RUN = (
    "data.source=lego",
    "data.lego.k=3",
    "data.lego.fmt=chain",
    "data.lego.answer_loss=all",
    "data.lego.val_size=20",
    "data.global_batch_size=16",
    "data.eval_batch_size=64",
    "model.n_layer=1",
    "model.n_head=2",
    "model.d_model=32",
    "model.max_seq_len=64",
    "trainer.accelerator=cpu",
    "trainer.threads=1",
    "trainer.progress_bar=false",
    "logger.wandb=off",
    "seed=0",
)

# a one-layer LEGO run of 12 steps in 3 rounds (key=value overrides of `skillit train lego`)
# 12 steps in 3 rounds on one CPU thread, nothing logged or drawn (added to tiny run configs)
SHORT_QUIET_CPU = (
    "trainer.max_steps=12",
    "mixing.rounds=3",
    "trainer.accelerator=cpu",
    "trainer.threads=1",
    "trainer.progress_bar=false",
    "logger.wandb=off",
    "mixing.plots=false",
)

TINY_LEGO = [
    "data.lego.k=3",
    "data.lego.fmt=chain",
    "data.lego.val_size=20",
    "data.global_batch_size=16",
    "model.n_layer=1",
    "model.d_model=32",
    "model.n_head=2",
    *SHORT_QUIET_CPU,
]

# a graph-learning config of a one-layer LEGO model (`skillit graph learn FILE`)
TINY_GRAPH_YAML = """\
seed: 0
name: tiny-graph
data:
  source: lego
  global_batch_size: 16
  eval_batch_size: 64
  lego: {k: 3, fmt: chain, answer_loss: all, val_size: 20}
model: {n_layer: 1, n_head: 2, d_model: 32, max_seq_len: 64}
optim: {lr: 0.003, warmup_steps: 5}
trainer: {max_steps: 30, accelerator: cpu, threads: 1, progress_bar: false}
logger: {wandb: "off", csv: false}
mixing: {plots: false}
"""


def natinst_location() -> Path:
    """Where the Natural Instructions sample is: $SKILLIT_NATINST, else ../shared/natinst."""
    return Path(os.environ.get("SKILLIT_NATINST") or REPO.parent / "shared" / "natinst")


# Keep tests light on the 2-core machines and avoid oversubscription with subprocesses.
torch.set_num_threads(1)
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


class ToySource:
    """Skill s: read `length` random digits, then the query token q<s>; answer = digit at position s.

    Every sample is [d0 .. d{L-1}, q<s>, answer]; only the answer is scored. Validation samples use
    their own seed and training draws exclude them, as real sources must.
    """

    def __init__(
        self, num_skills: int = 3, length: int = 4, val_size: int = 40, val_seed: int = 99
    ):
        self.num_skills, self.length, self.val_size = num_skills, length, val_size
        words = [str(d) for d in range(10)] + [f"q{s}" for s in range(num_skills)]
        self._tokenizer = wordlevel_tokenizer(words)
        self.digit0 = self._tokenizer.token_to_id("0")
        self.query0 = self._tokenizer.token_to_id("q0")
        self._val = {
            s: self._make(s, val_size, np.random.default_rng([val_seed, s]))
            for s in range(num_skills)
        }

    @property
    def skill_names(self) -> list[str]:
        return [f"toy{s + 1}" for s in range(self.num_skills)]

    @property
    def tokenizer(self):
        return self._tokenizer

    @property
    def pad_id(self) -> int:
        return 0

    def natural_proportions(self) -> np.ndarray:
        return np.full(self.num_skills, 1.0 / self.num_skills)

    def _make(self, skill: int, n: int, rng: np.random.Generator) -> SkillExamples:
        digits = rng.integers(0, 10, size=(n, self.length))
        ids = np.empty((n, self.length + 2), dtype=np.int64)
        ids[:, : self.length] = digits + self.digit0
        ids[:, self.length] = self.query0 + skill
        ids[:, self.length + 1] = digits[:, skill] + self.digit0
        mask = np.zeros_like(ids, dtype=bool)
        mask[:, -1] = True
        return SkillExamples(ids, mask, np.full(n, skill, dtype=np.int64))

    def train_examples(self, skill: int, n: int, rng: np.random.Generator) -> SkillExamples:
        return self._make(skill, n, rng)

    def validation_examples(self, skill: int) -> SkillExamples:
        return self._val[skill]


# The shipped main job (`skillit train ordered`) cut to a few seconds: 12 steps, a 1-layer GPT.
TINY_ORDERED = (
    "trainer.max_steps=12",
    "data.compose.val_size=32",
    "model.n_layer=1",
    "model.d_model=16",
    "mixing.plots=false",
    "logger.csv=false",
)


@pytest.fixture(scope="session")
def tiny_ordered():
    """A factory: tiny_ordered(run_dir) -> the overrides of a tiny main job writing to run_dir."""
    return lambda run_dir: [*TINY_ORDERED, f"run_dir={run_dir}"]


@pytest.fixture
def toy_source() -> ToySource:
    return ToySource()


@pytest.fixture(scope="session")
def run_config():
    """A factory: run_config(run_dir, *overrides) -> the tiny LEGO RunConfig writing to run_dir."""

    def make(run_dir: Path, *overrides: str) -> RunConfig:
        return load_config([], [*TINY_RUN, f"run_dir={run_dir}", *overrides])

    return make


@pytest.fixture
def tiny_config(run_config, tmp_path):
    """A factory: tiny_config(*overrides) -> the tiny LEGO RunConfig, writing under tmp_path/run."""
    return lambda *overrides: run_config(tmp_path / "run", *overrides)


@pytest.fixture(scope="session")
def natinst_root() -> Path:
    """The Natural Instructions sample (skips the test when it is absent)."""
    root = natinst_location()
    if not (root / "tasks").is_dir():
        pytest.skip(f"no Natural Instructions sample at {root} (set SKILLIT_NATINST to its folder)")
    return root


def normalised_exp(scores) -> np.ndarray:
    """exp(scores) / sum(exp(scores)) in float64, with no max shift (hand-worked mixtures)."""
    e = np.exp(np.asarray(scores, dtype=np.float64))
    return e / e.sum()


def run_history(run_dir: Path) -> list[dict]:
    """The lines of a run's mixture_history.jsonl, one dict a round."""
    lines = (run_dir / "mixture_history.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@cache
def _kill_callback_class() -> type:
    """The class behind kill_at, built on first use: only the tests that use it load Lightning."""
    import lightning as L

    class KillAt(L.Callback):
        def __init__(self, step, round_number, batch_idx, at_round_start, error):
            if at_round_start and (step is not None or batch_idx is not None):
                raise ValueError("at_round_start takes round_number only")
            self.step, self.round_number, self.batch_idx = step, round_number, batch_idx
            self.at_round_start, self.error = at_round_start, error

        def _kill_if_due(self, trainer, batch_idx) -> None:
            if (
                (self.step is None or trainer.global_step == self.step)
                and (self.round_number is None or trainer.current_epoch + 1 == self.round_number)
                and (self.batch_idx is None or batch_idx == self.batch_idx)
            ):
                raise self.error

        def on_train_epoch_start(self, trainer, pl_module):
            if self.at_round_start:
                self._kill_if_due(trainer, None)

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if not self.at_round_start:
                self._kill_if_due(trainer, batch_idx)

    return KillAt


def kill_at(
    *,
    step: int | None = None,  # trainer.global_step
    round_number: int | None = None,  # 1-based: trainer.current_epoch + 1
    batch_idx: int | None = None,  # the batch's index within its round
    at_round_start: bool = False,  # in on_train_epoch_start, before the round's first batch
    error: type[BaseException] | BaseException = KeyboardInterrupt,
):
    """A Lightning callback killing the run (raising `error`) once every condition given holds."""
    return _kill_callback_class()(step, round_number, batch_idx, at_round_start, error)


# The words of the small random-text corpora that tests prepare with `skillit prepare`.
CORPUS_WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()


def write_word_docs(
    folder: Path, docs: int, length: tuple[int, int], rng: np.random.Generator
) -> None:
    """Write doc000.txt, doc001.txt, ...: `docs` texts of rng.integers(*length) CORPUS_WORDS."""
    folder.mkdir(parents=True)
    for i in range(docs):
        text = " ".join(rng.choice(CORPUS_WORDS, size=int(rng.integers(*length))))
        (folder / f"doc{i:03d}.txt").write_text(text)


def prepare_corpus(out: Path, domains: dict[str, Path], *extra: str) -> int:
    """`skillit prepare` of named domain inputs into out (a BPE of 300 unless `extra` gives a
    --tokenizer, every 5th doc held out)."""
    from skillit.cli import main

    bpe = [] if "--tokenizer" in extra else ["--bpe-vocab", "300"]
    args = ["prepare", str(out), *bpe, "--no-progress", "--val-every", "5"]
    for name, path in domains.items():
        args += ["--domain", f"{name}={path}"]
    return main([*args, *extra])


class FakeEntryPoint:
    """An installed package's entry point (importlib.metadata) that loads `target`, or raises it."""

    def __init__(self, name, target):
        self.name, self.value, self._target = name, f"plugin_pkg:{name}", target

    def load(self):
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def streaming_base():
    """MosaicML streaming's readers (`streaming.base`). Its package `__init__` imports its vision
    datasets, which need torchvision, and torchvision has no CPU build on the package index:
    the package is entered without running that `__init__`."""
    if "streaming" not in sys.modules:
        spec = importlib.util.find_spec("streaming")
        if spec is None:
            pytest.skip("mosaicml-streaming is not installed (requirements/engines.txt)")
        package = types.ModuleType("streaming")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["streaming"] = package
    return importlib.import_module("streaming.base")
