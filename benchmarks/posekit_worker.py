"""Another checkout's posekit timed in the benchmark's run: the baseline of ``inference.py --before PYTHON``.

Run under the Python of that checkout's ``.venv`` (``git worktree add ../before REV && bash
../before/scripts/setup.sh``), so a change is measured before/after in one run, alternating. It
speaks ``mmpose_worker.py``'s top-down commands through posekit's public API only (which every
checkout has): ``{"topdown": model dict, "checkpoint": PATH, "image": PATH}`` -> ``posekit.init_model``
(the default optimized model) and the image loaded once, answering ``{"params": N}``; then
``{"boxes": [[x1, y1, x2, y2], ...]}`` -> one ``posekit.inference_topdown``, answering ``{"ms": wall
time, "keypoints": (N, K, 2), "scores": (N, K)}``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import cv2
import numpy as np

import posekit


def main() -> None:
    model: Any = None
    img: np.ndarray | None = None
    for line in sys.stdin:
        cmd = json.loads(line)
        if "topdown" in cmd:
            model = posekit.init_model(cmd["topdown"], cmd["checkpoint"])
            img = cv2.imread(cmd["image"])
            reply: dict[str, Any] = {"params": sum(p.numel() for p in model.parameters())}
        else:
            boxes = np.asarray(cmd["boxes"], np.float32)
            start = time.perf_counter()
            people = posekit.inference_topdown(model, img, boxes)
            ms = (time.perf_counter() - start) * 1e3
            reply = {
                "ms": ms,
                "keypoints": np.stack([p.keypoints for p in people]).tolist(),
                "scores": np.stack([p.keypoint_scores for p in people]).tolist(),
            }
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
