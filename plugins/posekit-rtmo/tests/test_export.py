"""ONNX round trip: every prior decoded in the graph (boxes, scores, DCC keypoints) equals torch; score
threshold and NMS outside the graph give ``predict``'s people."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from posekit_rtmo.one_stage import select_instances
from scipy.optimize import linear_sum_assignment

import posekit
import posekit.cli
from posekit.structures import PoseBatch, PoseSample


@pytest.mark.parametrize("name", ["synthetic_rtmo", "synthetic_yoloxpose"])
def test_onnx_round_trip(name: str, small_config: Callable[[str, Path], Path], tmp_path: Path) -> None:
    cfg = small_config(name, tmp_path / "work")
    model = posekit.init_model(str(cfg), optimize=False)  # the module as built: saved by its own keys
    ckpt = tmp_path / "model.pth"
    torch.save({"state_dict": model.state_dict()}, ckpt)
    onnx_file = tmp_path / f"{name}.onnx"  # posekit export verifies the file's outputs against torch (1e-4)
    assert posekit.cli.main(["export", str(cfg), "--checkpoint", str(ckpt), "-o", str(onnx_file)]) == 0

    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, 3, 64, 64)).astype(np.float32))
    outputs = ort.InferenceSession(str(onnx_file)).run(None, {"input": x.numpy()})
    assert [o.shape[:1] for o in outputs] == [(1,)] * 4
    test_cfg = model.test_cfg.model_copy(update={"score_thr": 0.0})  # untrained: keep every prior, NMS decides
    (got,) = select_instances(*(torch.from_numpy(o) for o in outputs), test_cfg, (64, 64))
    sample = PoseSample(input_size=(64, 64), img_shape=(64, 64))
    with torch.no_grad():
        feats = model.extract_feat(model.data_preprocessor.normalize(x))
        (want,) = model.head.predict(feats, PoseBatch(x, {}, [sample]), test_cfg)
    assert len(got.keypoints) == len(want.keypoints) > 0
    # pair people by box and score: near-equal scores may sort either way
    cost = np.abs(got.bboxes[:, None] - want.bboxes[None]).sum(-1)
    cost += 1000 * np.abs(got.instance_scores[:, None] - want.instance_scores[None])
    mine, theirs = linear_sum_assignment(cost)
    for field in ("bboxes", "instance_scores", "keypoints", "keypoint_scores"):
        a, b = getattr(got, field)[mine], getattr(want, field)[theirs]
        assert np.abs(a - b).max() <= 1e-4 * max(np.abs(b).max(), 1.0), field
