"""InterNet against MMPose 1.3.2 (``fixtures/generate_internet.py``), the conformance kit, and the config.

The reference model loads strictly from its MMPose checkpoint; forward outputs match within 1e-4
(relative to each output's largest value), decoded predictions and the codec exactly (floats within
1e-5), losses within 1e-6 relative, InterHandMetric within 1e-5.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

import posekit
from posekit import structures
from posekit.data import pose_collate
from posekit.registry import build
from posekit.structures import PoseResult, PoseSample

FIXTURES = Path(__file__).parent / "fixtures"
CONFIG = "hand_3d_keypoint/internet/interhand3d/internet_res50_4xb16-20e_interhand3d-256x256.py"
COMPONENTS = [
    ("codec", "Hand3DHeatmap"),
    ("head", "InternetHead"),
    ("transform", "HandRandomFlip"),
    ("metric", "InterHandMetric"),
    ("dataset", "InterHand3DDataset"),
    ("dataset", "InterHand2DDoubleDataset"),
]


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return torch.load(FIXTURES / "internet_outputs.pt", weights_only=True)


def numpy(value: Any) -> np.ndarray:
    return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


@pytest.mark.parametrize(("kind", "name"), COMPONENTS, ids=[n for _, n in COMPONENTS])
def test_conformance(posekit_check: Any, kind: str, name: str) -> None:
    """Each component passes its kind's check from its declared example (as ``posekit plugins --check``)."""
    assert posekit_check.component(kind, name) in ("conformance", "built", "imported")


def test_model_matches_mmpose(posekit_reference: Any, reference: dict[str, Any]) -> None:
    model = posekit.init_model(copy.deepcopy(reference["model"]), FIXTURES / "internet.pth")
    x = reference["input"]
    with torch.no_grad():
        feats = model.extract_feat(x)
        outputs = model.head.forward(feats)
    for name, got, ref in zip(("heatmaps", "root_depth", "hand_type"), outputs, reference["forward"], strict=True):
        posekit_reference.assert_close_to_max(name, got, numpy(ref), "InternetHead.forward")
    samples = [PoseSample(img_id=i, inputs=x[i]) for i in range(len(x))]
    for sample, targets in zip(samples, reference["targets"], strict=True):
        sample.targets = {k: numpy(v) for k, v in targets.items()}
    batch = pose_collate(samples)
    with torch.no_grad():
        preds = model.head.predict(feats, batch, structures.TestCfg())
    for pred, ref in zip(preds, reference["predict"], strict=True):
        np.testing.assert_array_equal(pred.keypoints, numpy(ref["keypoints"]))
        np.testing.assert_allclose(pred.keypoint_scores, numpy(ref["keypoint_scores"]), rtol=1e-4)
        np.testing.assert_allclose(pred.extra["rel_root_depth"], numpy(ref["rel_root_depth"]), rtol=1e-4, atol=1e-3)
        np.testing.assert_array_equal(pred.extra["hand_type"], numpy(ref["hand_type"]))
    # the losses of MMPose's own outputs (so that only the loss computation is compared)
    model.head.forward = lambda _: list(reference["forward"])
    losses = model.head.loss(feats, batch, structures.TrainCfg())
    for key, value in reference["loss"].items():
        np.testing.assert_allclose(float(losses[key]), value, rtol=1e-6, err_msg=key)


@pytest.mark.parametrize("index", [0, 1])
def test_codec_matches_mmpose(reference: dict[str, Any], index: int) -> None:
    case = reference["codec"][index]
    codec = build("codec", dict(case["config"]))
    args = {k: numpy(v) for k, v in case["encode"].items() if k not in ("focal", "principal_pt")}
    encoded = codec.encode(**args)
    assert set(encoded) == set(case["encoded"])
    for key, ref in case["encoded"].items():
        np.testing.assert_allclose(encoded[key], numpy(ref), rtol=1e-5, atol=1e-5, err_msg=key)
    decoded = codec.decode(**{k: numpy(v) for k, v in case["decode"].items()})
    for got, ref in zip(decoded, case["decoded"], strict=True):
        np.testing.assert_allclose(got, numpy(ref), rtol=1e-5, atol=1e-5)


