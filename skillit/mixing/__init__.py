"""Mixing strategies: the mixture over training skills for each round (numpy only, no torch).

One file per family (fixed, skillit, curricula, doremi, odm, aioli), the interface in base, the
pure math in updates, and the one list of names in registry.
"""

from skillit.mixing.aioli import AioliConfig, AioliStrategy
from skillit.mixing.base import Block, BuildContext, InRoundNeeds, MixingStrategy
from skillit.mixing.curricula import CurriculumSchedule, CurriculumStrategy
from skillit.mixing.doremi import DoReMiConfig, DoReMiStrategy
from skillit.mixing.fixed import ManualStrategy, RandomStrategy, StratifiedStrategy
from skillit.mixing.odm import ODMConfig, ODMStrategy
from skillit.mixing.registry import StrategySpec, build_strategy, names, register, unregister
from skillit.mixing.settings import SETTINGS, check_setting, stratified_mask
from skillit.mixing.skillit import NoGraphStrategy, SkillItConfig, SkillItStrategy, StaticStrategy
from skillit.mixing.updates import (
    skillit_initial,
    skillit_update,
    softmax_weights,
    static_weights,
)

__all__ = [
    "SETTINGS",
    "AioliConfig",
    "AioliStrategy",
    "Block",
    "BuildContext",
    "CurriculumSchedule",
    "CurriculumStrategy",
    "DoReMiConfig",
    "DoReMiStrategy",
    "InRoundNeeds",
    "ManualStrategy",
    "MixingStrategy",
    "NoGraphStrategy",
    "ODMConfig",
    "ODMStrategy",
    "RandomStrategy",
    "SkillItConfig",
    "SkillItStrategy",
    "StaticStrategy",
    "StrategySpec",
    "StratifiedStrategy",
    "build_strategy",
    "check_setting",
    "names",
    "register",
    "skillit_initial",
    "skillit_update",
    "softmax_weights",
    "static_weights",
    "stratified_mask",
    "unregister",
]
