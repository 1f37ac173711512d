"""Sources of skill data: each gives, per skill, training samples and a fixed validation set."""

from skillit.sources.base import SkillExamples, SkillSource, concat_examples

__all__ = ["SkillExamples", "SkillSource", "concat_examples"]