def test_codec_refuses_bad_keypoints() -> None:
    codec = build("codec", {"type": "Hand3DHeatmap", "image_size": (32, 32), "heatmap_size": (8, 8, 8)})
    with pytest.raises(ValueError, match="keypoints"):
        codec.encode(np.zeros((1, 42, 4), np.float32))
    with pytest.raises(ValueError, match="depth_size"):
        build(
            "head",
            {
                **build_example_head(),
                "keypoint_head_cfg": {"in_channels": 8, "out_channels": 21 * 8 + 1, "depth_size": 8},
            },
        )


def build_example_head() -> dict[str, Any]:
    from posekit_hand3d.internet_head import InternetHead

    return {"type": "InternetHead", **copy.deepcopy(InternetHead.example_config)}


def test_flip_test_swaps_hands() -> None:
    """Flip test on a mirrored input: the right hand's heatmaps come from the left branch of the flipped pass."""
    cfg = build_example_head()
    head = build("head", cfg).eval()
    feats = (torch.randn(1, 16, 4, 4),)
    flip_indices = list(range(21, 42)) + list(range(21))
    batch = pose_collate([PoseSample(flip_indices=flip_indices, inputs=torch.zeros(3, 32, 32))])
    with torch.no_grad():
        plain = head.forward(feats)
        (pred,) = head.predict((feats, feats), batch, structures.TestCfg(flip_test=True))
    # the same features twice: root depth averages with its negation, hand-type logits with their swap
    ref = (plain[2] + plain[2][:, [1, 0]]) * 0.5
    assert pred.extra["hand_type"].tolist() == (ref > 0).int().tolist()
    assert float(pred.extra["rel_root_depth"][0]) == pytest.approx((0 - 0.5) * 400.0, abs=1e-3)


def test_mmpose_config_converts_checks_builds(posekit_configs: Any, shared: Path, tmp_path: Path) -> None:
    # whole: ``posekit convert`` without --partial fails on anything it cannot convert
    out = posekit_configs.convert_and_check(shared / "mmpose-configs" / CONFIG, tmp_path)
    experiment = yaml.safe_load(out.read_text())
    assert experiment["model"]["head"]["type"] == "InternetHead"
    assert experiment["metainfo"] == "interhand3d"
    with torch.device("meta"):
        model = build("estimator", posekit.interop.clean_model_dict(experiment["model"], drop_pretrained=True))
    assert model.head.right_hand_head.final_layer.out_channels == 21 * 64


def test_metric_matches_mmpose(reference: dict[str, Any]) -> None:
    case = reference["metric"]
    metric = build("metric", {"type": "InterHandMetric"})
    results = []
    for i, s in enumerate(case["samples"]):
        gt = s["gt_instances"]
        extra = {k: numpy(s[k]) for k in ("hand_type", "hand_type_valid", "abs_depth", "focal", "principal_pt")}
        extra["keypoints_cam"] = numpy(gt["keypoints_cam"])
        sample = PoseSample(img_id=i, keypoints_visible=numpy(gt["keypoints_visible"]), extra=extra)
        pred = s["pred_instances"]
        out = {k: numpy(pred[k]) for k in ("rel_root_depth", "hand_type")}
        kpts = numpy(pred["keypoints"])
        results.append(PoseResult(kpts, np.ones(kpts.shape[:2]), np.zeros((1, 4)), np.ones(1), sample, extra=out))
    metric.process(results)
    got = metric.evaluate()
    assert set(got) == set(case["metrics"])
    for key, value in case["metrics"].items():
        np.testing.assert_allclose(got[key], value, rtol=1e-5, err_msg=key)
