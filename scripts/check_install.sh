#!/usr/bin/env bash
# A non-editable install into a new venv, used from a directory outside the checkout: the shipped
# configs and suites must come from the installed package, not from the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q "$TORCH_SPEC"
# Install from a copy of the source, so the build leaves nothing (build/, *.egg-info) in the checkout.
mkdir "$WORK/src"
tar -C "$REPO" --exclude=./.venv --exclude=./runs --exclude=./build --exclude=./.git -cf - . \
  | tar -C "$WORK/src" -xf -
"$WORK/venv/bin/python" -m pip install -q "$WORK/src"
mkdir "$WORK/elsewhere"
cd "$WORK/elsewhere"
where=$("$WORK/venv/bin/python" -c 'import skillit; print(skillit.__file__)')
case "$where" in "$REPO"/*) echo "check_install: skillit was imported from the checkout ($where)"; exit 1;; esac
"$WORK/venv/bin/skillit" bench --list | tee list.txt
grep -q "^lego-cpt " list.txt
"$WORK/venv/bin/skillit" train lego trainer.max_steps=40 mixing.rounds=2 logger.wandb=off \
  trainer.progress_bar=false mixing.plots=false run_dir=run
test -s run/final_eval.json
echo "check_install: installed skillit ran 'bench --list' and the shipped 'lego' experiment from $WORK/elsewhere"
