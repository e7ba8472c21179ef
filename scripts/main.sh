#!/usr/bin/env bash
# The main job, from a fresh machine: set up, generate the synthetic COCO-17 dataset, train
# the top-down model on it, evaluate it (COCO AP) and draw predictions on validation images.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
# Keep torch's two OpenMP threads on separate cores (on these 2-vCPU machines a fresh process
# sometimes gets both on one, and every parallel region then stalls).
export OMP_PROC_BIND=${OMP_PROC_BIND:-close} OMP_PLACES=${OMP_PLACES:-cores}
CONFIG=examples/configs/synthetic_rtmpose.yaml
WORK=work_dirs/synthetic_rtmpose
if [ ! -f data/synthetic/annotations/person_keypoints_val2017.json ]; then
    posekit data synth --out data/synthetic
fi
rm -rf "$WORK"  # the main job starts afresh (train refuses a folder holding another run's files)
posekit train "$CONFIG" --work-dir "$WORK" "$@"
BEST=$(ls -t "$WORK"/best_*.pth | head -n 1)
posekit test "$CONFIG" --checkpoint "$BEST" --out "$WORK/test_metrics.json"
mkdir -p "$WORK/samples"
for img in $(ls data/synthetic/val2017/*.jpg | head -n 8); do cp "$img" "$WORK/samples/"; done
posekit infer "$CONFIG" --checkpoint "$BEST" --input "$WORK/samples" \
    --boxes data/synthetic/annotations/person_keypoints_val2017.json --out "$WORK/predictions"
echo "predictions drawn in $WORK/predictions; training curves in $WORK/curves.png"
