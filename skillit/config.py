"""Typed run configuration: dataclass defaults <- YAML files <- command-line dot-list overrides.

YAML files may start with `extends: <file or list of files>` (paths relative to the file): those are
merged first, so an experiment file is a small override of shared ones. Unknown keys and values of
the wrong type are errors that name the key and the file (or the command line).
"""

from __future__ import annotations

import logging
import math
import sys
import warnings
from collections.abc import Sequence
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from skillit.errors import SkillitError, SkillitWarning
from skillit.mixing import registry
from skillit.mixing.aioli import AioliConfig
from skillit.mixing.doremi import DoReMiConfig
from skillit.mixing.odm import ODMConfig
from skillit.mixing.settings import SETTINGS
from skillit.mixing.skillit import SkillItConfig
from skillit.mixing.unimax import UniMaxConfig
from skillit.sampling import round_lengths
from skillit.sources import registry as sources
from skillit.sources.jsonl import JsonlSourceConfig
from skillit.sources.natinst.config import NatInstSourceConfig
from skillit.sources.synthetic import AdditionSourceConfig, ComposeSourceConfig, LegoSourceConfig
from skillit.sources.tokens import TokensSourceConfig
from skillit.utils.safe_paths import check_name

T = TypeVar("T")

WANDB_MODES = ("offline", "online", "off")
TRAIN_LOSSES = ("answer", "all")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
# Lightning's precision names (trainer.precision)
PRECISIONS = (
    "32-true",
    "32",
    "64-true",
    "64",
    "16-mixed",
    "16-true",
    "16",
    "bf16-mixed",
    "bf16-true",
    "bf16",
    "transformer-engine",
    "transformer-engine-float16",
)
EVAL_LOSSES = ("token", "sequence")
# Lightning's registered strategy names (trainer.strategy; a test keeps this list in step with
# lightning.pytorch.strategies.StrategyRegistry), kept here so that config loads no Lightning.
TRAINER_STRATEGIES = (
    "auto",
    "ddp",
    "ddp_find_unused_parameters_false",
    "ddp_find_unused_parameters_true",
    "ddp_fork",
    "ddp_fork_find_unused_parameters_false",
    "ddp_fork_find_unused_parameters_true",
    "ddp_notebook",
    "ddp_notebook_find_unused_parameters_false",
    "ddp_notebook_find_unused_parameters_true",
    "ddp_spawn",
    "ddp_spawn_find_unused_parameters_false",
    "ddp_spawn_find_unused_parameters_true",
    "deepspeed",
    "deepspeed_stage_1",
    "deepspeed_stage_2",
    "deepspeed_stage_2_offload",
    "deepspeed_stage_3",
    "deepspeed_stage_3_offload",
    "deepspeed_stage_3_offload_nvme",
    "fsdp",
    "fsdp_cpu_offload",
    "single_device",
    "single_tpu",
    "single_xla",
    "xla",
    "xla_debug",
)
# A batch of token ids (int64) above this many bytes cannot be what a user meant.
MAX_BATCH_BYTES = 64 * 2**30


def check_finite(key: str, value: float, low: float, high: float = math.inf, closed: bool = True):
    """`value` is a finite number in [low, high] (or (low, high] when not `closed`)."""
    inside = low <= value <= high if closed else low < value <= high
    if not (math.isfinite(value) and inside):
        if math.isinf(high):
            bounds = f"{'>=' if closed else '>'} {low:g}"
        else:
            bounds = f"in {'[' if closed else '('}{low:g}, {high:g}]"
        raise SkillitError(f"{key} must be a finite number {bounds}, got {value}")


def is_required(f: Field) -> bool:
    """A dataclass field with no default."""
    return f.default is MISSING and f.default_factory is MISSING


