"""Serving through BottomupPoseEstimator: ``posekit infer`` on a shared COCO image with the small config."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

import posekit.cli

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "synthetic_edpose.yaml"


def test_infer_on_a_coco_image(shared: Path, tmp_path: Path) -> None:
    image = shared / "data/coco/000000040083.jpg"
    h, w = cv2.imread(str(image)).shape[:2]
    out = tmp_path / "out"
    args = ["infer", str(CONFIG), "--random-weights", "--input", str(image), "--out", str(out), "--no-draw"]
    assert posekit.cli.main(args) == 0
    people = json.loads((out / "predictions" / f"{image.stem}.json").read_text())["instances"]
    assert len(people) == 10, "the codec's num_select people, end to end (no NMS, no threshold)"
    for p in people:
        kpts = np.asarray(p["keypoints"])
        assert kpts.shape == (17, 2) and len(p["keypoint_scores"]) == 17
        # sigmoid outputs are fractions of the (padded, aspect-kept) input, mapped back to the image
        assert np.isfinite(kpts).all() and (kpts > -w).all() and (kpts < 2 * max(w, h)).all()
    scores = [p["bbox_score"] for p in people]
    assert scores == sorted(scores, reverse=True)
