"""Shared fixtures: a 2D COCO track as ``posekit infer`` writes it, the input of a lifter's serving."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def coco_track(tmp_path: Path) -> Callable[[int], Path]:
    """``coco_track(n)``: ``clip.json`` of ``n`` frames of one tracked COCO person (17 keypoints drifting one pixel
    a frame in a 640x480 image, scores 0.9), in ``tmp_path``."""

    def write(num_frames: int) -> Path:
        base = np.random.default_rng(0).uniform(100, 300, (17, 2))
        person = {"keypoint_scores": [0.9] * 17, "track_id": 0}
        frames = [{"instances": [{"keypoints": (base + i).tolist(), **person}]} for i in range(num_frames)]
        source = tmp_path / "clip.json"
        source.write_text(json.dumps({"width": 640, "height": 480, "dataset_name": "coco", "frames": frames}))
        return source

    return write
