#!/usr/bin/env bash
# Prepare the wheels benchmarks/gpu_check.sh installs on a CUDA machine that reaches no package
# registry: posekit's own distributions (core + every plugin) and the dependencies such a machine
# usually lacks (pydantic, pycocotools, pluggy, ...). torch, numpy, opencv, scipy and matplotlib
# are expected there already (gpu_check.sh says which are missing). Run it here, where a registry
# is reachable, then carry the folder along (it is ignored by git: never commit wheels):
#
#     bash benchmarks/gpu_wheels.sh [OUT=gpu_wheels] [PYTHON_VERSION=3.11]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu_wheels}
PYV=${2:-3.11}
mkdir -p "$OUT"
python -m pip wheel -q --no-deps -w "$OUT" . plugins/*/
python -m pip download -q --no-deps -d "$OUT" --only-binary=:all: --python-version "$PYV" \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    pydantic pydantic-core annotated-types typing-extensions typing-inspection pycocotools pluggy pyyaml \
    tqdm importlib-metadata zipp packaging
du -sh "$OUT"
