#!/usr/bin/env bash
# A separate environment holding MMPose 1.3.2 as BASELINES.md measured it (torch 2.13.0 CPU, mmengine 0.10.7,
# mmcv-lite 2.1.0, numpy 1.26), for `train_step.py --mmpose DIR/bin/python`.
# Usage: benchmarks/mmpose_env.sh [DIR]   (default ~/.cache/posekit/mmpose-env, outside the checkout)
# mmpose, mmcv-lite and mmdet are installed without their declared dependencies: those pull torchvision (no CPU
# build here) and a compiled mmcv; the training step needs neither. mmdet is there because mmpose.models imports it.
set -euo pipefail
dir="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/posekit/mmpose-env}"
python3 -m venv "$dir"
"$dir/bin/pip" install -q torch==2.13.0 "numpy<2" "opencv-python-headless<4.11" \
    addict json_tricks matplotlib munkres packaging pyyaml rich scipy six termcolor xtcocotools yapf
"$dir/bin/pip" install -q --no-deps mmpose==1.3.2 mmengine==0.10.7 mmcv-lite==2.1.0 mmdet==3.3.0
# mmpretrain holds ViTPose's VisionTransformer (plugins/posekit-vit/tests/fixtures/generate.py); einops is its import
"$dir/bin/pip" install -q --no-deps mmpretrain==1.2.0 einops==0.8.2
echo "MMPose's environment is ready: python benchmarks/train_step.py --mmpose $dir/bin/python"
