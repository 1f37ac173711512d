"""Benchmark suites: one experiment config, a set of strategies, seeds and a step budget.

A suite is a YAML file under skillit/configs/suites/ (or any path):

    description: LEGO continual pre-training at CPU scale
    config: ../experiment/lego_cpt_cpu.yaml  # run config, relative to the suite file
    overrides: [logger.wandb=off]      # `key=value` for every run
    steps: 1500                        # trainer.max_steps
    seeds: 5                           # a count (seeds 0..n-1) or a list
    seed_key: seed                     # the key each seed sets (model.init_jitter_seed: draws
                                       # of one seed's numerics variant; the seed in overrides)
    target: {metric: acc, value: 0.95} # "steps to target": mean over `skills` (default: all)
    paired:                            # optional: per-seed differences candidate - baseline
      skillit: [stratified, random]    # of mean acc at `at` budget fractions, AUC, steps to target
    report:                            # skills of the paired mean acc, budget fractions, and
      {skills: [a, b], at: [0.4, 1.0], extra_skills: [c_heldout]}  # skills scored afterwards
    strategies:                        # label -> overrides of that strategy
      random: [mixing.strategy=random]
      skillit: [mixing.strategy=skillit]
    variants:
      paper: {config: ../experiment/lego_cpt.yaml, steps: 6000}

A variant replaces any of config, overrides, steps, seeds, target and strategies.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml
from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from skillit.config import merge_structured, path_keys
from skillit.errors import SkillitError
from skillit.utils.shipped import SUITE_DIR

METRICS = ("acc", "loss")


@dataclass(frozen=True)
class Target:
    """A run reaches the target at the first evaluation where the mean metric over `skills` is
    >= value (acc) or <= value (loss). None for skills means every eval skill."""

    metric: str = "acc"
    value: float = 0.95
    skills: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise SkillitError(f"target.metric must be one of {list(METRICS)}, got {self.metric!r}")

    def reached(self, values: dict[str, float]) -> bool:
        names = self.skills or tuple(values)
        missing = [s for s in names if s not in values]
        if missing:
            raise SkillitError(
                f"target.skills names {missing}, which the runs do not evaluate: {list(values)}"
            )
        mean = sum(values[s] for s in names) / len(names)
        return mean >= self.value if self.metric == "acc" else mean <= self.value

    def describe(self) -> str:
        op = ">=" if self.metric == "acc" else "<="
        over = ", ".join(self.skills) if self.skills else "all eval skills"
        return f"mean {self.metric} over {over} {op} {self.value:g}"


@dataclass(frozen=True)
class PairedReport:
    """Which paired comparisons a report prints, and over which skills and budget fractions."""

    pairs: dict[str, tuple[str, ...]] = field(default_factory=dict)  # candidate -> baselines
    skills: tuple[str, ...] | None = None  # None: every eval skill
    at: tuple[float, ...] = (0.4, 1.0)
    # source skills outside the run's eval skills (e.g. a held-out split), scored afterwards on
    # each run's final checkpoint
    extra_skills: tuple[str, ...] = ()


@dataclass
class Suite:
    name: str
    variant: str
    path: Path
    description: str
    config: Path
    overrides: list[str]
    steps: int
    seeds: list[int]
    target: Target
    seed_key: str = "seed"  # the config key each of `seeds` sets
    strategies: dict[str, list[str]] = field(default_factory=dict)
    variants: list[str] = field(default_factory=list)  # names of the file's other variants
    paired: PairedReport = field(default_factory=PairedReport)

    @property
    def label(self) -> str:
        return self.name if self.variant == "default" else f"{self.name}-{self.variant}"


def available_suites(directory: Path = SUITE_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml") if _is_suite_file(p))


def _is_suite_file(path: Path) -> bool:
    try:
        node = OmegaConf.to_container(OmegaConf.load(path))
    except (OSError, ValueError, yaml.YAMLError, OmegaConfBaseException):
        return False
    return isinstance(node, dict) and "strategies" in node


def suite_path(name: str, directory: Path = SUITE_DIR) -> Path:
    """A suite name (file stem under the shipped suites/) or a path to a suite YAML file."""
    as_path = Path(name)
    if as_path.suffix in (".yaml", ".yml") and as_path.is_file():
        return as_path.resolve()
    candidate = directory / f"{name}.yaml"
    if candidate.is_file() and _is_suite_file(candidate):
        return candidate
    if candidate.is_file():  # a suite file that does not parse: say why instead of "unknown"
        try:
            OmegaConf.load(candidate)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise SkillitError(f"suite file {candidate} is not valid YAML: {exc}") from None
    raise SkillitError(
        f"unknown suite {name!r}; available suites: {', '.join(available_suites(directory)) or '(none)'} "
        f"(files in {directory}), or give a path to a suite .yaml file"
    )


def parse_seeds(value: Any, key: str) -> list[int]:
    """`5` -> [0..4]; `[0, 3]` or "0,3" -> those seeds; `"0-4"` -> [0..4]."""
    if isinstance(value, bool):
        raise SkillitError(f"{key} must be a count or a list of seeds, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise SkillitError(
                f"{key}: a single number is a seed count and must be >= 1, got {value} "
                "(for seed 0 alone write 0-0)"
            )
        return list(range(value))
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return parse_seeds(int(text), key)
        try:
            if "-" in text and "," not in text:
                lo, hi = (int(x) for x in text.split("-"))
                if hi < lo:
                    raise ValueError
                return list(range(lo, hi + 1))
            value = [int(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise SkillitError(f"{key} must look like 5, 0,1,2 or 0-4; got {value!r}") from None
    if (
        isinstance(value, (list, tuple))
        and value
        and all(isinstance(s, int) and s >= 0 for s in value)
    ):
        if len(set(value)) != len(value):
            raise SkillitError(f"{key} lists a seed twice: {list(value)}")
        return list(value)
    raise SkillitError(f"{key} must be a count or a non-empty list of seeds >= 0, got {value!r}")


# -- the suite file, as typed dataclasses merged by OmegaConf (as run configs are) ----------------
@dataclass
class TargetFile:
    metric: str = "acc"
    value: float = 0.95
    skills: list[str] | None = None


@dataclass
class ReportFile:
    skills: list[str] | None = None
    at: list[float] = field(default_factory=lambda: [0.4, 1.0])
    extra_skills: list[str] = field(default_factory=list)


@dataclass
class VariantFile:
    """A variant replaces any of these keys of the suite (null: keep the suite's)."""

    description: str | None = None
    config: str | None = None
    overrides: list[str] | None = None
    steps: int | None = None
    seeds: Any = None
    target: TargetFile | None = None
    strategies: dict[str, list[str]] | None = None


@dataclass
class SuiteFile:
    config: str = MISSING  # run config, relative to the suite file
    steps: int = MISSING  # trainer.max_steps of every run
    strategies: dict[str, list[str]] = MISSING  # label -> overrides of that strategy
    description: str = ""
    overrides: list[str] = field(default_factory=list)  # for every run
    seeds: Any = 5  # a count (seeds 0..n-1), a list, or "0-4"
    seed_key: str = "seed"  # or model.init_jitter_seed (draws of a numerics variant)
    target: TargetFile = field(default_factory=TargetFile)
    paired: dict[str, list[str]] = field(default_factory=dict)  # candidate -> baselines
    report: ReportFile = field(default_factory=ReportFile)
    variants: dict[str, VariantFile] = field(default_factory=dict)


SEED_KEYS = ("seed", "model.init_jitter_seed")


def _check_seed_key(key: str, where: str) -> str:
    if key not in SEED_KEYS:
        raise SkillitError(f"{where}: seed_key must be one of {list(SEED_KEYS)}, got {key!r}")
    return key


def _apply_variant(suite: SuiteFile, variant: VariantFile) -> SuiteFile:
    for f in fields(VariantFile):
        value = getattr(variant, f.name)
        if value is not None:
            setattr(suite, f.name, value)
    return suite


def _check_overrides(items: list[str], key: str, where: str, base: Path | None = None) -> list[str]:
    """The overrides as strings; a relative path of a path key (mixing.graph.path, ...) is made
    relative to the suite file, as in config files (`{run:NAME}` references stay as written)."""
    bad = [o for o in items if "=" not in str(o)]
    if bad:
        raise SkillitError(f"{where}: {key} must be key=value overrides, got {bad}")
    out = []
    for item in map(str, items):
        name, _, value = item.partition("=")
        if base is not None and name in path_keys() and value and "{run:" not in value:
            path = Path(value).expanduser()
            if not path.is_absolute():
                item = f"{name}={(base / path).resolve()}"
        out.append(item)
    return out


def load_suite(name: str, variant: str = "default", directory: Path = SUITE_DIR) -> Suite:
    path = suite_path(name, directory)
    where = f"suite file {path}"
    try:
        node = OmegaConf.load(path)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise SkillitError(f"{where} is not valid YAML: {exc}") from exc
    raw = merge_structured(SuiteFile, [(where, node)])
    if variant != "default":
        if variant not in raw.variants:
            raise SkillitError(
                f"suite {path.stem} has no variant {variant!r} (--variant); available: "
                f"{', '.join(['default', *raw.variants])}"
            )
        raw = _apply_variant(raw, raw.variants[variant])
    config = (path.parent / raw.config).resolve()
    if not config.is_file():
        raise SkillitError(f"{where}: config {config} does not exist")
    if raw.steps < 1:
        raise SkillitError(f"{where}: steps must be an integer >= 1, got {raw.steps!r}")
    if not raw.strategies:
        raise SkillitError(f"{where}: strategies must be a non-empty mapping of label -> overrides")
    target = raw.target
    return Suite(
        name=path.stem,
        variant=variant,
        path=path,
        description=raw.description,
        config=config,
        overrides=_check_overrides(raw.overrides, "overrides", where, path.parent),
        steps=raw.steps,
        seeds=parse_seeds(raw.seeds, f"{where}: seeds"),
        seed_key=_check_seed_key(raw.seed_key, where),
        target=Target(
            metric=target.metric,
            value=float(target.value),
            skills=tuple(target.skills) if target.skills else None,
        ),
        strategies={
            str(label): _check_overrides(items, f"strategies.{label}", where, path.parent)
            for label, items in raw.strategies.items()
        },
        variants=list(raw.variants),
        paired=_paired_report(raw, where),
    )


def _paired_report(raw: SuiteFile, where: str) -> PairedReport:
    for candidate, baselines in raw.paired.items():
        unknown = [s for s in (candidate, *baselines) if s not in raw.strategies]
        if unknown:
            raise SkillitError(
                f"{where}: paired names {unknown}, which are not strategies of the suite: "
                f"{', '.join(raw.strategies)}"
            )
    bad = [f for f in raw.report.at if not 0 < f <= 1]
    if bad:
        raise SkillitError(f"{where}: report.at takes budget fractions in (0, 1], got {bad}")
    return PairedReport(
        pairs={str(c): tuple(b) for c, b in raw.paired.items()},
        skills=tuple(raw.report.skills) if raw.report.skills else None,
        at=tuple(float(f) for f in raw.report.at),
        extra_skills=tuple(raw.report.extra_skills),
    )


def restrict(
    suite: Suite,
    steps: int | None = None,
    seeds: list[int] | None = None,
    strategies: list[str] | None = None,
    extra: list[str] | None = None,
) -> Suite:
    """The suite with command-line overrides (--steps, --seeds, --strategies, --set) applied."""
    if steps is not None:
        if steps < 1:
            raise SkillitError(f"--steps must be >= 1, got {steps}")
        suite.steps = steps
    if seeds is not None:
        suite.seeds = seeds
    if strategies is not None:
        unknown = [s for s in strategies if s not in suite.strategies]
        if unknown:
            raise SkillitError(
                f"--strategies names {unknown}, not in suite {suite.name}; valid: {', '.join(suite.strategies)}"
            )
        suite.strategies = {s: suite.strategies[s] for s in strategies}
        kept = {
            c: tuple(b for b in bs if b in suite.strategies)
            for c, bs in suite.paired.pairs.items()
            if c in suite.strategies
        }
        suite.paired = replace(suite.paired, pairs={c: bs for c, bs in kept.items() if bs})
    if extra:
        bad = [o for o in extra if "=" not in o]
        if bad:
            raise SkillitError(f"--set takes key=value, got {bad}")
        suite.overrides = [*suite.overrides, *extra]
    return suite
