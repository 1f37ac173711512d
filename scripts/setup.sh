#!/usr/bin/env bash
# One-command install: a .venv at the repository root with the CPU build of torch first
# (so nothing later pulls a multi-GB CUDA build), then skillit in editable mode with dev, plots, hf (transformers), search (lightgbm) and
# corpora (parquet and datasets folders for prepare). pip -qq: errors only, no build notices.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -qq --upgrade pip
.venv/bin/python -m pip install -qq "$TORCH_SPEC"
.venv/bin/python -m pip install -qq -e ".[dev,plots,hf,search,corpora]"
# the engines whose readers check the exports, without the CUDA torch they would pull: their
# small dependencies first (pip then has no engine to report version pins of), then the engines
.venv/bin/python -m pip install -qq -r requirements/engine-deps.txt
.venv/bin/python -m pip install -qq --no-deps -r requirements/engines.txt
echo "skillit installed in .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
