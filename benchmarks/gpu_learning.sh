#!/usr/bin/env bash
# The multi-person learning curves (onestage_learning.py, bottomup_learning.py) on a CUDA machine with many
# cores, in one call of under 10 minutes, beside benchmarks/gpu_check.sh:
#   - while gpu_check.sh runs alone on the GPU (cores 0-7), 2-core CPU runs at CPU_SIZE px (cores 8-15, two
#     torch threads each: these machines' size), one per family in CPU_RUNS;
#   - once it is done, CUDA runs at 256 px (cores 0-7), one per family in GPU_RUNS.
# (RTMO's 2-core CPU run is onestage_learning.py's default, 20 minutes: longer than one call.)
# Every run stops at its time limit; the logs are printed at the end and kept in LOGS.
#
#     bash benchmarks/gpu_learning.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOGS=$(mkdir -p "${LOGS:-work_dirs/learning}" && cd "${LOGS:-work_dirs/learning}" && pwd)
WORK=$(mktemp -d) && START=$SECONDS
CPU_RUNS=${CPU_RUNS-"edpose dekr cid"}
GPU_RUNS=${GPU_RUNS-"edpose rtmo dekr cid"}  # at most 4: two cores each in 0-7, never shared
LIMIT=${LIMIT:-560}  # seconds from the start, for every run
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
"$PY" -m pip install -q --no-index --no-deps "${GPU_WHEELS:-gpu_wheels}"/*.whl || exit 1

run() {  # run FAMILY DEVICE SIZE IMAGES CORES ARGS...: one learning curve, pinned to CORES, until LIMIT
    local family=$1 device=$2 size=$3 images=$4 cores=$5 && shift 5
    local script=bottomup_learning.py && [ "$family" = rtmo ] && script=onestage_learning.py
    local fam=(--family "$family")
    mkdir -p "$WORK/$family-$device" && ln -sfn "$WORK/data-$size-$images" "$WORK/$family-$device/data-${size}px-$images-100"
    (cd benchmarks && timeout $((LIMIT - SECONDS + START)) taskset -c "$cores" "$PY" "$script" "${fam[@]}" \
        --device "$device" --size "$size" --num-train "$images" --num-val 100 --work "$WORK/$family-$device" \
        "$@" >"$LOGS/$family-$device-$size.log" 2>&1 &)
}
synth() { "$PY" -m posekit data synth --out "$WORK/data-$1-$2" --num-train "$2" --num-val 100 --size "$1x$1" --seed 0 >/dev/null; }

CPU_IMAGES=${CPU_IMAGES:-400} GPU_IMAGES=${GPU_IMAGES:-2000} CPU_SIZE=${CPU_SIZE:-192}
synth "$CPU_SIZE" "$CPU_IMAGES" && synth 256 "$GPU_IMAGES"
core=${CPU_CORE:-8}
for family in $CPU_RUNS; do
    [ "$core" -ge 16 ] && { echo "gpu_learning: no two free cores in 8-15 for $family: not run"; continue; }
    run "$family" cpu "$CPU_SIZE" "$CPU_IMAGES" "$core-$((core + 1))" --threads 2 --epochs 40 --val-interval 1 && core=$((core + 2))
done
OUT=work_dirs/gpu_check taskset -c 0-7 bash benchmarks/gpu_check.sh 2>&1 | tee "$LOGS/gpu_check.log"
core=0
for family in $GPU_RUNS; do
    [ "$core" -ge 8 ] && { echo "gpu_learning: no two free cores in 0-7 for $family: not run"; continue; }
    run "$family" cuda 256 "$GPU_IMAGES" "$core-$((core + 1))" --threads 1 --batch 16 --epochs 30 --val-interval 2 \
        --set data.train.num_workers=1 && core=$((core + 2))
done
sleep $((LIMIT - SECONDS + START + 5))
for f in "$LOGS"/*.log; do echo "== $(basename "$f")"; grep -vE "^\s*$" "$f" | tail -25; done
