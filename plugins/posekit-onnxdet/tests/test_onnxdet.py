"""ONNXDetector on tiny torch detectors exported to ONNX here: layouts, thresholds, NMS, letterbox."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

INPUT = 320  # the detectors' square input; test images are 640 x 480, so the letterbox ratio is 0.5
# (x1, y1, x2, y2) in input pixels: a box, a near-duplicate shifted 4 px (suppressed by NMS), a distant box
ANCHORS = ((50.0, 50.0, 100.0, 150.0), (54.0, 50.0, 104.0, 150.0), (200.0, 20.0, 250.0, 70.0))


class BrightBoxes(nn.Module):
    """YOLOX layout ``(1, 3, 7)``: cx, cy, w, h, objectness = mean brightness inside the anchor, 2 classes."""

    def forward(self, x: Tensor) -> Tensor:
        rows = []
        for x1, y1, x2, y2 in ANCHORS:
            obj = x[:, :, int(y1) : int(y2), int(x1) : int(x2)].mean(dim=(1, 2, 3)) / 255.0
            geom = torch.tensor([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]).expand(x.shape[0], 4)
            cls = torch.tensor([0.9, 0.1]).expand(x.shape[0], 2)
            rows.append(torch.cat([geom, obj[:, None], cls], dim=1))
        return torch.stack(rows, dim=1)


class FixedDets(nn.Module):
    """MMDeploy layout: ``dets (1, 3, 5)`` and ``labels (1, 3)`` (the third box is class 2, not a person)."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        level = x.mean() * 0 + 1  # keeps the input in the graph
        dets = torch.tensor(
            [[10.0, 20.0, 60.0, 120.0, 0.8], [12.0, 20.0, 62.0, 120.0, 0.7], [100.0, 100.0, 150.0, 150.0, 0.9]]
        )
        return (dets * level)[None], torch.tensor([[0, 0, 2]])


def _export(module: nn.Module, path: Path, outputs: list[str]) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.zeros(1, 3, INPUT, INPUT),),
            str(path),
            input_names=["images"],
            output_names=outputs,
            dynamo=False,
        )
    return str(path)


@pytest.fixture
def image() -> np.ndarray:
    img = np.zeros((480, 640, 3), np.uint8)
    img[100:300, 100:200] = 255  # ANCHORS[0] in image pixels (input / 0.5)
    return img


def test_yolox_layout_threshold_nms_and_letterbox(tmp_path: Path, image: np.ndarray) -> None:
    from posekit_onnxdet.detector import ONNXDetector

    det = ONNXDetector(model_path=_export(BrightBoxes(), tmp_path / "yolox.onnx", ["output"]), score_thr=0.3)
    assert det.layout == "yolox" and det.input_size == (INPUT, INPUT)
    boxes, scores = det(image)
    # anchor 0 is fully white (0.9), anchor 1 overlaps it (IoU 0.85, suppressed), anchor 2 is black (0)
    np.testing.assert_allclose(boxes, [[100, 100, 200, 300]], atol=1e-4)
    np.testing.assert_allclose(scores, [0.9], atol=1e-6)
    none, _ = ONNXDetector(model_path=str(tmp_path / "yolox.onnx"), score_thr=0.95)(image)
    assert none.shape == (0, 4)


def test_dets_layout_keeps_people_only(tmp_path: Path, image: np.ndarray) -> None:
    from posekit_onnxdet.detector import ONNXDetector

    det = ONNXDetector(model_path=_export(FixedDets(), tmp_path / "dets.onnx", ["dets", "labels"]), nms_thr=0.5)
    assert det.layout == "dets"
    boxes, scores = det(image)
    np.testing.assert_allclose(boxes, [[20, 40, 120, 240]], atol=1e-4)  # the duplicate suppressed, class 2 dropped
    np.testing.assert_allclose(scores, [0.8], atol=1e-6)


def test_registered_and_built_from_config(tmp_path: Path, image: np.ndarray) -> None:
    import posekit
    from posekit.inference import build_detector

    assert "ONNXDetector" in posekit.list_components("detector")["detector"]
    path = _export(BrightBoxes(), tmp_path / "yolox.onnx", ["output"])
    det = build_detector({"type": "ONNXDetector", "model_path": path, "score_thr": 0.5})
    boxes, _ = det(image)
    assert boxes.shape == (1, 4)
    with pytest.raises(posekit.ConfigError, match="score_thr"):
        build_detector({"type": "ONNXDetector", "model_path": path, "score_thr": "high"})


def test_bad_output_layout_is_named(tmp_path: Path, image: np.ndarray) -> None:
    from posekit_onnxdet.detector import ONNXDetector

    class Short(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return x.mean(dim=(2, 3))[:, None, :]  # (1, 1, 3)

    det = ONNXDetector(model_path=_export(Short(), tmp_path / "short.onnx", ["out"]), layout="yolox")
    with pytest.raises(ValueError, match=r"\(1, A, 5 \+ C\)"):
        det(image)


def test_inferencer_uses_the_detector_the_experiment_names(shared: Path, tmp_path: Path, image: np.ndarray) -> None:
    """An experiment with ``detector: {type: ONNXDetector, ...}``: the Inferencer crops the detected person."""
    import json

    from posekit.inference import Inferencer

    folder = shared / "fixtures/mmpose/models/rtmpose-t_coco-256x192"
    experiment = {
        "model": json.loads((folder / "config.json").read_text()),
        "detector": {"type": "ONNXDetector", "model_path": _export(BrightBoxes(), tmp_path / "det.onnx", ["output"])},
    }
    people = Inferencer(experiment, folder / "checkpoint.pth")(image)
    assert len(people) == 1
    np.testing.assert_allclose(people[0].bbox, [100, 100, 200, 300], atol=1e-4)
    assert people[0].bbox_score == pytest.approx(0.9)
    assert people[0].keypoints.shape == (17, 2)
