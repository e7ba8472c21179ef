"""ResNet / ResNetV1d: conformance, MMPose parity on the simplebaseline fixture, freezing, checkpoint errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from posekit.errors import CheckpointError, ConfigError
from posekit.nn import load_checkpoint
from posekit.registry import build

FIXTURE = "fixtures/mmpose/models/simplebaseline-res18-narrow_coco-256x192"
TINY = {"type": "ResNet", "depth": 18, "base_channels": 8, "stem_channels": 8}


def _fixture(reference: Any, shared: Path) -> tuple[dict[str, Any], Path]:
    d = shared / FIXTURE
    return reference.mmpose_backbone_config(d), d


@pytest.mark.parametrize("optimized", [False, True], ids=["eager", "fused-channels_last"])
def test_matches_mmpose(posekit_reference: Any, shared: Path, optimized: bool) -> None:
    posekit_reference.assert_backbone_matches_mmpose(shared / FIXTURE, optimized)  # config as MMPose wrote it


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        # same depth, default widths: every conv is mis-shaped
        (
            {"type": "ResNet", "depth": 18},
            ["mis-shaped keys", "conv1.weight (checkpoint (32, 3, 7, 7), model (64, 3, 7, 7))"],
        ),
        # Bottleneck blocks: conv3/bn3 missing, shapes differ
        (
            {"type": "ResNet", "depth": 50, "base_channels": 32, "stem_channels": 32},
            ["missing keys", "layer1.0.conv3.weight"],
        ),
        # deep stem: stem.* missing, conv1/bn1 unexpected
        (
            {"type": "ResNetV1d", "depth": 18, "base_channels": 32, "stem_channels": 32},
            ["unexpected keys", "bn1.weight"],
        ),
    ],
)
def test_wrong_architecture_checkpoint(
    posekit_reference: Any, shared: Path, cfg: dict[str, Any], expected: list[str]
) -> None:
    _, d = _fixture(posekit_reference, shared)
    model = build("backbone", cfg)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(model, d / "checkpoint.pth", prefix="backbone.", strict=True)
    for text in [str(d / "checkpoint.pth"), *expected]:
        assert text in str(info.value)


def test_wrong_prefix(posekit_reference: Any, shared: Path) -> None:
    cfg, d = _fixture(posekit_reference, shared)
    with pytest.raises(CheckpointError, match=r"no keys under prefix 'neck\.'"):
        load_checkpoint(build("backbone", cfg), d / "checkpoint.pth", prefix="neck.")


def test_init_cfg_pretrained(tmp_path: Path) -> None:
    src = build("backbone", TINY)
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in src.state_dict().items()}}, tmp_path / "ck.pth")
    init_cfg = {"type": "Pretrained", "checkpoint": str(tmp_path / "ck.pth"), "prefix": "backbone."}
    model = build("backbone", {**TINY, "init_cfg": init_cfg})
    for k, v in src.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v, msg=k)


def test_zero_init_residual() -> None:
    model = build("backbone", TINY)
    assert not any(b.norm2.weight.any() for b in model.layer1)
    assert bool((model.bn1.weight == 1).all())


@pytest.mark.parametrize(
    "cfg",
    [
        TINY,
        {**TINY, "out_indices": (0, 1, 2, 3)},
        {
            "type": "ResNet",
            "depth": 50,
            "base_channels": 8,
            "stem_channels": 16,
            "num_stages": 3,
            "strides": (1, 2, 1),
            "dilations": (1, 1, 2),
            "out_indices": (1, 2),
            "style": "caffe",
        },
        {"type": "ResNetV1d", "depth": 34, "base_channels": 8, "stem_channels": 16, "out_indices": (2, 3)},
        {**TINY, "norm_cfg": {"type": "GN", "num_groups": 4}, "with_cp": True},
    ],
)
def test_conformance(posekit_check: Any, cfg: dict[str, Any]) -> None:
    posekit_check.backbone(cfg, input_shape=(2, 3, 64, 64))


def _train_step(model: nn.Module) -> None:
    model.train()
    out = model(torch.randn(2, 3, 64, 64))
    sum(o.mean() for o in out).backward()


@pytest.mark.parametrize("cfg", [{**TINY, "frozen_stages": 2}, {**TINY, "type": "ResNetV1d", "frozen_stages": 2}])
def test_frozen_stages(cfg: dict[str, Any]) -> None:
    model = build("backbone", cfg)
    frozen = [model.stem] if cfg["type"] == "ResNetV1d" else [model.conv1, model.bn1]
    frozen += [model.layer1, model.layer2]
    before = {id(m): {k: v.clone() for k, v in m.state_dict().items()} for m in frozen}
    _train_step(model)
    for m in frozen:
        assert all(not p.requires_grad and p.grad is None for p in m.parameters())
        assert not any(x.training for x in m.modules()), "frozen stages stay in eval mode after train()"
        for k, v in m.state_dict().items():
            torch.testing.assert_close(v, before[id(m)][k], msg=f"frozen {k} changed")
    assert all(p.requires_grad and p.grad is not None for p in model.layer3.parameters())
    assert model.layer3.training


def test_norm_eval() -> None:
    model = build("backbone", {**TINY, "norm_eval": True})
    stats = model.layer2[0].bn1.running_mean.clone()
    _train_step(model)
    assert model.training
    assert not any(m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    torch.testing.assert_close(model.layer2[0].bn1.running_mean, stats)
    assert model.layer2[0].bn1.weight.grad is not None, "norm_eval freezes statistics, not the affine parameters"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"depth": 19}, "depth"),
        ({"out_indices": (4,)}, "out_indices (4,)"),
        ({"strides": (1, 2, 2)}, "strides (1, 2, 2)"),
        ({"frozen_stages": 5}, "frozen_stages"),
        ({"norm_cfg": {"type": "BN", "momentun": 0.1}}, "momentun"),
        ({"init_cfg": {"type": "Kaiming"}}, "init_cfg"),
    ],
)
def test_bad_config(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build("backbone", {**TINY, **change})
