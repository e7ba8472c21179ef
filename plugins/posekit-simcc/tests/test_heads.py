"""RTMCCHead against an MMPose 1.3.2 checkpoint, SimCCHead, KLDiscretLoss by hand, flip test, conformance.

Reference model: shared/fixtures/mmpose/models/rtmpose-t_coco-256x192/ (config.json, checkpoint.pth,
backbone_out.npz, head_out.npz), written by MMPose 1.3.2 on CPU.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from posekit_simcc.simcc_utils import flip_vectors

from posekit import structures
from posekit.registry import build
from posekit.structures import PoseBatch, PoseSample, TrainCfg


def test_rtmcc_head_matches_mmpose(posekit_reference: Any, shared: Path) -> None:
    posekit_reference.assert_head_matches_mmpose(
        shared / "fixtures/mmpose/models/rtmpose-t_coco-256x192", ("simcc_x", "simcc_y")
    )


CODEC = {"type": "SimCCLabel", "input_size": (64, 48), "sigma": (4.9, 5.66), "normalize": False}
#: what both heads take: 8 input channels on a 2x2 map, 17 keypoints, 64x48 inputs
SHAPES = {"in_channels": 8, "out_channels": 17, "input_size": (64, 48), "in_featuremap_size": (2, 2)}
RTMCC = {
    "type": "RTMCCHead",
    **SHAPES,
    "final_layer_kernel_size": 3,
    "gau_cfg": {"hidden_dims": 16, "s": 8, "act_fn": "SiLU", "use_rel_bias": True, "pos_enc": True},
    "decoder": CODEC,
}
SIMCC = {
    "type": "SimCCHead",
    **SHAPES,
    "deconv_out_channels": (8, 8),
    "deconv_kernel_sizes": (4, 4),
    "decoder": CODEC | {"normalize": True},
}


def _batch(posekit_check: Any) -> PoseBatch:
    return posekit_check.random_topdown_batch(build("codec", CODEC), flip_indices=[0, 2, 1, 4, 3, *range(5, 17)])


@pytest.mark.parametrize("cfg", [RTMCC, SIMCC])
def test_predict_flip_test_and_heatmaps(posekit_check: Any, cfg: dict) -> None:
    head = build("head", cfg).eval()
    batch = _batch(posekit_check)
    torch.manual_seed(0)
    feats, feats_flip = (torch.randn(2, 8, 2, 2),), (torch.randn(2, 8, 2, 2),)
    test_cfg = structures.TestCfg(flip_test=True, output_heatmaps=True)
    with torch.no_grad():
        preds = head.predict((feats, feats_flip), batch, test_cfg)
        x_flip, y_flip = flip_vectors(*head(feats_flip), batch.samples[0].flip_indices)
        x, y = head(feats)
    expected = head.decoder.decode(((x + x_flip) / 2).numpy(), ((y + y_flip) / 2).numpy())
    np.testing.assert_allclose(np.concatenate([p.keypoints for p in preds]), expected[0], rtol=1e-6)
    np.testing.assert_allclose(np.concatenate([p.keypoint_scores for p in preds]), expected[1], rtol=1e-6)
    assert preds[0].keypoints.shape == (1, 17, 2) and preds[0].heatmaps.shape == (17, 96, 128)
    assert preds[0].heatmaps.min() >= 0 and preds[0].heatmaps.max() <= 1


def test_loss_and_accuracy(posekit_check: Any) -> None:
    head = build("head", RTMCC)
    batch = _batch(posekit_check)
    torch.manual_seed(0)
    losses = head.loss((torch.randn(2, 8, 2, 2),), batch, TrainCfg())
    assert set(losses) == {"loss_kpt", "acc_pose"} and losses["loss_kpt"] > 0
    losses["loss_kpt"].backward()
    assert head.cls_x.weight.grad.abs().sum() > 0


def test_simcc_head_without_deconv() -> None:
    head = build("head", SIMCC | {"deconv_out_channels": None, "in_featuremap_size": (4, 3)})
    assert head.heatmap_size == (4, 3) and head.deconv_head is None
    x, y = head((torch.randn(2, 8, 3, 4),))
    assert x.shape == (2, 17, 128) and y.shape == (2, 17, 96)
    assert {k.split(".")[0] for k in head.state_dict()} == {"final_layer", "mlp_head_x", "mlp_head_y"}


def test_kl_discret_loss_by_hand() -> None:
    # one instance, one keypoint, 2 bins per axis
    pred_x = torch.tensor([[[0.0, math.log(3.0)]]], requires_grad=True)  # softmax -> (1/4, 3/4)
    pred_y = torch.tensor([[[0.0, 0.0]]], requires_grad=True)  # softmax -> (1/2, 1/2)
    gt_x = torch.tensor([[[0.5, 0.5]]])
    gt_y = torch.tensor([[[1.0, 0.0]]])
    loss = build("loss", {"type": "KLDiscretLoss", "use_target_weight": True})
    value = loss((pred_x, pred_y), (gt_x, gt_y), torch.tensor([[2.0]]))
    kl_x = (0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)) / 2  # mean over the 2 bins
    kl_y = (1.0 * math.log(1.0 / 0.5)) / 2  # 0 * log(0) counts as 0
    assert value.item() == pytest.approx(2 * (kl_x + kl_y), rel=1e-6)
    value.backward()
    assert torch.isfinite(pred_x.grad).all() and pred_x.grad.abs().sum() > 0
    # beta sharpens the prediction; label_softmax turns labels into softmax(labels * label_beta)
    sharp = build("loss", {"type": "KLDiscretLoss", "beta": 2.0, "label_softmax": True, "label_beta": 1.0})
    p = torch.softmax(torch.tensor([0.0, 2 * math.log(3.0)]), 0)
    q = torch.softmax(torch.tensor([0.5, 0.5]), 0)
    expected_x = (q * (q / p).log()).mean()
    q_y = torch.softmax(torch.tensor([1.0, 0.0]), 0)
    expected_y = (q_y * (q_y / 0.5).log()).mean()
    got = sharp((pred_x, pred_y), (gt_x, gt_y), torch.tensor([[1.0]]))
    assert got.item() == pytest.approx((expected_x + expected_y).item(), rel=1e-6)


@pytest.mark.parametrize(("cfg", "feat_shapes"), [(RTMCC, [(8, 2, 2)]), (SIMCC, [(8, 2, 2)])])
def test_conformance(posekit_check, cfg: dict, feat_shapes: list) -> None:
    posekit_check.head(cfg, feat_shapes)


@pytest.mark.parametrize("name", ["SimCCHead", "RTMCCHead"])
def test_output_heatmaps_match_mmpose(name: str) -> None:
    """predict with output_heatmaps: keypoints, scores and MMPose's keypoint_x/y_labels (normalised vectors).

    Case written by MMPose 1.3.2 (benchmarks/fixtures/gen_fidelity.py --only models): random weights
    of a small head, its input features and ``predict(..., test_cfg={'output_heatmaps': True})``.
    """
    path = Path(__file__).parent / "fixtures" / f"{name}-output-heatmaps.npz"
    z = np.load(path, allow_pickle=False)
    head = build("head", {k: v for k, v in json.loads(str(z["kwargs"])).items()}).eval()
    state = {k.removeprefix("state."): torch.from_numpy(z[k]) for k in z.files if k.startswith("state.")}
    head.load_state_dict(state, strict=True)
    feats = (torch.from_numpy(z["feats"]),)
    batch = PoseBatch(inputs=torch.zeros(2, 3, 64, 48), targets={}, samples=[PoseSample() for _ in range(2)])
    with torch.no_grad():
        preds = head.predict(feats, batch, structures.TestCfg(output_heatmaps=True))
    x = np.stack([p.keypoint_x_labels for p in preds])
    y = np.stack([p.keypoint_y_labels for p in preds])
    for key, got in (
        ("keypoints", np.stack([p.keypoints for p in preds])),
        ("keypoint_scores", np.stack([p.keypoint_scores for p in preds])),
        ("keypoint_x_labels", x),
        ("keypoint_y_labels", y),
    ):
        np.testing.assert_allclose(got, z[f"out_{key}"], rtol=1e-5, atol=1e-6, err_msg=f"{path.name}: {key}")
    ref = z["out_keypoint_y_labels"][:, 0, :, :, None] * z["out_keypoint_x_labels"][:, 0, :, None, :]
    np.testing.assert_allclose(np.stack([p.heatmaps for p in preds]), ref, rtol=1e-5, atol=1e-7)
