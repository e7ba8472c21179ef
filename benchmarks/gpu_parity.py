"""CUDA serves what the CPU serves: ``init_model`` + ``inference_topdown`` of one checkpoint on both devices.

Run by ``gpu_check.sh`` on a CUDA machine: RTMPose-m (the shipped example config, random weights
saved once as a checkpoint), flip test on, on an image with 4 boxes; prints the largest keypoint
distance (px) and score difference between the CPU's default path (onnxruntime graphs or frozen
traces) and CUDA's (frozen traces), and CUDA's latency.

    python benchmarks/gpu_parity.py IMAGE
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

import posekit

CONFIG = Path(__file__).resolve().parents[1] / "examples/configs/rtmpose-m_coco-256x192.yaml"


def main(image: str) -> None:
    img = cv2.imread(image)
    h, w = img.shape[:2]
    boxes = np.array([[0, 0, w, h], [w * 0.1, h * 0.1, w * 0.6, h * 0.9], [w * 0.4, 0, w, h * 0.7], [5, 5, 60, 120]])
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "rtmpose-m.pth"
        torch.save({"state_dict": posekit.init_model(CONFIG, optimize=False).state_dict()}, ckpt)
        out = {}
        for device in ("cpu", "cuda"):
            model = posekit.init_model(CONFIG, ckpt, device=device)
            people = posekit.inference_topdown(model, img, boxes)
            if device == "cuda":
                torch.cuda.synchronize()
                start = time.perf_counter()
                for _ in range(10):
                    posekit.inference_topdown(model, img, boxes)
                torch.cuda.synchronize()
                print(f"cuda: {(time.perf_counter() - start) * 100:.1f} ms per image (4 boxes, flip test)")
            out[device] = (np.stack([p.keypoints for p in people]), np.stack([p.keypoint_scores for p in people]))
    dk = float(np.abs(out["cpu"][0] - out["cuda"][0]).max())
    ds = float(np.abs(out["cpu"][1] - out["cuda"][1]).max())
    near = float(np.mean(np.linalg.norm(out["cpu"][0] - out["cuda"][0], axis=-1) < 0.05))
    print(f"cpu vs cuda: max keypoint distance {dk:.4f} px ({100 * near:.0f}% within 0.05 px), max score diff {ds:.2e}")


if __name__ == "__main__":
    main(sys.argv[1])
