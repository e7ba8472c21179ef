#!/usr/bin/env bash
# Create .venv and install the core and every plugin in plugins/ as real pip installs; safe to
# run again (it only installs what changed; re-run it after adding an entry point or a plugin).
#   bash scripts/setup.sh      # set up; then `. .venv/bin/activate`
#   . scripts/setup.sh         # set up and activate .venv in this shell (bash), from any folder
# Sourced, it changes neither your shell's options nor its folder, and a failure returns
# non-zero instead of closing the shell. main.sh and test.sh source it.

_posekit_setup() {
    local root py
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || return 1
    py=${PYTHON:-python3}
    if [ ! -x "$root/.venv/bin/python" ]; then
        "$py" -m venv "$root/.venv" || { echo "setup.sh: could not create $root/.venv with $py" >&2; return 1; }
    fi
    # shellcheck disable=SC1091
    . "$root/.venv/bin/activate" || return 1
    export PIP_DISABLE_PIP_VERSION_CHECK=1
    # torch first, pinned: where the local CPU wheel 2.13.0 exists it is taken as is; elsewhere
    # fall back to PyTorch's CPU index rather than PyPI's several GB of CUDA packages.
    if ! python -c "import torch" 2>/dev/null; then
        pip install -q torch==2.13.0 \
            || pip install -q torch --index-url https://download.pytorch.org/whl/cpu \
            || { echo "setup.sh: could not install torch" >&2; return 1; }
    fi
    local plugins=() d
    for d in "$root"/plugins/*/; do plugins+=(-e "$d"); done
    pip install -q -e "$root[dev]" "${plugins[@]}" || { echo "setup.sh: pip install failed" >&2; return 1; }
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then  # sourced: keep the caller's shell as it was
    _posekit_setup
    _posekit_rc=$?
    unset -f _posekit_setup
    return "$_posekit_rc"
fi
set -euo pipefail
_posekit_setup
