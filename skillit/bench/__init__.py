"""Benchmark suites: strategies x seeds of one setting, run in parallel, summarised over seeds.

Public API: :func:`run_suite` (what `skillit bench` does), :func:`load_suite`,
:func:`available_suites`, :func:`plan_runs`, :func:`execute`, :func:`write_report`.
"""

from __future__ import annotations

from skillit.bench.suite import Suite, Target, available_suites, load_suite, parse_seeds, restrict

__all__ = [
    "Suite",
    "Target",
    "available_suites",
    "load_suite",
    "parse_seeds",
    "restrict",
    "run_suite",
]


def run_suite(suite: Suite, out, jobs: int = 1, progress: bool = True, plots: bool = True) -> dict:
    """Run every unfinished run of `suite` into `out`, then write results.json, results.md, plots.

    Returns the results.json payload with "ran"/"skipped" lists of this invocation added.
    """
    from pathlib import Path

    from skillit.bench.report import write_report
    from skillit.bench.runner import execute, plan_runs

    out = Path(out)
    specs = plan_runs(suite, out)
    done = execute(specs, jobs=jobs, progress=progress)
    results = write_report(suite, specs, out, plots=plots)
    results.update(done)
    return results
