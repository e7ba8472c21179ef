"""HeatmapHead against MMPose 1.3.2 checkpoints, its losses by hand, flip test, conformance.

Reference models: shared/fixtures/mmpose/models/<name>/ (config.json, checkpoint.pth,
backbone_out.npz, head_out.npz), written by MMPose 1.3.2 on CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from posekit import structures
from posekit.codec_utils import flip_heatmaps
from posekit.registry import build
from posekit.structures import PoseBatch, PoseSample, TrainCfg


@pytest.mark.parametrize("model", ["hrnet-w18_coco-256x192", "simplebaseline-res18-narrow_coco-256x192"])
def test_matches_mmpose(posekit_reference: Any, shared: Path, model: str) -> None:
    posekit_reference.assert_head_matches_mmpose(shared / "fixtures/mmpose/models" / model, ("heatmaps",))


def test_renames_mmpose_0x_final_layer_keys() -> None:
    head = build(
        "head",
        {"type": "HeatmapHead", "in_channels": 8, "out_channels": 3, "deconv_out_channels": None}
        | {"conv_out_channels": (4,), "conv_kernel_sizes": (3,)},
    )
    # MMPose 0.x: final_layer.0-2 = conv, bn, relu of conv_layers; final_layer.3 = the last conv
    current = {f"final_layer.{k}" for k in head.conv_layers.state_dict()}
    current |= {f"final_layer.3.{k}" for k in head.final_layer.state_dict()}
    old = {k: torch.randn(head.state_dict()[_new_name(k)].shape) for k in current}
    head.load_state_dict(old, strict=True)
    assert torch.equal(head.final_layer.bias, old["final_layer.3.bias"])
    assert torch.equal(head.conv_layers[0].weight, old["final_layer.0.weight"])
    assert torch.equal(head.conv_layers[1].running_var, old["final_layer.1.running_var"])


def _new_name(key: str) -> str:
    return (
        key.replace("final_layer.3.", "final_layer.")
        if key.startswith("final_layer.3.")
        else key.replace("final_layer.", "conv_layers.")
    )


def _batch(codec_cfg: dict, n: int = 2) -> PoseBatch:
    codec = build("codec", codec_cfg)
    rng = np.random.default_rng(0)
    samples, heatmaps, weights = [], [], []
    for i in range(n):
        keypoints = (rng.random((1, 17, 2)) * [180, 240] + 6).astype(np.float32)
        encoded = codec.encode(keypoints)
        heatmaps.append(torch.from_numpy(encoded["heatmaps"]))
        weights.append(torch.from_numpy(encoded["keypoint_weights"]))
        samples.append(PoseSample(img_id=i, keypoints=keypoints, flip_indices=[0, 2, 1, 4, 3, *range(5, 17)]))
    targets = {"heatmaps": torch.stack(heatmaps), "keypoint_weights": torch.stack(weights)}
    return PoseBatch(inputs=torch.zeros(n, 3, 256, 192), targets=targets, samples=samples)


CODEC = {"type": "MSRAHeatmap", "input_size": (192, 256), "heatmap_size": (48, 64), "sigma": 2.0}
HEAD = {"type": "HeatmapHead", "in_channels": 8, "out_channels": 17, "deconv_out_channels": (8,)}
HEAD |= {"deconv_kernel_sizes": (4,), "decoder": CODEC}


def test_loss_and_accuracy_on_perfect_prediction() -> None:
    head = build("head", HEAD)
    batch = _batch(CODEC)
    gt = batch.targets["heatmaps"]
    head.final_layer = torch.nn.Identity()
    head.deconv_layers = torch.nn.Identity()
    losses = head.loss((gt,), batch, TrainCfg())
    assert losses["loss_kpt"].item() == 0.0
    assert losses["acc_pose"].item() == 1.0
    assert set(head.loss((gt,), batch, TrainCfg(compute_acc=False))) == {"loss_kpt"}


def test_predict_and_flip_test() -> None:
    head = build("head", HEAD).eval()
    batch = _batch(CODEC)
    torch.manual_seed(0)
    feats, feats_flip = (torch.randn(2, 8, 32, 24),), (torch.randn(2, 8, 32, 24),)
    cfg = structures.TestCfg(flip_test=True, shift_heatmap=True, output_heatmaps=True)
    with torch.no_grad():
        preds = head.predict((feats, feats_flip), batch, cfg)
        expected = (head(feats) + flip_heatmaps(head(feats_flip), batch.samples[0].flip_indices, "heatmap", True)) / 2
    assert len(preds) == 2 and preds[0].keypoints.shape == (1, 17, 2) and preds[0].keypoint_scores.shape == (1, 17)
    np.testing.assert_allclose(preds[1].heatmaps, expected[1].numpy(), rtol=1e-6)
    keypoints, scores = head.decoder.decode(expected[1].numpy())
    np.testing.assert_array_equal(preds[1].keypoints, keypoints)
    np.testing.assert_array_equal(preds[1].keypoint_scores, scores)
    # flip_heatmaps by hand: mirror x, swap keypoints 1/2 and 3/4, shift one pixel right
    maps = torch.arange(2 * 17 * 2 * 3, dtype=torch.float32).reshape(2, 17, 2, 3)
    flipped = flip_heatmaps(maps, batch.samples[0].flip_indices, "heatmap", True)
    assert torch.equal(flipped[:, 1, :, 1:], maps[:, 2].flip(-1)[..., :-1])
    assert torch.equal(flipped[:, 0, :, 0], maps[:, 0, :, -1])


def test_mse_loss_by_hand() -> None:
    output = torch.tensor([[[[1.0, 2.0]], [[0.5, 0.0]]]], requires_grad=True)  # (B=1, K=2, H=1, W=2)
    target = torch.tensor([[[[0.0, 2.0]], [[0.0, 0.0]]]])
    weights = torch.tensor([[2.0, 1.0]])
    loss = build("loss", {"type": "KeypointMSELoss", "use_target_weight": True, "loss_weight": 0.5})
    # ((1 - 0)^2 * 2 + 0 + 0.5^2 * 1 + 0) / 4 * 0.5
    value = loss(output, target, weights)
    assert value.item() == pytest.approx((2.0 + 0.25) / 4 * 0.5)
    value.backward()
    assert torch.isfinite(output.grad).all() and output.grad.abs().sum() > 0
    skip = build("loss", {"type": "KeypointMSELoss", "skip_empty_channel": True})
    assert skip(output, target).item() == pytest.approx(1.0 / 4)  # channel 1 has an all-zero target


def test_ohkm_loss_by_hand() -> None:
    output = torch.tensor([[[[1.0]], [[2.0]], [[3.0]]], [[[0.0]], [[1.0]], [[0.0]]]], requires_grad=True)
    target = torch.zeros(2, 3, 1, 1)
    loss = build("loss", {"type": "KeypointOHKMMSELoss", "topk": 2})
    value = loss(output, target)
    # sample 0: top-2 of (1, 4, 9) -> 6.5; sample 1: top-2 of (0, 1, 0) -> 0.5; mean 3.5
    assert value.item() == pytest.approx(3.5)
    value.backward()
    assert torch.isfinite(output.grad).all() and output.grad.abs().sum() > 0
    weighted = build("loss", {"type": "KeypointOHKMMSELoss", "topk": 1, "use_target_weight": True})
    assert weighted(output, target, torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])).item() == pytest.approx(2.5)
    with pytest.raises(ValueError, match=r"topk \(4\) should not be larger than num_keypoints \(3\)"):
        build("loss", {"type": "KeypointOHKMMSELoss", "topk": 4})(output, target)


@pytest.mark.parametrize(
    "cfg",
    [
        {"type": "KeypointMSELoss", "use_target_weight": True},
        {"type": "KeypointMSELoss", "skip_empty_channel": True},
        {"type": "KeypointOHKMMSELoss", "use_target_weight": True, "topk": 2},
    ],
)
def test_loss_conformance(posekit_check, cfg: dict) -> None:
    torch.manual_seed(0)
    target = torch.rand(2, 3, 8, 6)
    posekit_check.loss(cfg, torch.rand(2, 3, 8, 6), target, torch.ones(2, 3))


@pytest.mark.parametrize(
    ("cfg", "feat_shapes"),
    [
        (HEAD, [(8, 32, 24)]),
        (
            {"type": "HeatmapHead", "in_channels": 8, "out_channels": 17, "deconv_out_channels": None}
            | {"conv_out_channels": (8,), "conv_kernel_sizes": (3,), "decoder": CODEC | {"unbiased": True}},
            [(4, 8, 6), (8, 64, 48)],
        ),
        (
            HEAD | {"decoder": {"type": "UDPHeatmap", "input_size": (192, 256), "heatmap_size": (48, 64)}},
            [(8, 32, 24)],
        ),
    ],
)
def test_conformance(posekit_check, cfg: dict, feat_shapes: list) -> None:
    posekit_check.head(cfg, feat_shapes)
