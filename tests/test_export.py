"""ONNX export: onnxruntime equals torch to 1e-4 with a dynamic batch; the ONNX Inferencer matches MMPose."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import posekit
from posekit.inference import Inferencer

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

TOPDOWN = ("rtmpose-t_coco-256x192", "simplebaseline-res18-narrow_coco-256x192", "hrnet-w18_coco-256x192")


def _model(shared: Path, name: str, **test_cfg: object) -> tuple[torch.nn.Module, Path]:
    folder = shared / "fixtures/mmpose/models" / name
    config = json.loads((folder / "config.json").read_text())
    config["test_cfg"] = {**config.get("test_cfg", {}), **test_cfg}
    return posekit.init_model(config, folder / "checkpoint.pth"), folder


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


@pytest.mark.parametrize("flip", [True, False])
@pytest.mark.parametrize("name", TOPDOWN)
def test_onnx_round_trip_dynamic_batch(shared: Path, tmp_path: Path, name: str, flip: bool) -> None:
    from posekit.export import ExportablePoseModel, export_onnx
    from posekit.inference.onnx_backend import ort_session

    model, folder = _model(shared, name, flip_test=flip)
    path = export_onnx(model, tmp_path / "model.onnx", dynamic_batch=True)
    session = ort_session(path)
    wrapper = ExportablePoseModel(model, model.dataset_meta["flip_indices"])
    crops = torch.from_numpy(np.random.default_rng(0).uniform(0, 255, (3, 3, 256, 192)).astype(np.float32))
    for batch in (1, 3):  # dynamic batch
        got = session.run(None, {"input": crops[:batch].numpy()})
        with torch.no_grad():
            ref = [t.numpy() for t in wrapper(crops[:batch])]
        for g, r, what in zip(got, ref, ("keypoints", "scores"), strict=True):
            assert g.shape == r.shape
            assert _rel(g, r) <= 1e-4, f"{folder}: onnxruntime {what} differ from torch by {_rel(g, r):.2e}"
    # the graph's decoding equals the head's own (estimator predict, numpy codecs), in input pixels
    from posekit.inference.topdown import TorchTopdown
    from posekit.structures import PoseSample

    samples = [
        PoseSample(
            input_size=(192, 256),
            input_center=np.array([96.0, 128.0], np.float32),
            input_scale=np.array([192.0, 256.0], np.float32),
            flip_indices=list(model.dataset_meta["flip_indices"]),
        )
        for _ in range(3)
    ]
    keypoints, scores = TorchTopdown(model)(crops, samples)  # identity mapping: image == input pixels
    onnx_k, onnx_s = session.run(None, {"input": crops.numpy()})
    assert np.abs(onnx_k - keypoints).max() <= 1e-3, f"{folder}: decoded keypoints differ from the head's predict"
    assert _rel(onnx_s, scores) <= 1e-4, f"{folder}: decoded scores differ from the head's predict"


@pytest.mark.parametrize("name", TOPDOWN)
def test_onnx_inferencer_matches_mmpose(shared: Path, tmp_path: Path, name: str) -> None:
    from posekit.export import export_onnx

    e2e = json.loads((shared / "fixtures/mmpose/models" / name / "e2e.json").read_text())
    for flip in (True, False):
        cases = [c for c in e2e["cases"] if c["test_cfg"]["flip_test"] == flip]
        model, folder = _model(shared, name, **cases[0]["test_cfg"])
        path = export_onnx(model, tmp_path / f"model-{flip}.onnx", dynamic_batch=True)
        inferencer = Inferencer(None, path, batch_size=2)
        for i, case in enumerate(cases):
            img = cv2.imread(str(shared / case["image"]))
            people = inferencer(img, case["bboxes"])
            dk = np.abs(np.stack([p.keypoints for p in people]) - np.asarray(case["keypoints"])).max()
            ref_s = np.asarray(case["keypoint_scores"])
            ds = np.abs(np.stack([p.keypoint_scores for p in people]) - ref_s).max() / np.abs(ref_s).max()
            where = f"{folder / 'e2e.json'} flip_test={flip} case {i} (onnxruntime)"
            assert dk <= 0.05, f"{where}: keypoints differ by {dk:.4f} px"
            assert ds <= 1e-4, f"{where}: scores differ by {ds:.2e}"


def test_static_batch_and_flip_mismatch(shared: Path, tmp_path: Path) -> None:
    from posekit.export import export_onnx

    model, _ = _model(shared, "rtmpose-t_coco-256x192", flip_test=False)
    path = export_onnx(model, tmp_path / "static.onnx", dynamic_batch=False, batch_size=2)
    inferencer = Inferencer(None, path)
    assert inferencer.serving.backend.fixed_batch == 2
    img = cv2.imread(str(shared / "data/coco/000000040083.jpg"))
    boxes = [[38.1, 110.9, 212.8, 285.7], [257.8, 139.1, 397.8, 293.3], [275.2, 126.5, 285.9, 194.8]]
    onnx_people = inferencer(img, boxes)  # 3 crops through a batch-2 graph
    torch_people = posekit.inference_topdown(model, img, boxes)
    for a, b in zip(onnx_people, torch_people, strict=True):
        assert np.abs(a.keypoints - b.keypoints).max() <= 1e-2
    with pytest.raises(posekit.ConfigError, match="re-export"):
        Inferencer(None, path, flip_test=True)


def test_heatmap_codec_decoded_outside_the_graph(shared: Path, tmp_path: Path) -> None:
    """A UDP heatmap model exports its flip-averaged heatmaps; the backend decodes them with the codec."""
    from posekit.export import export_onnx

    folder = shared / "fixtures/mmpose/models/simplebaseline-res18-narrow_coco-256x192"
    config = json.loads((folder / "config.json").read_text())
    config["head"]["decoder"] = {"type": "UDPHeatmap", "input_size": [192, 256], "heatmap_size": [48, 64], "sigma": 2}
    config["test_cfg"] = {"flip_test": True, "flip_mode": "heatmap", "shift_heatmap": False}
    model = posekit.init_model(config, folder / "checkpoint.pth")
    path = export_onnx(model, tmp_path / "udp.onnx", dynamic_batch=True)
    with pytest.raises(posekit.ConfigError, match="outputs heatmaps"):
        Inferencer(None, path)
    img = cv2.imread(str(shared / "data/coco/000000000785.jpg"))
    box = [[280.79, 44.73, 499.49, 391.41]]
    got = Inferencer(config, path)(img, box)[0]
    ref = posekit.inference_topdown(model, img, box)[0]
    assert np.abs(got.keypoints - ref.keypoints).max() <= 0.05
    assert np.abs(got.keypoint_scores - ref.keypoint_scores).max() <= 1e-4 * np.abs(ref.keypoint_scores).max()


def test_cli_export(shared: Path, tmp_path: Path) -> None:
    from posekit.cli import main

    folder = shared / "fixtures/mmpose/models/rtmpose-t_coco-256x192"
    out = tmp_path / "rtm.onnx"
    args = [
        "export",
        str(folder / "config.json"),
        "--checkpoint",
        str(folder / "checkpoint.pth"),
        "--format",
        "onnx",
        "--dynamic-batch",
        "-o",
        str(out),
    ]
    assert main(args) == 0
    import onnx

    graph = onnx.load(str(out)).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert [o.name for o in graph.output] == ["keypoints", "scores"]


@pytest.mark.parametrize("head", ["RLEHead", "RegressionHead"])
def test_regression_heads_export(tmp_path: Path, head: str) -> None:
    """Regression decoding in the graph (RLE: sigma through a sigmoid, score = mean of 1 - sigma) equals predict."""
    from posekit.export import export_onnx
    from posekit.inference.onnx_backend import ort_session
    from posekit.inference.topdown import TorchTopdown
    from posekit.structures import PoseSample

    config = {
        "type": "TopdownPoseEstimator",
        "data_preprocessor": {
            "type": "PoseDataPreprocessor",
            "mean": [123.675, 116.28, 103.53],
            "std": [58.395, 57.12, 57.375],
            "bgr_to_rgb": True,
        },
        "backbone": {"type": "ResNet", "depth": 18, "base_channels": 16, "stem_channels": 16},
        "neck": {"type": "GlobalAveragePooling"},
        "head": {
            "type": head,
            "in_channels": 128,
            "num_joints": 17,
            "decoder": {"type": "RegressionLabel", "input_size": [192, 256]},
        },
        "test_cfg": {"flip_test": True, "shift_coords": True},
    }
    torch.manual_seed(0)
    model = posekit.init_model(config)
    path = export_onnx(model, tmp_path / "reg.onnx", dynamic_batch=True)
    crops = torch.from_numpy(np.random.default_rng(1).uniform(0, 255, (2, 3, 256, 192)).astype(np.float32))
    samples = [
        PoseSample(
            input_size=(192, 256),
            input_center=np.array([96.0, 128.0], np.float32),
            input_scale=np.array([192.0, 256.0], np.float32),
            flip_indices=list(model.dataset_meta["flip_indices"]),
        )
        for _ in range(2)
    ]
    keypoints, scores = TorchTopdown(model)(crops, samples)
    onnx_k, onnx_s = ort_session(path).run(None, {"input": crops.numpy()})
    assert _rel(onnx_k, keypoints) <= 1e-4 and _rel(onnx_s, scores) <= 1e-4
