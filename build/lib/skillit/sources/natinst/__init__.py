"""Natural Instructions (Super-NaturalInstructions task files) as a skill source."""

from skillit.sources.natinst.config import NatInstSourceConfig
from skillit.sources.natinst.selection import NatInstWarning
from skillit.sources.natinst.source import NatInstSource

__all__ = ["NatInstSource", "NatInstSourceConfig", "NatInstWarning"]
