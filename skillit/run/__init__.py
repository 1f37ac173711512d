"""The run directory and what is written into it: layout and locks, checkpoints, plots, re-scoring a finished run."""
