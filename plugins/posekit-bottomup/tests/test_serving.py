"""Serving a bottom-up model: ``posekit.inference_bottomup``, the Inferencer and a video, through ``serving()``."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import posekit
from posekit.errors import ConfigError
from posekit.inference import Inferencer

MODEL = "ae-hrnet-w18-small_coco-256x256"


def test_bottomup_image(shared: Path, tmp_path: Path) -> None:
    folder = shared / "fixtures/mmpose/models/ae-hrnet-w18-small_coco-256x256"
    model = posekit.init_model(json.loads((folder / "config.json").read_text()), folder / "checkpoint.pth")
    people = posekit.inference_bottomup(model, shared / "data/coco/000000040083.jpg")
    assert all(p.keypoints.shape == (17, 2) and p.keypoint_scores.shape == (17,) for p in people)
    written = Inferencer(json.loads((folder / "config.json").read_text()), folder / "checkpoint.pth").run(
        shared / "data/coco/000000040083.jpg", tmp_path / "out"
    )
    record = json.loads(written[0].read_text())
    assert len(record["instances"]) == len(people)


def test_bottomup_serves_whole_images_and_videos(shared: Path, tmp_path: Path) -> None:
    folder = shared / "fixtures/mmpose/models" / MODEL
    inferencer = Inferencer(json.loads((folder / "config.json").read_text()), folder / "checkpoint.pth")
    assert inferencer.kind == "image"
    frame = cv2.imread(str(shared / "data/coco/000000040083.jpg"))
    with pytest.raises(ConfigError, match="serves 'image' requests"):
        inferencer(frame, bboxes=[[0, 0, 10, 10]])
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (frame.shape[1], frame.shape[0]))
    for _ in range(2):
        writer.write(frame)
    writer.release()
    written = inferencer.run(video, tmp_path / "out")
    record = json.loads(written[0].read_text())
    assert len(record["frames"]) == 2
    people = [np.asarray(p["keypoints"]).shape for p in record["frames"][0]["instances"]]
    assert people and all(shape == (17, 2) for shape in people)
