"""Regression heads and losses: values by hand, flip test, MMPose key names, conformance."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from posekit import structures
from posekit.codec_utils import flip_coordinates
from posekit.registry import build
from posekit.structures import PoseBatch, TrainCfg

CODEC = {"type": "RegressionLabel", "input_size": (64, 48)}
FLIP = [0, 2, 1, 4, 3, *range(5, 17)]


def _batch(posekit_check: Any, codec_cfg: dict) -> PoseBatch:
    return posekit_check.random_topdown_batch(build("codec", codec_cfg), flip_indices=FLIP)


def test_regression_head_flip_test_by_hand(posekit_check: Any) -> None:
    head = build("head", {"type": "RegressionHead", "in_channels": 8, "num_joints": 17, "decoder": CODEC}).eval()
    batch = _batch(posekit_check, CODEC)
    feats, feats_flip = (torch.randn(2, 8),), (torch.randn(2, 8),)
    with torch.no_grad():
        preds = head.predict((feats, feats_flip), batch, structures.TestCfg(flip_test=True))
        flipped = head(feats_flip)
    # MMPose's flip_coordinates: x -> 1 - x - 1 / w (shift_coords), then swap symmetric keypoints
    by_hand = flipped.clone()
    by_hand[..., 0] = 1 - flipped[..., 0] - 1 / 64
    by_hand = by_hand[:, FLIP]
    assert torch.allclose(flip_coordinates(flipped, FLIP, True, (64, 48)), by_hand)
    expected = ((head(feats) + by_hand) / 2).detach().numpy() * [64, 48]
    np.testing.assert_allclose(np.concatenate([p.keypoints for p in preds]), expected, rtol=1e-5)
    assert preds[0].keypoint_scores.shape == (1, 17) and (preds[0].keypoint_scores == 1).all()


def test_rle_head_keys_sigmas_and_old_checkpoints(posekit_check: Any) -> None:
    head = build("head", {"type": "RLEHead", "in_channels": 8, "num_joints": 17, "decoder": CODEC}).eval()
    keys = set(head.state_dict())
    assert {"fc.weight", "fc.bias", "loss_module.flow_model.s.0.0.weight", "loss_module.flow_model.mask"} <= keys
    with torch.no_grad():
        out = head((torch.randn(2, 8),))
        preds = head.predict((torch.randn(2, 8),), _batch(posekit_check, CODEC), structures.TestCfg())
    assert out.shape == (2, 17, 4)
    assert ((preds[0].keypoint_scores > 0) & (preds[0].keypoint_scores < 1)).all()  # 1 - sigmoid(sigma) averaged
    old = {k.replace("loss_module.", "loss.", 1): v + 1 for k, v in head.state_dict().items()}
    head.load_state_dict(old, strict=True)  # MMPose 0.x named the loss module "loss"
    assert torch.equal(head.loss_module.flow_model.s[0][0].bias, old["loss.flow_model.s.0.0.bias"])


def test_integral_regression_head_soft_argmax() -> None:
    head = build(
        "head",
        {
            "type": "IntegralRegressionHead",
            "in_channels": 4,
            "in_featuremap_size": (4, 3),
            "num_joints": 2,
            "deconv_out_channels": None,
            "final_layer": None,
            "decoder": {
                "type": "IntegralRegressionLabel",
                "input_size": (64, 48),
                "heatmap_size": (4, 3),
                "sigma": 1.0,
            },
        },
    )
    maps = torch.full((1, 2, 3, 4), -1e4)
    maps[0, 0, 2, 1] = 0.0  # all the softmax mass on pixel (x=1, y=2)
    maps[0, 1] = 0.0  # uniform: x = mean(0, 1, 2, 3) / 4, y = mean(0, 1, 2) / 3
    coords, heatmaps = head((maps,))
    assert torch.allclose(coords[0], torch.tensor([[1 / 4, 2 / 3], [1.5 / 4, 1 / 3]]))
    assert torch.allclose(heatmaps.sum(dim=(2, 3)), torch.ones(1, 2))
    assert {k for k in head.state_dict()} == {"linspace_x", "linspace_y"}


def test_integral_regression_head_with_deconvs_wraps_a_heatmap_head() -> None:
    cfg = {"type": "IntegralRegressionHead", "in_channels": 8, "in_featuremap_size": (2, 2), "num_joints": 17}
    head = build("head", cfg | {"deconv_out_channels": (8,), "deconv_kernel_sizes": (4,)})
    assert type(head.simplebaseline_head).__name__ == "HeatmapTrunk" and head.heatmap_size == (4, 4)
    # a HeatmapHead checkpoint's final_layer loads into simplebaseline_head, as in MMPose
    state = {
        k.replace("simplebaseline_head.", "", 1) if ".final_layer." in k else k: v for k, v in head.state_dict().items()
    }
    head.load_state_dict(state, strict=True)


def test_smooth_l1_and_l1_by_hand() -> None:
    output = torch.tensor([[[0.5, 3.0]]], requires_grad=True)  # (N=1, K=1, D=2)
    target = torch.tensor([[[0.0, 0.0]]])
    smooth = build("loss", {"type": "SmoothL1Loss", "use_target_weight": True, "loss_weight": 2.0})
    value = smooth(output, target, torch.tensor([[1.0]]))
    assert value.item() == pytest.approx((0.5 * 0.25 + (3.0 - 0.5)) / 2 * 2.0)
    value.backward()
    assert torch.isfinite(output.grad).all() and output.grad.abs().sum() > 0
    l1 = build("loss", {"type": "L1Loss", "use_target_weight": True})
    assert l1(output, target, torch.tensor([[0.5]])).item() == pytest.approx((0.25 + 1.5) / 2)
    assert build("loss", {"type": "L1Loss", "reduction": "sum"})(output, target).item() == pytest.approx(3.5)


def test_soft_weight_smooth_l1_by_hand() -> None:
    output = torch.tensor([[[0.5, 3.0], [1.0, 1.0]]], requires_grad=True)  # (N=1, K=2, D=2)
    target = torch.zeros(1, 2, 2)
    weight = torch.tensor([[0.5, 0.0]])
    loss = build("loss", {"type": "SoftWeightSmoothL1Loss", "use_target_weight": True, "beta": 1.0})
    per_element = torch.tensor([0.125, 2.5, 0.5, 0.5]) * torch.tensor([0.5, 0.5, 0.0, 0.0])
    value = loss(output, target, weight)
    assert value.item() == pytest.approx(per_element.mean().item())
    value.backward()
    assert torch.isfinite(output.grad).all() and output.grad.abs().sum() > 0
    empty = build("loss", {"type": "SoftWeightSmoothL1Loss", "use_target_weight": True, "supervise_empty": False})
    assert empty(output, target, weight).item() == pytest.approx(per_element.sum().item() / 1)  # 1 positive weight


def test_rle_loss_by_hand_with_an_identity_flow() -> None:
    loss = build("loss", {"type": "RLELoss", "use_target_weight": True})
    for net in [*loss.flow_model.s, *loss.flow_model.t]:  # zero last layer: s = t = 0, the flow is the identity
        torch.nn.init.zeros_(net[4].weight)
        torch.nn.init.zeros_(net[4].bias)
    pred = torch.tensor([[[0.3, 0.5]]], requires_grad=True)
    sigma_logit = torch.tensor([[[0.0, 0.0]]], requires_grad=True)  # sigma = 0.5
    target = torch.tensor([[[0.2, 0.5]]])
    value = loss(pred, sigma_logit, target, torch.tensor([[[1.0]]]))
    error = np.array([0.1, 0.0]) / 0.5
    log_phi = -0.5 * (error**2).sum() - math.log(2 * math.pi)  # standard normal in 2D
    per_axis = math.log(0.5) - log_phi + math.log(2 * 0.5) + np.abs(error)  # flow term + Laplace residual
    assert value.item() == pytest.approx(per_axis.sum(), rel=1e-5)
    value.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    assert torch.isfinite(sigma_logit.grad).all() and sigma_logit.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "cfg",
    [
        {"type": "SmoothL1Loss", "use_target_weight": True},
        {"type": "L1Loss", "use_target_weight": True},
        {"type": "SoftWeightSmoothL1Loss", "use_target_weight": True, "supervise_empty": False},
    ],
)
def test_loss_conformance(posekit_check, cfg: dict) -> None:
    torch.manual_seed(0)
    posekit_check.loss(cfg, torch.rand(2, 3, 2), torch.rand(2, 3, 2), torch.ones(2, 3, 1))


def test_heads_train(posekit_check: Any) -> None:
    batch = _batch(posekit_check, CODEC)
    for cfg in (
        {"type": "RegressionHead", "in_channels": 8, "num_joints": 17},
        {"type": "RLEHead", "in_channels": 8, "num_joints": 17},
    ):
        losses = build("head", cfg).loss((torch.randn(2, 8),), batch, TrainCfg())
        assert set(losses) == {"loss_kpt", "acc_pose"} and torch.isfinite(losses["loss_kpt"])


@pytest.mark.parametrize(
    ("cfg", "feat_shapes"),
    [
        ({"type": "RegressionHead", "in_channels": 8, "num_joints": 17, "decoder": CODEC}, [(8,)]),
        ({"type": "RLEHead", "in_channels": 8, "num_joints": 17, "decoder": CODEC}, [(8,)]),
        (
            {
                "type": "IntegralRegressionHead",
                "in_channels": 8,
                "in_featuremap_size": (2, 2),
                "num_joints": 17,
                "deconv_out_channels": (8, 8),
                "deconv_kernel_sizes": (4, 4),
                "decoder": {"type": "IntegralRegressionLabel", "input_size": (64, 48)}
                | {"heatmap_size": (8, 8), "sigma": 1.0},
            },
            [(8, 2, 2)],
        ),
    ],
)
def test_conformance(posekit_check, cfg: dict, feat_shapes: list) -> None:
    posekit_check.head(cfg, feat_shapes)
