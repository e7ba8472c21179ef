"""Serving through BottomupPoseEstimator: ``posekit infer`` on a shared COCO image, and an empty result."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch

import posekit
import posekit.cli

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "synthetic_rtmo.yaml"


def infer(image: Path, out: Path, *options: str) -> dict:
    args = ["infer", str(CONFIG), "--random-weights", "--input", str(image), "--out", str(out), "--no-draw"]
    assert posekit.cli.main([*args, *options]) == 0
    return json.loads((out / "predictions" / f"{image.stem}.json").read_text())


def test_infer_on_a_coco_image(shared: Path, tmp_path: Path) -> None:
    image = shared / "data/coco/000000040083.jpg"
    h, w = cv2.imread(str(image)).shape[:2]
    # untrained weights score every prior alike: keep them all (threshold 0) and NMS them
    record = infer(image, tmp_path / "out", "--set", "model.test_cfg.score_thr=0.0")
    people = record["instances"]
    assert people, "every prior passes a zero threshold"
    for p in people:
        assert np.asarray(p["keypoints"]).shape == (17, 2) and len(p["keypoint_scores"]) == 17
        x1, y1, x2, y2 = p["bbox"]
        # clipped to the (padded, aspect-kept) input, then mapped to the image: they reach into the padding
        assert -w <= x1 <= x2 <= 2 * w and -h <= y1 <= y2 <= 2 * h
    scores = [p["bbox_score"] for p in people]
    assert scores == sorted(scores, reverse=True)


def test_no_person_gives_an_empty_result(tmp_path: Path) -> None:
    image = tmp_path / "blank.jpg"
    cv2.imwrite(str(image), np.full((96, 128, 3), 114, np.uint8))
    model = posekit.init_model(str(CONFIG))
    with torch.no_grad():  # a model that sees nobody: every class score at the 0.01 prior, under the 0.1 threshold
        for conv in model.head.head_module.out_cls:
            conv.weight.zero_()
    assert posekit.inference_bottomup(model, str(image)) == []
