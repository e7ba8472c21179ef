#!/usr/bin/env bash
# The CUDA paths, run once on a CUDA machine in under 10 minutes, printing the figures:
#   1. the tests that need CUDA (names containing "cuda", they skip elsewhere);
#   2. two minutes of the main job with AMP (fp16 autocast + GradScaler);
#   3. a 1-GPU torchrun (NCCL) with SyncBatchNorm;
#   4. inference throughput of RTMPose-m at batch 1/32/128 in fp32 and fp16;
#   5. the public inference path on CUDA against the CPU's (gpu_parity.py).
# That machine reaches no registry: prepare the wheels here with benchmarks/gpu_wheels.sh and carry
# the folder (GPU_WHEELS, default gpu_wheels). On a machine without CUDA it says so and exits 0.
#
#     bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_check: no CUDA device here (no torch, or torch.cuda.is_available() is false); nothing to check"
    exit 0
fi
WHEELS=${GPU_WHEELS:-gpu_wheels}
OUT=${OUT:-work_dirs/gpu_check}
rm -rf "$OUT" && mkdir -p "$OUT"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONWARNINGS=ignore
section() { echo; echo "== $1 ($(date +%T))"; }

section "install (offline, from $WHEELS)"
"$PY" -m pip install -q --no-index --find-links "$WHEELS" --no-deps "$WHEELS"/*.whl || exit 1
"$PY" - <<'PY'
import importlib
missing = [m for m in ("torch", "numpy", "cv2", "scipy", "matplotlib", "pydantic", "pycocotools", "pluggy", "yaml", "tqdm")
           if importlib.util.find_spec(m) is None]
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")
print("missing modules:", ", ".join(missing) or "none")
PY

section "CUDA tests"
timeout 150 "$PY" -m pytest tests plugins -q -k cuda -p no:cacheprovider 2>&1 | tail -3

section "main job, 2 minutes, AMP (fp16 + GradScaler)"
"$PY" -m posekit data synth --out "$OUT/data/synthetic" --num-train 400 --num-val 50 >/dev/null
(cd "$OUT" && timeout 120 "$PY" -m posekit train ../../examples/configs/synthetic_rtmpose.yaml --work-dir amp \
    --set optim.amp=true --set train.device=cuda --set train.progress=false --set train.val_interval=2 \
    --set train.epochs=4 --set data.train.num_workers=4 2>&1 | grep -E "iter|validation|error" | tail -4)
echo "checkpoints: $(ls "$OUT"/amp/*.pth 2>/dev/null | wc -l)"

section "torchrun, 1 GPU, NCCL, SyncBatchNorm"
(cd "$OUT" && timeout 120 "$PY" -m torch.distributed.run --standalone --nproc-per-node 1 -m posekit train \
    ../../examples/configs/synthetic_rtmpose.yaml --work-dir nccl --set train.device=cuda --set train.max_iters=40 \
    --set train.sync_bn=true --set train.progress=false --set data.train.num_workers=2 2>&1 | grep -E "iter|error" | tail -2)
echo "exit code ${PIPESTATUS[0]}; checkpoints: $(ls "$OUT"/nccl/*.pth 2>/dev/null | wc -l)"

section "inference throughput, RTMPose-m 256x192 (random weights, model forward)"
timeout 150 "$PY" - <<'PY'
import time

import torch

import posekit

model = posekit.init_model("examples/configs/rtmpose-m_coco-256x192.yaml", device="cuda")
for dtype in (torch.float32, torch.float16):
    for batch in (1, 32, 128):
        x = torch.randn(batch, 3, 256, 192, device="cuda")
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=dtype == torch.float16):
            for _ in range(5):
                model(x, None, "tensor")
            torch.cuda.synchronize()
            runs, start = 0, time.perf_counter()
            while time.perf_counter() - start < 3:
                model(x, None, "tensor")
                runs += 1
            torch.cuda.synchronize()
        per_s = runs * batch / (time.perf_counter() - start)
        print(f"{str(dtype).removeprefix('torch.'):8s} batch {batch:4d}: {per_s:9.1f} crops/s")
print("MMPose beside: not carried (its mmcv wheels are built per CUDA/torch pair)")
PY

section "init_model + inference_topdown, CUDA against CPU"
timeout 120 "$PY" benchmarks/gpu_parity.py "$(ls "$OUT"/data/synthetic/val2017/*.jpg | head -1)"
