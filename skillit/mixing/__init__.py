"""Mixing strategies: the mixture over training skills for each round (numpy only, no torch)."""

from skillit.mixing.settings import SETTINGS, check_setting, stratified_mask
from skillit.mixing.strategies import (
    STRATEGY_NAMES,
    CurriculumSchedule,
    CurriculumStrategy,
    ManualStrategy,
    MixingStrategy,
    NoGraphStrategy,
    RandomStrategy,
    SkillItStrategy,
    StaticStrategy,
    StratifiedStrategy,
    build_strategy,
)
from skillit.mixing.updates import (
    skillit_initial,
    skillit_update,
    softmax_weights,
    static_weights,
)

__all__ = [
    "SETTINGS",
    "STRATEGY_NAMES",
    "CurriculumSchedule",
    "CurriculumStrategy",
    "ManualStrategy",
    "MixingStrategy",
    "NoGraphStrategy",
    "RandomStrategy",
    "SkillItStrategy",
    "StaticStrategy",
    "StratifiedStrategy",
    "build_strategy",
    "check_setting",
    "skillit_initial",
    "skillit_update",
    "softmax_weights",
    "static_weights",
    "stratified_mask",
]
