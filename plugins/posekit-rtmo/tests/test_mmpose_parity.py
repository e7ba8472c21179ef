"""RTMO and YOLOX-Pose against MMPose 1.3.2: strict checkpoint load, raw head maps and final predictions
(1e-4 relative), the label codec (exact). Cases written by ``tests/fixtures/generate.py`` (MMPose's env)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

import posekit
from posekit.registry import build
from posekit.structures import PoseBatch, PoseSample

FIXTURES = Path(__file__).parent / "fixtures"
CASES = ("rtmo_tiny", "yoloxpose_tiny")
RTOL = 1e-4


def model_dict(name: str) -> dict:
    """The MMPose model dict of a case, its dataset-file names as registered definitions (as the converter does)."""
    return json.loads(
        (FIXTURES / f"{name}_model.json").read_text().replace('"configs/_base_/datasets/coco.py"', '"coco"')
    )


def load(name: str, optimize: bool = True) -> tuple[torch.nn.Module, dict[str, np.ndarray]]:
    """The case's model from its MMPose checkpoint (served: BatchNorm folded, unless ``optimize`` is False) and
    MMPose's outputs."""
    cfg = model_dict(name)
    model = posekit.init_model(cfg, FIXTURES / f"{name}.pth", optimize=optimize)
    return model.eval(), dict(np.load(FIXTURES / f"{name}_outputs.npz"))


def close(name: str, got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape, f"{name}: shape {got.shape}, MMPose {want.shape}"
    scale = max(float(np.abs(want).max()), 1e-6) if want.size else 1.0
    err = float(np.abs(got - want).max()) / scale if want.size else 0.0
    assert err <= RTOL, f"{name}: max error {err:.2e} relative to max |MMPose| {scale:.3g} (tolerance {RTOL})"


def batch_of(ref: dict[str, np.ndarray]) -> PoseBatch:
    n = ref["inputs"].shape[0]
    samples = [
        PoseSample(
            input_size=(128, 128),
            img_shape=(128, 128),
            input_center=ref[f"input_center{i}"],
            input_scale=ref[f"input_scale{i}"],
        )
        for i in range(n)
    ]
    return PoseBatch(torch.from_numpy(ref["inputs"]), {}, samples)


@pytest.mark.parametrize("name", CASES)
def test_checkpoint_loads_strictly(name: str) -> None:
    model = posekit.init_model(model_dict(name), optimize=False)  # the module as built, by its own keys
    theirs = torch.load(FIXTURES / f"{name}.pth", weights_only=True)["state_dict"]
    assert set(model.state_dict()) == set(theirs)


@pytest.mark.parametrize("name", CASES)
def test_raw_head_outputs_match(name: str) -> None:
    model, ref = load(name)
    with torch.no_grad():
        raw = model.head(model.extract_feat(torch.from_numpy(ref["inputs"])))
    compared = 0
    for j, levels in enumerate(raw):
        for level, t in enumerate(levels):
            close(f"{name} output {j} level {level}", t.numpy(), ref[f"raw_{j}_{level}"])
            compared += 1
    assert compared == sum(k.startswith("raw_") for k in ref)


@pytest.mark.parametrize("name", CASES)
def test_predictions_match(name: str) -> None:
    model, ref = load(name)
    batch = batch_of(ref)
    with torch.no_grad():
        results = model(batch.inputs, batch, mode="predict")
    for i, r in enumerate(results):
        assert len(r) == len(ref[f"pred{i}_bbox_scores"]) > 0, f"{name} image {i}: people differ"
        # pair people by box and score: near-equal scores may sort either way
        mine, theirs = pair(r.bboxes, r.bbox_scores, ref[f"pred{i}_bboxes"], ref[f"pred{i}_bbox_scores"])
        close(f"{name} image {i} bbox_scores", r.bbox_scores[mine], ref[f"pred{i}_bbox_scores"][theirs])
        close(f"{name} image {i} bboxes", r.bboxes[mine], ref[f"pred{i}_bboxes"][theirs])
        close(f"{name} image {i} keypoints", r.keypoints[mine], ref[f"pred{i}_keypoints"][theirs])
        close(f"{name} image {i} keypoint_scores", r.keypoint_scores[mine], ref[f"pred{i}_keypoint_scores"][theirs])


def pair(
    boxes: np.ndarray, scores: np.ndarray, ref_boxes: np.ndarray, ref_scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The one-to-one pairing of two people lists with the least box (px) + 1000 x score distance."""
    cost = np.abs(boxes[:, None] - ref_boxes[None]).sum(-1) + 1000 * np.abs(scores[:, None] - ref_scores[None])
    return linear_sum_assignment(cost)


@pytest.mark.parametrize("expand", [False, True])
def test_codec_matches_mmpose(expand: bool) -> None:
    ref = dict(np.load(FIXTURES / "codec_outputs.npz"))
    codec = build("codec", {"type": "YOLOXPoseAnnotationProcessor", "expand_bbox": expand, "input_size": (128, 128)})
    enc = codec.encode(
        keypoints=ref["keypoints"].copy(),
        keypoints_visible=ref["keypoints_visible"].copy(),
        bbox=ref["bbox"].copy(),
        category_id=list(ref["category_id"]),
    )
    theirs = {k.split("_", 1)[1]: v for k, v in ref.items() if k.startswith(f"expand{int(expand)}_")}
    assert theirs and set(theirs) <= set(enc)
    for key, value in theirs.items():
        assert enc[key].dtype == value.dtype and np.array_equal(enc[key], value), key
    np.testing.assert_array_equal(codec.decode_targets(enc)[0], ref["keypoints"])


@pytest.mark.parametrize("name", CASES)
def test_losses_match(name: str) -> None:
    """SimOTA assignment and every loss of a training step (train mode, 3 and 2 people) as MMPose's: 1e-4 relative,
    the model outputs' tolerance (the losses come through the whole network). posekit's side runs in float64:
    float32 rounding alone moves RTMO's loss_mle by 1.3e-4 relative from its float64 value on an AVX-512 CPU
    (MMPose's float32 reference, made on an AVX2 one, is 2.4e-5 from it)."""
    model, ref = load(name, optimize=False)  # training: the BatchNorm layers as built
    model.double()
    samples, labels = [], []
    for i in range(2):
        n = len(ref[f"gt{i}_bboxes"])
        samples.append(
            PoseSample(
                input_size=(128, 128),
                img_shape=(128, 128),
                bbox=ref[f"gt{i}_bboxes"],
                keypoints=ref[f"gt{i}_keypoints"],
                keypoints_visible=ref[f"gt{i}_keypoints_visible"],
                area=ref[f"gt{i}_areas"],
            )
        )
        labels.append(torch.zeros(n, dtype=torch.int8))
    batch = PoseBatch(torch.from_numpy(ref["inputs"]).double(), {"bbox_labels": labels}, samples)
    model.train()
    with torch.no_grad():
        losses = model.head.loss(model.extract_feat(batch.inputs), batch, model.train_cfg)
    theirs = {k: float(v) for k, v in ref.items() if k.startswith("loss")}
    assert set(theirs) == {k for k in losses if k.startswith("loss")}
    for key, want in theirs.items():
        got = float(losses[key])
        assert abs(got - want) <= RTOL * max(abs(want), 1.0), f"{name} {key}: {got} vs MMPose {want}"
