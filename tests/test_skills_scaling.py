"""benchmarks/skills_scaling.py --quick: every quantity is measured for every k and strategy."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "skills_scaling.py"
STRATEGIES = ["stratified", "skillit", "doremi", "odm", "aioli"]
QUANTITIES = {  # each quantity and the columns it must have
    **dict.fromkeys(
        [
            "update_s",
            "in_round_s",
            "order_s",
            "order_mib",
            "loader_s",
            "loader_mib",
            "eval_per_round_s",
            "history_bytes",
            "history_write_s",
            "console_chars",
            "step_s",
            "boundary_s",
            "boundary_share",
            "val_in_training_s",
            "history_bytes_real",
            "eval_history_bytes",
            "checkpoint_bytes",
            "csv_columns",
            "csv_train_row_bytes",
            "keys_per_step",
            "keys_per_round",
        ],
        STRATEGIES,
    ),
    "odm_step_s": ["odm"],
    "odm_update_in_training_s": ["odm"],
    "eval_s": ["all"],
    "eval_per_skill_s": ["all"],
}


def test_quick_run_fills_every_cell(tmp_path):
    out = tmp_path / "skills_scaling.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["ks"] == [10, 100]
    assert result["strategies"] == STRATEGIES
    quantities = result["quantities"]
    assert sorted(quantities) == sorted(QUANTITIES)
    for key, columns in QUANTITIES.items():
        q = quantities[key]
        assert q["ks"] == [10, 100], key
        assert q["strategies"] == columns, key
        assert not any(q["skipped"].values()), (key, q["skipped"])
        for strategy in columns:
            for k in q["ks"]:
                value = q["values"].get(strategy, {}).get(str(k))
                assert value is not None, (key, strategy, k)
                assert math.isfinite(value) and value >= 0, (key, strategy, k, value)
        assert f"### {q['title']}" in proc.stdout, key
    # what the counts must be, whatever the machine: k val losses and accuracies (and their
    # means), k mixture and 2k delivered keys, `round` and `epoch` at a round end
    for k in (10, 100):
        assert quantities["keys_per_round"]["values"]["stratified"][str(k)] == 5 * k + 4
        assert quantities["history_bytes"]["values"]["stratified"][str(k)] > 0