@dataclass
class DataConfig:
    source: str = "lego"
    # Samples per optimiser step summed over every rank (the paper's 32 is one GPU's batch). Each
    # rank takes global_batch_size / world_size of them, so the data stream is the same whatever
    # the number of devices; it must divide evenly.
    global_batch_size: int = 32
    # A tokenizer.json (or a folder holding one) for the rendered text of the LEGO and addition
    # sources; null: their own word-level vocabulary, or, with model.backend=hf, the tokenizer.json
    # of model.hf_path when it has one (the paper's setting: GPT-Neo reads GPT-Neo tokens).
    tokenizer: str | None = None
    eval_batch_size: int = 256  # per process; evaluation results do not depend on it
    num_workers: int = 0
    # Steps per block of a round's sample order: each block has exact counts of its own, drawn
    # when a worker reaches it, so a loader starts in the same time and memory whatever the
    # round's length. null: the whole round's order at once (the stream of earlier runs).
    plan_block_steps: int | None = None
    lego: LegoSourceConfig = field(default_factory=LegoSourceConfig)
    addition: AdditionSourceConfig = field(default_factory=AdditionSourceConfig)
    compose: ComposeSourceConfig = field(default_factory=ComposeSourceConfig)
    jsonl: JsonlSourceConfig | None = None  # set data.jsonl.path to use it
    natinst: NatInstSourceConfig = field(default_factory=NatInstSourceConfig)
    tokens: TokensSourceConfig = field(default_factory=TokensSourceConfig)  # `skillit prepare`
    # One options section per built-in source above (skillit.sources.registry names each one's);
    # the options of a source registered from outside skillit (its spec names their dataclass).
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not sources.known(self.source):
            raise SkillitError(
                f"data.source must be one of {list(sources.names())}, got {self.source!r}"
            )
        if self.global_batch_size < 1:
            raise SkillitError(f"data.global_batch_size must be >= 1, got {self.global_batch_size}")
        if self.eval_batch_size < 1:
            raise SkillitError(f"data.eval_batch_size must be >= 1, got {self.eval_batch_size}")
        if self.num_workers < 0:
            raise SkillitError(f"data.num_workers must be >= 0, got {self.num_workers}")
        if self.plan_block_steps is not None and self.plan_block_steps < 1:
            raise SkillitError(
                f"data.plan_block_steps must be >= 1 step (or null), got {self.plan_block_steps}"
            )
        spec = sources.get(self.source)
        if spec.section is not None and getattr(self, spec.section) is None:
            required = [
                f"data.{spec.section}.{f.name}" for f in fields(spec.options) if is_required(f)
            ]
            raise SkillitError(
                f"data.source={self.source} ({spec.summary}) needs {', '.join(required)}"
            )


@dataclass
class SkillsConfig:
    """Training skills (the mixture is over these) and evaluation skills, by name.

    None means: every skill of the source for training (for Natural Instructions, the skills its
    config selects), and the training skills for evaluation.
    """

    train: list[str] | None = None
    eval: list[str] | None = None


