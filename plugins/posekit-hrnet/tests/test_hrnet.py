"""HRNet: conformance, MMPose parity on the top-down and bottom-up fixtures, freezing, checkpoint errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from posekit.errors import CheckpointError, ConfigError
from posekit.nn import load_checkpoint
from posekit.registry import build

TOPDOWN = "fixtures/mmpose/models/hrnet-w18_coco-256x192"
BOTTOMUP = "fixtures/mmpose/models/ae-hrnet-w18-small_coco-256x256"


def _stage(n: int, block: str = "BASIC", width: int = 8, blocks: int = 1) -> dict[str, Any]:
    return {
        "num_modules": 1,
        "num_branches": n,
        "block": block,
        "num_blocks": (blocks,) * n,
        "num_channels": tuple(width * 2**i for i in range(n)),
    }


TINY_EXTRA = {"stage1": _stage(1, "BOTTLENECK"), "stage2": _stage(2), "stage3": _stage(3), "stage4": _stage(4)}
TINY = {"type": "HRNet", "extra": TINY_EXTRA}


def _fixture(reference: Any, shared: Path, name: str) -> tuple[dict[str, Any], Path]:
    d = shared / name
    return reference.mmpose_backbone_config(d), d


@pytest.mark.parametrize("name", [TOPDOWN, BOTTOMUP], ids=["hrnet-w18", "ae-hrnet-w18-small"])
@pytest.mark.parametrize("optimized", [False, True], ids=["eager", "fused-channels_last"])
def test_matches_mmpose(posekit_reference: Any, shared: Path, name: str, optimized: bool) -> None:
    posekit_reference.assert_backbone_matches_mmpose(shared / name, optimized)


def test_wrong_architecture_checkpoint(posekit_reference: Any, shared: Path) -> None:
    # the w18 top-down checkpoint (4 blocks per branch, 4+3 modules) into the small bottom-up config
    small, _ = _fixture(posekit_reference, shared, BOTTOMUP)
    _, d = _fixture(posekit_reference, shared, TOPDOWN)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(build("backbone", small), d / "checkpoint.pth", prefix="backbone.")
    msg = str(info.value)
    assert "unexpected keys: stage2.0.branches.0.2.conv1.weight" in msg
    assert "does not fit HRNet" in msg and str(d / "checkpoint.pth") in msg
    # and into w32 widths: mis-shaped
    cfg, _ = _fixture(posekit_reference, shared, TOPDOWN)
    extra = json.loads(json.dumps(cfg["extra"]))
    for k, n in (("stage2", 2), ("stage3", 3), ("stage4", 4)):
        extra[k]["num_channels"] = [32 * 2**i for i in range(n)]
    with pytest.raises(CheckpointError, match=r"mis-shaped keys: transition1\.0\.0\.weight \(checkpoint \(18, 256"):
        load_checkpoint(build("backbone", {**cfg, "extra": extra}), d / "checkpoint.pth", prefix="backbone.")


@pytest.mark.parametrize(
    "cfg",
    [
        TINY,
        {**TINY, "extra": {**TINY_EXTRA, "stage4": {**_stage(4), "multiscale_output": True}}},
        {**TINY, "extra": {**TINY_EXTRA, "upsample": {"mode": "bilinear", "align_corners": False}}},
        {**TINY, "extra": {**TINY_EXTRA, "stage2": {**_stage(2, blocks=2), "num_modules": 2}}, "with_cp": True},
        {**TINY, "norm_cfg": {"type": "GN", "num_groups": 4}, "zero_init_residual": True},
    ],
    ids=["tiny", "multiscale", "bilinear", "two-modules-cp", "gn"],
)
def test_conformance(posekit_check: Any, cfg: dict[str, Any]) -> None:
    model = posekit_check.backbone(cfg, input_shape=(2, 3, 64, 64))
    multiscale = cfg["extra"]["stage4"].get("multiscale_output", False)
    with torch.no_grad():
        out = model.eval()(torch.randn(1, 3, 64, 64))
    expected = [(1, 8 * 2**i, 16 // 2**i, 16 // 2**i) for i in range(4 if multiscale else 1)]
    assert [tuple(o.shape) for o in out] == expected


def _train_step(model: nn.Module) -> None:
    model.train()
    out = model(torch.randn(2, 3, 64, 64))
    sum(o.mean() for o in out).backward()


@pytest.mark.parametrize("frozen_stages", [0, 2, 4])
def test_frozen_stages(frozen_stages: int) -> None:
    model = build("backbone", {**TINY, "frozen_stages": frozen_stages})
    parts = [
        [model.conv1, model.bn1, model.conv2, model.bn2],
        [model.layer1, model.transition1],
        [model.stage2, model.transition2],
        [model.stage3, model.transition3],
        [model.stage4],
    ]
    frozen = [m for stage in parts[: frozen_stages + 1] for m in stage]
    trainable = [m for stage in parts[frozen_stages + 1 :] for m in stage]
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in frozen]
    if trainable:
        _train_step(model)
    else:
        model.train()
    for m, state in zip(frozen, before, strict=True):
        assert all(not p.requires_grad and p.grad is None for p in m.parameters())
        assert not any(x.training for x in m.modules()), "frozen stages stay in eval mode after train()"
        for k, v in m.state_dict().items():
            torch.testing.assert_close(v, state[k], msg=f"frozen {k} changed")
    for m in trainable:
        assert m.training and all(p.requires_grad and p.grad is not None for p in m.parameters())


def test_norm_eval() -> None:
    model = build("backbone", {**TINY, "norm_eval": True})
    stats = model.stage3[0].branches[1][0].bn1.running_var.clone()
    _train_step(model)
    assert model.training
    assert not any(m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    torch.testing.assert_close(model.stage3[0].branches[1][0].bn1.running_var, stats)
    assert model.stage3[0].branches[1][0].bn1.weight.grad is not None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({**TINY_EXTRA, "stage2": {**_stage(2), "num_blocks": (1,)}}, r"extra\.stage2.*one entry per branch"),
        ({**TINY_EXTRA, "stage3": _stage(2)}, "stage3 must have num_branches=3"),
        ({**TINY_EXTRA, "stage2": {**_stage(2), "block": "BASICS"}}, r"extra\.stage2\.block"),
        ({k: v for k, v in TINY_EXTRA.items() if k != "stage4"}, r"extra\.stage4.*missing"),
    ],
)
def test_bad_extra(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build("backbone", {**TINY, "extra": extra})
