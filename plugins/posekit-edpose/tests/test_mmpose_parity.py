"""ED-Pose against MMPose 1.3.2: strict checkpoint load, raw head outputs and predictions (1e-4 relative), the
codec (1e-5). Cases written by ``tests/fixtures/generate.py`` (MMPose's env); the second image is padded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import posekit
from posekit.nn.checkpoint import load_state_dict
from posekit.registry import build
from posekit.structures import PoseBatch, PoseSample
from posekit.structures import TestCfg as Switches

FIXTURES = Path(__file__).parent / "fixtures"
NAME = "edpose_tiny"
RTOL = 1e-4


def model_dict() -> dict:
    return json.loads((FIXTURES / f"{NAME}_model.json").read_text())


def close(name: str, got: np.ndarray, want: np.ndarray, rtol: float = RTOL) -> None:
    assert got.shape == want.shape, f"{name}: shape {got.shape}, MMPose {want.shape} ({FIXTURES / NAME})"
    scale = max(float(np.abs(want).max()), 1e-6)
    err = float(np.abs(got - want).max()) / scale
    assert err <= rtol, f"{name}: max error {err:.2e} relative to max |MMPose| {scale:.3g} (tolerance {rtol})"


@pytest.fixture(scope="module")
def case() -> tuple[torch.nn.Module, dict[str, np.ndarray], PoseBatch]:
    model = posekit.init_model(model_dict(), FIXTURES / f"{NAME}.pth").eval()
    ref = dict(np.load(FIXTURES / f"{NAME}_outputs.npz"))
    samples = []
    for i in range(ref["inputs"].shape[0]):
        h, w = (int(v) for v in ref[f"img_shape{i}"])
        samples.append(PoseSample(img_shape=(h, w), input_size=(w, h)))
    return model, ref, PoseBatch(torch.from_numpy(ref["inputs"]), {}, samples)


def test_checkpoint_loads_strictly() -> None:
    model = posekit.init_model(model_dict())
    theirs = torch.load(FIXTURES / f"{NAME}.pth", weights_only=True)["state_dict"]
    assert set(model.state_dict()) == set(theirs)


def test_frozen_batchnorm_checkpoint_loads() -> None:
    """MMPose's ED-Pose config freezes the backbone's norms (FrozenBatchNorm2d: no num_batches_tracked counters);
    posekit builds them as BN (``requires_grad=False``, ``norm_eval``) and loads such checkpoints strictly."""
    model = posekit.init_model(model_dict())
    state = torch.load(FIXTURES / f"{NAME}.pth", weights_only=True)["state_dict"]
    frozen = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert len(frozen) < len(state)
    assert load_state_dict(model, frozen).missing_keys == []


def test_raw_head_outputs_match(case: tuple) -> None:
    model, ref, batch = case
    with torch.no_grad():
        outputs = model.head(model.extract_feat(batch.inputs), batch)
    for key, got in zip(("pred_logits", "pred_boxes", "pred_keypoints"), outputs, strict=True):
        close(key, got.numpy(), ref[key])


def test_predictions_match(case: tuple) -> None:
    model, ref, batch = case
    with torch.no_grad():
        preds = model.head.predict(model.extract_feat(batch.inputs), batch, Switches())
    for i, p in enumerate(preds):
        assert len(p.keypoints) == len(ref[f"pred{i}_keypoints"]) > 0
        close(f"image {i} keypoints", p.keypoints, ref[f"pred{i}_keypoints"])
        close(f"image {i} keypoint_scores", p.keypoint_scores, ref[f"pred{i}_keypoint_scores"])
        close(f"image {i} bboxes", p.bboxes, ref[f"pred{i}_bboxes"])


def test_codec_matches_mmpose() -> None:
    ref = dict(np.load(FIXTURES / "codec_outputs.npz"))
    codec = build("codec", {"type": "EDPoseLabel", "num_select": 3, "num_keypoints": 17})
    # MMPose's encode unpacks img_shape as (w, h) = (80, 64); posekit's img_shape is (h, w)
    enc = codec.encode(ref["keypoints"], ref["keypoints_visible"], ref["area"], ref["bboxes"], img_shape=(64, 80))
    for key in ("keypoints", "keypoints_visible", "bbox", "area"):
        np.testing.assert_allclose(enc[key], ref[f"enc_{key}"], rtol=1e-5, atol=0, err_msg=key)
    out = codec.decode(np.array([64, 80]), ref["dec_logits"], ref["dec_boxes"], ref["dec_keypoints"])
    for key, got in zip(("bboxes", "keypoints", "scores"), out, strict=True):
        np.testing.assert_allclose(got, ref[f"dec_out_{key}"], rtol=1e-5, atol=1e-6, err_msg=key)