@dataclass
class ModelConfig:
    backend: str = "gpt"  # gpt | hf
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 64
    max_seq_len: int = 128
    dropout: float = 0.0
    hf_path: str | None = None  # local directory of a pretrained Hugging Face causal LM
    hf_config: dict[str, Any] | None = None  # or a config (e.g. GPT-Neo sizes) for random init
    init_from: str | None = None  # start from the weights of a skillit checkpoint (.ckpt)
    # Numerics variant: every initial weight times 1 + init_jitter * (+-1); 1e-7 ~ one float32
    # ulp, a stand-in for another machine's rounding (skillit.model.jitter). 0: untouched.
    init_jitter: float = 0.0
    # the signs' generator: another value is another draw of the variant for the same seed
    # (null: the run's seed)
    init_jitter_seed: int | None = None
    # Training loss over `answer` tokens only, or `all` non-pad tokens (the authors' code: the
    # whole sequence is the language-modelling target). Evaluation always scores the answer.
    train_loss: str = "answer"
    # Per-skill evaluation loss (what Skill-It reads and val/loss logs): the mean over all answer
    # tokens of the skill (`token`), or the mean of each sample's own mean (`sequence`, the
    # authors'). They agree when every answer is one token (LEGO, addition in the paper format).
    eval_loss: str = "token"

    def __post_init__(self) -> None:
        if self.backend not in ("gpt", "hf"):
            raise SkillitError(f"model.backend must be 'gpt' or 'hf', got {self.backend!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise SkillitError(f"model.dropout must be in [0, 1), got {self.dropout}")
        for key in ("n_layer", "n_head", "d_model", "max_seq_len"):
            if getattr(self, key) < 1:
                raise SkillitError(f"model.{key} must be >= 1, got {getattr(self, key)}")
        if self.train_loss not in TRAIN_LOSSES:
            raise SkillitError(
                f"model.train_loss must be one of {list(TRAIN_LOSSES)}, got {self.train_loss!r}"
            )
        if self.eval_loss not in EVAL_LOSSES:
            raise SkillitError(
                f"model.eval_loss must be one of {list(EVAL_LOSSES)}, got {self.eval_loss!r}"
            )
        if not 0.0 <= self.init_jitter < 0.01:
            raise SkillitError(
                f"model.init_jitter must be in [0, 0.01) (1e-7 is about one float32 ulp), got "
                f"{self.init_jitter}"
            )
        if self.backend == "hf" and (self.hf_path is None) == (self.hf_config is None):
            raise SkillitError(
                "model.backend=hf needs exactly one of model.hf_path or model.hf_config"
            )


GRAPH_LEARN_METHODS = ("transfer", "linear", "brute")  # skillit.graphlearn.learn.METHODS
GRAPH_DIR = "graph"  # a graph learned inside the run: RUN/graph/ holds it and its probes
LEARNED_GRAPH = f"{GRAPH_DIR}/graph.json"


@dataclass
class GraphConfig:
    """The skills graph A: a file (JSON/.npy written by `skillit graph learn`) or inline rows."""

    path: str | None = None
    matrix: list[list[float]] | None = None
    train_skills: list[str] | None = None  # row names of an inline matrix / bare .npy
    eval_skills: list[str] | None = None  # column names; null: skills.train (square) or skills.eval
    # Negative entries: error (default), clip (to 0) or authors (kept, with the authors'
    # normalisation: own entries 1, other entries of 1 become 0.5); see skillit.graph.io.
    negative: str = "error"
    # Learned at the start of the run instead, into RUN/graph/ (as `skillit graph learn` would,
    # from the run's own start model and seed): a method (transfer, linear, brute), its training
    # steps per probe and its seeds. Its steps are reported beside the run's, not inside them.
    learn: str | None = None
    learn_steps: int = 100
    learn_seeds: int = 1

    def __post_init__(self) -> None:
        if self.negative not in ("error", "clip", "authors"):
            raise SkillitError(
                "mixing.graph.negative must be one of ['error', 'clip', 'authors'], got "
                f"{self.negative!r}"
            )
        if self.learn is None:
            return
        if self.learn not in GRAPH_LEARN_METHODS:
            raise SkillitError(
                f"mixing.graph.learn must be one of {list(GRAPH_LEARN_METHODS)} (or null: read "
                f"mixing.graph.path), got {self.learn!r}"
            )
        for key in ("learn_steps", "learn_seeds"):
            value = getattr(self, key)
            if isinstance(value, bool) or value < 1:
                raise SkillitError(f"mixing.graph.{key} must be an integer >= 1, got {value!r}")
        if self.path is not None or self.matrix is not None:
            # a graph given wins over one an experiment would learn
            logging.getLogger("skillit").info(
                "mixing.graph.%s is given: the run reads it and learns no graph "
                "(mixing.graph.learn=%s is not used)",
                "path" if self.path is not None else "matrix",
                self.learn,
            )
            self.learn = None


@dataclass
class ScheduleEntry:
    start_round: int = 1
    weights: list[float] = field(default_factory=list)


@dataclass
class MixingConfig:
    strategy: str = "random"
    setting: str = "continual_pretraining"
    rounds: int = 6  # T: the mixture can change at T-1 round boundaries; eval runs at every one
    weights: list[float] | None = None  # manual mixture, or proportions for `random`
    schedule: list[ScheduleEntry] = field(default_factory=list)  # manual schedule
    graph: GraphConfig = field(default_factory=GraphConfig)
    # Curricula (curriculum, anticurriculum, skill_curriculum, skill_anticurriculum):
    stages: int | None = None  # M, pacing stages of the sample-level curricula; null: one per round
    curriculum_pool: int | None = None  # samples scored; null: the whole run's (steps x batch)
    curriculum_reference: str | None = None  # checkpoint that scores them; null: the start model
    eval_every: int | None = None  # extra evaluations every N steps (curves); None: round ends only
    plots: bool = True
    # One options section per strategy family (skillit.mixing.registry names each one's):
    skillit: SkillItConfig = field(default_factory=SkillItConfig)  # skillit, static, no_graph
    doremi: DoReMiConfig = field(default_factory=DoReMiConfig)
    odm: ODMConfig = field(default_factory=ODMConfig)
    aioli: AioliConfig = field(default_factory=AioliConfig)
    unimax: UniMaxConfig = field(default_factory=UniMaxConfig)
    # The options of a strategy registered from outside skillit (its spec names their dataclass)
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not registry.known(self.strategy):
            raise SkillitError(
                f"mixing.strategy must be one of {list(registry.names())}, got {self.strategy!r}"
            )
        if self.setting not in SETTINGS:
            raise SkillitError(
                f"mixing.setting must be one of {list(SETTINGS)}, got {self.setting!r}"
            )
        if self.rounds < 1:
            raise SkillitError(f"mixing.rounds must be >= 1, got {self.rounds}")
        if self.eval_every is not None and self.eval_every < 1:
            raise SkillitError(
                f"mixing.eval_every must be >= 1 step (or null), got {self.eval_every}"
            )
        if self.curriculum_pool is not None and self.curriculum_pool < 1:
            raise SkillitError(
                f"mixing.curriculum_pool must be >= 1 (or null), got {self.curriculum_pool}"
            )
        if self.stages is not None and self.stages < 1:
            raise SkillitError(f"mixing.stages must be >= 1 (or null), got {self.stages}")
        if self.skillit.graph_norm != "none" and self.graph.negative == "authors":
            raise SkillitError(
                f"mixing.skillit.graph_norm={self.skillit.graph_norm} divides the graph by its "
                "row or column sums, which negative entries can bring to 0 or below: use "
                "mixing.graph.negative=clip (or error) with it"
            )
        if self.graph.learn is not None and not registry.reads_graph(self.strategy, self.setting):
            # an experiment that learns its graph for Skill-It runs any other strategy as well
            logging.getLogger("skillit").info(
                "mixing.graph.learn=%s is for strategies that read a graph (skillit, static); "
                "mixing.strategy=%s reads none in %s, so no graph is learned",
                self.graph.learn,
                self.strategy,
                self.setting,
            )
            self.graph.learn = None


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = 50
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        check_finite("optim.lr", self.lr, 0.0, closed=False)
        check_finite("optim.weight_decay", self.weight_decay, 0.0)
        check_finite("optim.grad_clip", self.grad_clip, 0.0)  # 0: no clipping
        check_finite("optim.min_lr_ratio", self.min_lr_ratio, 0.0, 1.0)
        if self.warmup_steps < 0:
            raise SkillitError(f"optim.warmup_steps must be >= 0, got {self.warmup_steps}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise SkillitError(f"optim.betas must be two numbers in [0, 1), got {list(self.betas)}")


@dataclass
class TrainerConfig:
    max_steps: int = 1000
    accelerator: str = "auto"
    devices: Any = 1
    num_nodes: int = 1  # machines; each runs `skillit train` with Lightning's cluster environment
    strategy: str = "auto"
    precision: str = "32-true"
    log_every_n_steps: int = 50
    progress_bar: bool = True
    threads: int | None = None  # torch.set_num_threads per process; None leaves torch's default
    # also checkpoint every N steps inside rounds (a resume continues from that step exactly);
    # None: at round ends only
    checkpoint_every: int | None = None
    deterministic: bool = False

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise SkillitError(f"trainer.max_steps must be >= 1, got {self.max_steps}")
        if str(self.strategy) not in TRAINER_STRATEGIES:
            raise SkillitError(
                f"trainer.strategy must be one of Lightning's strategies {list(TRAINER_STRATEGIES)}, "
                f"got {self.strategy!r}"
            )
        if self.accelerator not in ACCELERATORS:
            raise SkillitError(
                f"trainer.accelerator must be one of {list(ACCELERATORS)}, got {self.accelerator!r}"
            )
        if str(self.precision) not in PRECISIONS:
            raise SkillitError(
                f"trainer.precision must be one of {list(PRECISIONS)}, got {self.precision!r}"
            )
        devices = self.devices
        if isinstance(devices, bool) or not (
            devices in ("auto", -1)
            or (isinstance(devices, int) and devices >= 1)
            or (isinstance(devices, str) and devices.isdigit() and int(devices) >= 1)
            or (isinstance(devices, list) and devices and all(isinstance(d, int) for d in devices))
        ):
            raise SkillitError(
                "trainer.devices must be a count >= 1, a list of device indices, 'auto' or -1 "
                f"(all), got {devices!r}"
            )
        if self.log_every_n_steps < 0:
            raise SkillitError(
                f"trainer.log_every_n_steps must be >= 0 (0: never), got {self.log_every_n_steps}"
            )
        if self.threads is not None and self.threads < 1:
            raise SkillitError(f"trainer.threads must be >= 1 (or null), got {self.threads}")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise SkillitError(
                f"trainer.checkpoint_every must be >= 1 step (or null), got {self.checkpoint_every}"
            )
        if isinstance(self.num_nodes, bool) or self.num_nodes < 1:
            raise SkillitError(f"trainer.num_nodes must be an integer >= 1, got {self.num_nodes}")


@dataclass
class LoggerConfig:
    wandb: str = "offline"  # offline (no account, no network) | online | off
    project: str = "skillit"
    csv: bool = True

    def __post_init__(self) -> None:
        # YAML reads a bare `off` as the boolean false: accept it as the user meant it.
        if str(self.wandb).lower() in ("false", "no", "disabled"):
            self.wandb = "off"
        if self.wandb not in WANDB_MODES:
            raise SkillitError(
                f"logger.wandb must be one of {list(WANDB_MODES)}, got {self.wandb!r}"
            )


@dataclass
class RunConfig:
    seed: int = 0
    name: str = "run"
    run_dir: str | None = None  # default: runs/<name>-<strategy>-<timestamp>
    data: DataConfig = field(default_factory=DataConfig)
    skills: SkillsConfig = field(default_factory=SkillsConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    mixing: MixingConfig = field(default_factory=MixingConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)

    def __post_init__(self) -> None:
        if not 0 <= self.seed < 2**32:
            raise SkillitError(f"seed must be an integer in [0, 2**32), got {self.seed}")
        self._check_sizes()
        check_name(self.name, "name")  # the default run directory is runs/<name>-<strategy>-<time>
        every = self.mixing.eval_every
        if every is not None:
            lengths = sorted(set(round_lengths(self.trainer.max_steps, self.mixing.rounds)))
            if any(n % every for n in lengths):
                raise SkillitError(
                    f"mixing.eval_every={every} must divide the length of every round (rounds of "
                    f"{lengths} steps), so that each round ends with an evaluation; set "
                    "mixing.eval_every to a divisor of them, or null"
                )
        if self.mixing.rounds > self.trainer.max_steps:
            raise SkillitError(
                f"mixing.rounds={self.mixing.rounds} is larger than the step budget "
                f"trainer.max_steps={self.trainer.max_steps}: every round needs at least one step"
            )

    def _check_sizes(self) -> None:
        """Refuse sizes no machine holds before anything is allocated (the key named)."""
        for key in ("global_batch_size", "eval_batch_size"):
            rows = getattr(self.data, key)
            size = rows * self.model.max_seq_len * 8  # int64 token ids
            if size > MAX_BATCH_BYTES:  # (GiB by //: a size may be an int past any float)
                raise SkillitError(
                    f"data.{key}={rows} x model.max_seq_len={self.model.max_seq_len} tokens is "
                    f"{size // 2**30:,} GiB of token ids a batch (at most "
                    f"{MAX_BATCH_BYTES // 2**30} GiB): lower data.{key} or model.max_seq_len"
                )
        m = self.model
        if m.backend == "gpt" and 12 * m.n_layer * m.d_model**2 > 1e12:
            raise SkillitError(
                f"model.n_layer={m.n_layer} x model.d_model={m.d_model} is over a trillion "
                "parameters; lower them"
            )


# Keys that hold file paths: a relative path written in a YAML file is relative to that file, so
# configs work from any working directory; on the command line, relative to the working directory.
# Either way the loaded config holds them absolute.
RUN_PATH_KEYS = (
    "mixing.graph.path",
    "data.tokenizer",
    "model.hf_path",
    "model.init_from",
    "mixing.curriculum_reference",
    "mixing.doremi.reference",
)


def path_keys() -> tuple[str, ...]:
    """Every key of a RunConfig that holds a file path: the run's own and each source's (a
    source registered later, as a plugin, included)."""
    return (*RUN_PATH_KEYS, *sources.path_keys())


def _resolve_paths(node: DictConfig, base: Path, keys: Sequence[str] | None = None) -> None:
    keys = path_keys() if keys is None else keys
    for key in keys:
        value = OmegaConf.select(node, key, default=None)
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            OmegaConf.update(node, key, str((base / value).resolve()), merge=False)


def _describe(exc: OmegaConfBaseException) -> str:
    key = getattr(exc, "full_key", None)
    if isinstance(exc, MissingMandatoryValue) and key:
        return f"key '{key}' is required but not set"
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"key '{key}': {first}" if key else first


def read_yaml(
    path: Path, seen: tuple[Path, ...] = (), path_keys: Sequence[str] | None = None
) -> list[tuple[Path, DictConfig]]:
    """The file and everything it extends, in merge order (bases first); `path_keys` are made
    relative to the file that sets them."""
    path = path.resolve()
    if path in seen:
        raise SkillitError(f"config {path} extends itself (cycle: {' -> '.join(map(str, seen))})")
    if not path.is_file():
        raise SkillitError(f"config file {path} does not exist")
    try:
        node = OmegaConf.load(path)
    except Exception as exc:
        raise SkillitError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(node, DictConfig):
        raise SkillitError(f"config file {path} must hold a mapping of keys, not a list")
    bases = node.pop("extends", None)
    bases = [bases] if isinstance(bases, str) else bases
    if bases is not None and (
        not isinstance(bases, (list, ListConfig)) or not all(isinstance(b, str) for b in bases)
    ):
        raise SkillitError(
            f"config file {path}: extends must be a file name or a list of them, got {bases!r}"
        )
    _resolve_paths(node, path.parent, path_keys)
    out: list[tuple[Path, DictConfig]] = []
    for base in bases or []:
        out.extend(read_yaml(path.parent / str(base), (*seen, path), path_keys))
    out.append((path, node))
    return out


def merge_structured(schema: type[T], layers: Sequence[tuple[str, Any]]) -> T:
    """The dataclass `schema` with each (origin, mapping) layer merged on in order, validated.

    The one config mechanism of skillit (runs, graph learning, bench suites): unknown keys and
    wrong types are errors naming the origin (a file, the command line) and the key; the
    dataclasses' own checks (`__post_init__`) run last and name the key themselves.
    """
    merged = OmegaConf.structured(schema)
    for origin, node in layers:
        try:
            merged = OmegaConf.merge(merged, node)
        except OmegaConfBaseException as exc:
            raise SkillitError(f"{origin}: {_describe(exc)}") from exc
        except TypeError:  # OmegaConf's "Cannot merge incompatible container types" names no key
            raise SkillitError(f"{origin}: {_container_mismatch(merged, node)}") from None
        except OverflowError:  # an integer past any float, for a float key
            raise SkillitError(
                f"{origin}: key '{_past_any_float(node)}' is a number past the largest float "
                "(about 1.8e308)"
            ) from None
    try:
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        origins = ", ".join(origin for origin, _ in layers) or "the defaults"
        raise SkillitError(f"{_describe(exc)} (merged from {origins})") from exc


def _container_mismatch(schema: Any, node: Any, prefix: str = "") -> str:
    """Which key of `node` holds a mapping where `schema` has a list, or a list where it has a
    mapping (the keys are walked together)."""
    if isinstance(schema, DictConfig) and isinstance(node, DictConfig):
        for key, value in node.items_ex(resolve=False):
            target = schema._get_node(key) if key in schema else None
            full = f"{prefix}{key}"
            if isinstance(value, DictConfig) and isinstance(target, ListConfig):
                return f"key '{full}' takes a list ([a,b]), got a mapping {value}"
            if isinstance(value, ListConfig) and isinstance(target, DictConfig):
                return f"key '{full}' takes a mapping ({{key: value}}), got a list {value}"
            found = _container_mismatch(target, value, f"{full}.")
            if found:
                return found
    return "" if prefix else "a list where a mapping belongs, or a mapping where a list belongs"


def _past_any_float(node: Any) -> str:
    """The first key of `node` holding an integer that no float holds."""

    def huge(value: Any) -> bool:
        if isinstance(value, list):  # a list's items, and rows of a matrix
            return any(huge(v) for v in value)
        return isinstance(value, int) and abs(value) > sys.float_info.max

    flat = flatten_keys(OmegaConf.to_container(node) if isinstance(node, DictConfig) else node)
    return next((key for key, value in flat.items() if huge(value)), "?")


def dotlist(overrides: Sequence[str], origin: str = "command-line override") -> tuple[str, Any]:
    """`key=value` items as one layer for :func:`merge_structured`."""
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise SkillitError(f"overrides must look like key=value, got {bad}")
    for item in overrides:  # one at a time, so an error names the item
        try:
            OmegaConf.from_dotlist([item])
        except OmegaConfBaseException as exc:
            raise SkillitError(f"{origin} {item!r}: {_describe(exc)}") from exc
        except Exception as exc:  # yaml's scanner and parser errors for a broken value
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SkillitError(
                f"{origin} {item!r} is not valid: {first} (lists are written [a,b])"
            ) from None
    return origin, OmegaConf.from_dotlist(list(overrides))


# Keys that moved: old configs and saved runs still load, with a warning naming the new key.
RENAMED_KEYS = {"mixing.eta": "mixing.skillit.eta", "mixing.window": "mixing.skillit.window"}


def _rename_legacy(origin: str, node: Any) -> Any:
    if not isinstance(node, DictConfig):
        return node
    for old, new in RENAMED_KEYS.items():
        parent, _, leaf = old.rpartition(".")
        section = OmegaConf.select(node, parent, default=None)
        if not isinstance(section, DictConfig) or leaf not in section:
            continue
        value = section.pop(leaf)
        if OmegaConf.select(node, new, default=None) is not None:
            raise SkillitError(f"{origin}: set only {new} ({old} is its old name)")
        OmegaConf.update(node, new, value, merge=True)
        warnings.warn(f"{origin}: {old} is now {new}", SkillitWarning, stacklevel=3)
    return node


def load_config(files: Sequence[str | Path] = (), overrides: Sequence[str] = ()) -> RunConfig:
    """Merge defaults, YAML files (in order) and `key=value` overrides into a validated RunConfig."""
    layers: list[tuple[str, Any]] = []
    for file in files:
        layers.extend((f"config file {path}", node) for path, node in read_yaml(Path(file)))
    origin, node = dotlist(overrides)
    # A path on the command line is relative to the working directory: stored absolute (in the
    # run's config.yaml too), so a resume from anywhere reads the same files.
    _resolve_paths(node, Path.cwd())
    layers.append((origin, node))
    return merge_structured(RunConfig, [(o, _rename_legacy(o, n)) for o, n in layers])


def flatten_keys(node: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as {"a.b.c": value} (for comparing configs key by key)."""
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(flatten_keys(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def config_to_yaml(cfg: RunConfig) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))
