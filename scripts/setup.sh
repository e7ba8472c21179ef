#!/usr/bin/env bash
# Create .venv and install the core and every plugin in plugins/ as real pip installs.
# Sourced by main.sh and test.sh; safe to run again (it only installs what changed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first, pinned: where the local CPU wheel 2.13.0 exists it is taken as is; elsewhere
# fall back to PyTorch's CPU index rather than PyPI's several GB of CUDA packages.
if ! python -c "import torch" 2>/dev/null; then
    pip install -q torch==2.13.0 \
        || pip install -q torch --index-url https://download.pytorch.org/whl/cpu
fi
plugins=()
for d in plugins/*/; do plugins+=(-e "$d"); done
pip install -q -e ".[onnx,dev]" "${plugins[@]}"
