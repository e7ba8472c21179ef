"""TCN + TemporalRegressionHead against MMPose's VideoPose3D fixture; MPJPELoss by hand; conformance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from posekit.registry import build
from posekit.structures import PoseBatch, PoseSample
from posekit.structures import TestCfg as HeadTestCfg

MODEL = "videopose3d-27frm-c256_h36m"


def test_videopose3d_matches_mmpose(posekit_reference: Any, shared: Path) -> None:
    posekit_reference.assert_backbone_matches_mmpose(shared / "fixtures/mmpose/models" / MODEL)
    posekit_reference.assert_head_matches_mmpose(shared / "fixtures/mmpose/models" / MODEL, ("coords",))


def test_tcn_dilated_and_strided_forms_agree() -> None:
    cfg = {"type": "TCN", "in_channels": 34, "stem_channels": 32, "kernel_sizes": (3, 3, 3), "dropout": 0.0}
    dilated = build("backbone", cfg).eval()
    strided = build("backbone", {**cfg, "use_stride_conv": True}).eval()
    strided.load_state_dict(dilated.state_dict(), strict=True)
    x = torch.randn(2, 34, 27)
    with torch.no_grad():
        a, b = dilated(x), strided(x)
    assert [t.shape for t in a] == [(2, 32, 19), (2, 32, 1)]
    assert [t.shape for t in b] == [(2, 32, 3), (2, 32, 1)]
    torch.testing.assert_close(a[-1], b[-1], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"TCN input: expected shape \(B, 34, T\), got \(2, 17, 27\)"):
        dilated(torch.randn(2, 17, 27))


def test_tcn_max_norm_clips_conv_weights() -> None:
    tcn = build("backbone", {"type": "TCN", "in_channels": 4, "stem_channels": 8, "max_norm": 0.5, "dropout": 0.0})
    tcn.eval()(torch.randn(1, 4, 27))
    assert tcn.expand_conv.conv.weight.norm() <= 0.5 + 1e-5


def test_mpjpe_loss_by_hand() -> None:
    pred = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]]])
    target = torch.tensor([[[3.0, 4.0, 0.0], [1.0, 2.0, 2.0]]])
    weight = torch.tensor([[0.5, 1.0]])
    plain = build("loss", {"type": "MPJPELoss", "loss_weight": 2.0})
    torch.testing.assert_close(plain(pred, target), torch.tensor((5.0 + 0.0) / 2 * 2.0))
    weighted = build("loss", {"type": "MPJPELoss", "use_target_weight": True})
    p = pred.clone().requires_grad_(True)
    value = weighted(p, target, weight.unsqueeze(-1))
    torch.testing.assert_close(value, torch.tensor(5.0 * 0.5 / 2))
    value.backward()
    # d/dp of 0.5 * |p - t| / 2 at keypoint 0 is 0.25 * (p - t) / |p - t|
    torch.testing.assert_close(p.grad[0, 0], torch.tensor([-0.15, -0.2, 0.0]))
    assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="target_weight"):
        weighted(pred, target)


def _lifting_batch(k: int = 17, n: int = 2) -> PoseBatch:
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        s = PoseSample(img_id=i)
        s.target_root = rng.random((1, 3)).astype(np.float32)
        samples.append(s)
    targets = {
        "lifting_target_label": torch.from_numpy(rng.random((n, 1, k, 3)).astype(np.float32)),
        "lifting_target_weight": torch.ones(n, 1, k),
        "trajectory_weights": torch.ones(n, 1, k),
    }
    return PoseBatch(inputs=torch.zeros(n, 2 * k, 27), targets=targets, samples=samples)


@pytest.mark.parametrize("name", ["TemporalRegressionHead", "TrajectoryRegressionHead"])
def test_lifting_head_loss_and_predict(name: str) -> None:
    head = build(
        "head",
        {
            "type": name,
            "in_channels": 8,
            "num_joints": 17,
            "decoder": {"type": "VideoPoseLifting", "num_keypoints": 17},
        },
    )
    batch = _lifting_batch()
    feats = (torch.randn(2, 8, 1),)
    losses = head.loss(feats, batch, None)
    loss_key, acc_key = ("loss_pose3d", "mpjpe") if name == "TemporalRegressionHead" else ("loss_traj", "mpjpe_traj")
    assert set(losses) == {loss_key, acc_key}
    with torch.no_grad():
        coords = head(feats)
    label = batch.targets["lifting_target_label"][:, 0]
    torch.testing.assert_close(losses[acc_key], (coords - label).norm(dim=-1).mean())
    preds = head.predict(feats, batch, HeadTestCfg())
    for pred, sample, c in zip(preds, batch.samples, coords.numpy(), strict=True):
        np.testing.assert_allclose(pred.keypoints, c[None] + sample.target_root[:, None], rtol=1e-6)
        assert pred.keypoint_scores.shape == (1, 17)


def test_lifting_head_list_targets() -> None:
    head = build("head", {"type": "TemporalRegressionHead", "in_channels": 8, "num_joints": 17})
    batch = _lifting_batch()
    stacked = head.loss((torch.ones(2, 8, 1),), batch, None)
    batch.targets = {k: list(v) for k, v in batch.targets.items()}
    listed = head.loss((torch.ones(2, 8, 1),), batch, None)
    torch.testing.assert_close(stacked["loss_pose3d"], listed["loss_pose3d"])


def test_tcn_conformance(posekit_check) -> None:
    posekit_check.backbone({"type": "TCN", "in_channels": 34, "stem_channels": 32}, input_shape=(2, 34, 27))
    posekit_check.backbone(
        {"type": "TCN", "in_channels": 34, "stem_channels": 32, "use_stride_conv": True}, input_shape=(2, 34, 27)
    )


@pytest.mark.parametrize("name", ["TemporalRegressionHead", "TrajectoryRegressionHead"])
def test_head_conformance(posekit_check, name: str) -> None:
    cfg = {
        "type": name,
        "in_channels": 8,
        "num_joints": 17,
        "decoder": {"type": "VideoPoseLifting", "num_keypoints": 17},
    }
    posekit_check.head(cfg, feat_shapes=[(8, 1)], batch=_lifting_batch())


def test_loss_conformance(posekit_check) -> None:
    pred, target = torch.randn(2, 17, 3), torch.randn(2, 17, 3)
    posekit_check.loss({"type": "MPJPELoss", "use_target_weight": True}, pred, target, torch.ones(2, 17, 1))


def test_tcn_without_norm_matches_mmpose() -> None:
    """TCN(norm_cfg=None): biased convs and no norm layers, same keys and output as MMPose 1.3.2.

    Case written by benchmarks/fixtures/gen_fidelity.py --only models (random weights, random input).
    """
    path = Path(__file__).parent / "fixtures" / "TCN-norm-none.npz"
    z = np.load(path, allow_pickle=False)
    tcn = build("backbone", json.loads(str(z["kwargs"]))).eval()
    state = {k.removeprefix("state."): torch.from_numpy(z[k]) for k in z.files if k.startswith("state.")}
    assert set(tcn.state_dict()) == set(state), f"{path.name}: state_dict keys"
    tcn.load_state_dict(state, strict=True)
    with torch.no_grad():
        out = tcn(torch.from_numpy(z["input"]))[-1]
    np.testing.assert_allclose(out.numpy(), z["output"], rtol=1e-5, atol=1e-5, err_msg=path.name)


def test_lifter_without_root_matches_its_definition() -> None:
    """MMPose's image lifter predicts K - 1 joints (``remove_root``); its codec maps them to h36m's 17."""
    import posekit
    from posekit.config import validate_experiment
    from posekit.errors import ConfigError

    model = {
        "type": "PoseLifter",
        "backbone": {"type": "TCN", "in_channels": 34, "stem_channels": 64, "num_blocks": 1, "kernel_sizes": [1, 1]},
        "head": {
            "type": "TemporalRegressionHead",
            "in_channels": 64,
            "num_joints": 16,
            "loss": {"type": "MSELoss"},
            "decoder": {"type": "ImagePoseLifting", "num_keypoints": 17, "root_index": 0, "remove_root": True},
        },
    }
    validate_experiment({"model": model, "metainfo": "h36m"}, "exp.yaml")
    assert posekit.init_model({"model": model, "metainfo": "h36m"}).dataset_meta["num_keypoints"] == 17
    model["head"]["decoder"]["remove_root"] = False
    with pytest.raises(ConfigError, match=r"predicts 16 keypoints \(model\.head\.num_joints\)"):
        validate_experiment({"model": model, "metainfo": "h36m"}, "exp.yaml")
