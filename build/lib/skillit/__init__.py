"""skillit: skill-based data selection for training language models (Skill-It) on Lightning."""

__version__ = "0.1.0"
