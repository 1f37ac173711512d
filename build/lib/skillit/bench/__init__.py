"""Benchmark suites: strategies x seeds of one setting, run in parallel, summarised over seeds.

Importing this package stays light (suite files only, for `skillit bench --list`); running a suite
is `skillit.bench.runner.run_suite`, which loads the trainer.
"""

from __future__ import annotations

from skillit.bench.suite import Suite, Target, available_suites, load_suite, parse_seeds, restrict

__all__ = ["Suite", "Target", "available_suites", "load_suite", "parse_seeds", "restrict"]
