"""ONNX round trip: every prior decoded in the graph (boxes, scores, DCC keypoints) equals torch; score
threshold and NMS outside the graph (the head's ``export_select``) give ``predict``'s people, and
``posekit.Inferencer`` serves the file on a whole image as it serves the torch model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch
import yaml
from scipy.optimize import linear_sum_assignment

import posekit
import posekit.cli
from posekit.inference import Inferencer
from posekit.structures import PoseBatch, PoseSample


def assert_same_people(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    """Equal people (fields ``bboxes``, ``scores``, ``keypoints``, ``keypoint_scores``) within 1e-4 of their scale,
    paired by box and score (near-equal scores may sort either way)."""
    assert len(got["keypoints"]) == len(want["keypoints"]) > 0
    cost = np.abs(got["bboxes"][:, None] - want["bboxes"][None]).sum(-1)
    cost += 1000 * np.abs(got["scores"][:, None] - want["scores"][None])
    mine, theirs = linear_sum_assignment(cost)
    for field in ("bboxes", "scores", "keypoints", "keypoint_scores"):
        a, b = got[field][mine], want[field][theirs]
        assert np.abs(a - b).max() <= 1e-4 * max(np.abs(b).max(), 1.0), field


def export(cfg: Path, tmp_path: Path, name: str) -> tuple[torch.nn.Module, Path, Path]:
    """The model of ``cfg`` with its weights saved, and the ``posekit export`` file (verified against torch)."""
    model = posekit.init_model(str(cfg), optimize=False)  # the module as built: saved by its own keys
    ckpt = tmp_path / "model.pth"
    torch.save({"state_dict": model.state_dict()}, ckpt)
    onnx_file = tmp_path / f"{name}.onnx"
    assert posekit.cli.main(["export", str(cfg), "--checkpoint", str(ckpt), "-o", str(onnx_file)]) == 0
    return model, ckpt, onnx_file


@pytest.mark.parametrize("name", ["synthetic_rtmo", "synthetic_yoloxpose"])
def test_onnx_round_trip(name: str, small_config: Callable[[str, Path], Path], tmp_path: Path) -> None:
    cfg = small_config(name, tmp_path / "work")
    data = yaml.safe_load(cfg.read_text())
    data["model"]["test_cfg"]["score_thr"] = 0.0  # untrained: keep every prior, NMS decides (graph and predict)
    cfg.write_text(yaml.safe_dump(data))
    model, _, onnx_file = export(cfg, tmp_path, name)

    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, 3, 64, 64)).astype(np.float32))
    outputs = ort.InferenceSession(str(onnx_file)).run(None, {"input": x.numpy()})
    assert [o.shape[:1] for o in outputs] == [(1,)] * 4
    test_cfg = model.test_cfg
    (got,) = type(model.head).export_select([torch.from_numpy(o) for o in outputs], test_cfg, (64, 64))
    sample = PoseSample(input_size=(64, 64), img_shape=(64, 64))
    with torch.no_grad():
        feats = model.extract_feat(model.data_preprocessor.normalize(x))
        (want,) = model.head.predict(feats, PoseBatch(x, {}, [sample]), test_cfg)
    fields = ("bboxes", "instance_scores", "keypoints", "keypoint_scores")
    assert_same_people(*({f.replace("instance_", ""): getattr(p, f) for f in fields} for p in (got, want)))


def test_inferencer_serves_the_onnx_file_as_torch(
    shared: Path, small_config: Callable[[str, Path], Path], tmp_path: Path
) -> None:
    """A whole COCO image through ``posekit.Inferencer`` with the .onnx file and with torch: the same people. The
    head has no decoder, as in MMPose's RTMO configs: ``test_cfg.input_size`` sizes the served and exported input."""
    cfg = small_config("synthetic_rtmo", tmp_path / "work")
    data = yaml.safe_load(cfg.read_text())
    data["model"]["test_cfg"]["score_thr"] = 0.0  # untrained: keep every prior, NMS decides (in both)
    del data["model"]["head"]["decoder"]
    cfg.write_text(yaml.safe_dump(data))
    _, ckpt, onnx_file = export(cfg, tmp_path, "rtmo")
    img = cv2.imread(str(shared / "data/coco/000000040083.jpg"))
    people = [Inferencer(str(cfg), ckpt)(img), Inferencer(None, onnx_file)(img)]
    want, got = ({
        "bboxes": np.array([p.bbox for p in ps]),
        "scores": np.array([p.bbox_score for p in ps]),
        "keypoints": np.array([p.keypoints for p in ps]),
        "keypoint_scores": np.array([p.keypoint_scores for p in ps]),
    } for ps in people)  # fmt: skip
    assert_same_people(got, want)


def test_dcc_only_for_priors_above_the_threshold(small_config: Callable[[str, Path], Path], tmp_path: Path) -> None:
    """The exported decoding runs RTMO's DCC only where a prior scores above ``score_thr``: those priors' keypoints
    equal the unfiltered decoding's, the others' are zero."""
    model = posekit.init_model(str(small_config("synthetic_rtmo", tmp_path / "work")), optimize=False)
    x = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (2, 3, 64, 64)).astype(np.float32))
    with torch.no_grad():
        outputs = model.head(model.extract_feat(model.data_preprocessor.normalize(x)))
        boxes, scores, every, vis = model.head.decode_all(outputs)
        threshold = float(scores.median())
        *same, kpts, same_vis = model.head.decode_all(outputs, threshold)
    above = scores > threshold
    assert 0 < int(above.sum()) < above.numel()
    torch.testing.assert_close(kpts[above], every[above])
    assert not kpts[~above].any()
    torch.testing.assert_close([*same, same_vis], [boxes, scores, vis])
