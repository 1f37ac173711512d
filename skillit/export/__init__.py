"""Mixtures out of a run: skillit YAML and the training engines' own formats."""
