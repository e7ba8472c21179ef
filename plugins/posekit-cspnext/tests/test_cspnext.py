"""The CSP family: conformance, MMPose/mmdet parity on the RTMPose-t fixture, freezing, checkpoint errors.

CSPDarknet and YOLOXPAFPN share CSPNeXt's layers; their MMPose parity is checked by posekit-rtmo's fixtures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from posekit.errors import CheckpointError, ConfigError
from posekit.nn import load_checkpoint
from posekit.registry import build

FIXTURE = "fixtures/mmpose/models/rtmpose-t_coco-256x192"
TINY = {"type": "CSPNeXt", "deepen_factor": 0.167, "widen_factor": 0.125}
DARKNET = {"type": "CSPDarknet", "deepen_factor": 0.33, "widen_factor": 0.125}
BACKBONES = pytest.mark.parametrize("tiny", [TINY, DARKNET], ids=["cspnext", "darknet"])


def _fixture(reference: Any, shared: Path) -> tuple[dict[str, Any], Path]:
    d = shared / FIXTURE
    return reference.mmpose_backbone_config(d), d


@pytest.mark.parametrize("optimized", [False, True], ids=["eager", "fused-channels_last"])
def test_matches_mmpose(posekit_reference: Any, shared: Path, optimized: bool) -> None:
    cfg = posekit_reference.mmpose_backbone_config(shared / FIXTURE)
    assert cfg["_scope_"] == "mmdet" and cfg["norm_cfg"] == {"type": "SyncBN"}  # built as written
    posekit_reference.assert_backbone_matches_mmpose(shared / FIXTURE, optimized)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"widen_factor": 0.5}, "mis-shaped keys: stem.0.conv.weight (checkpoint (12, 3, 3, 3), model (16, 3, 3, 3))"),
        ({"deepen_factor": 0.33}, "missing keys: stage2.1.blocks.1.conv1.conv.weight"),
        ({"channel_attention": False}, "unexpected keys: stage1.1.attention.fc.weight"),
    ],
)
def test_wrong_architecture_checkpoint(
    posekit_reference: Any, shared: Path, change: dict[str, Any], expected: str
) -> None:
    cfg, d = _fixture(posekit_reference, shared)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(build("backbone", {**cfg, **change}), d / "checkpoint.pth", prefix="backbone.")
    assert expected in str(info.value)
    assert str(d / "checkpoint.pth") in str(info.value)


@pytest.mark.parametrize(
    "cfg",
    [
        TINY,
        {**TINY, "out_indices": (0, 1, 2, 3, 4), "channel_attention": False},
        {**TINY, "arch": "P6", "out_indices": (3, 4, 5)},
        {**TINY, "use_depthwise": True, "expand_ratio": 0.25},
        {**TINY, "norm_cfg": {"type": "SyncBN"}, "act_cfg": {"type": "LeakyReLU", "negative_slope": 0.1}},
        {**TINY, "act_cfg": {"type": "Swish"}, "spp_kernal_sizes": (3, 5)},
        DARKNET,
        {**DARKNET, "arch": "P6", "out_indices": (0, 5), "use_depthwise": True},
    ],
    ids=["tiny", "all-layers-no-attention", "p6", "depthwise", "syncbn-leaky", "swish-spp35", "darknet", "darknet-p6"],
)
def test_conformance(posekit_check: Any, cfg: dict[str, Any]) -> None:
    posekit_check.backbone(cfg, input_shape=(2, 3, 64, 64))


def test_output_shapes() -> None:
    model = build("backbone", {**TINY, "out_indices": (0, 1, 2, 3, 4)}).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 96))
    assert [tuple(o.shape) for o in out] == [
        (1, 8, 32, 48),
        (1, 16, 16, 24),
        (1, 32, 8, 12),
        (1, 64, 4, 6),
        (1, 128, 2, 3),
    ]


def _train_step(model: nn.Module) -> None:
    model.train()
    out = model(torch.randn(2, 3, 64, 64))
    sum(o.mean() for o in out).backward()


@BACKBONES
def test_frozen_stages(tiny: dict[str, Any]) -> None:
    model = build("backbone", {**tiny, "frozen_stages": 2})
    frozen = [model.stem, model.stage1, model.stage2]
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in frozen]
    _train_step(model)
    for m, state in zip(frozen, before, strict=True):
        assert all(not p.requires_grad and p.grad is None for p in m.parameters())
        assert not any(x.training for x in m.modules()), "frozen stages stay in eval mode after train()"
        for k, v in m.state_dict().items():
            torch.testing.assert_close(v, state[k], msg=f"frozen {k} changed")
    assert model.stage3.training and all(p.grad is not None for p in model.stage3.parameters())


@BACKBONES
def test_norm_eval(tiny: dict[str, Any]) -> None:
    model = build("backbone", {**tiny, "norm_eval": True})
    bn = model.stage2[1].main_conv.bn
    stats = bn.running_mean.clone()
    _train_step(model)
    assert model.training
    assert not any(m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    torch.testing.assert_close(bn.running_mean, stats)
    assert bn.weight.grad is not None


@BACKBONES
def test_default_norm_is_mmdet_bn(tiny: dict[str, Any]) -> None:
    stem = build("backbone", tiny).stem
    bn = stem.conv.bn if tiny is DARKNET else stem[0].bn
    assert (bn.momentum, bn.eps) == (0.03, 0.001)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"arch": "P7"}, "arch"),
        ({"out_indices": (5,)}, r"out_indices \(5,\)"),
        ({"act_cfg": {"type": "Mish"}}, r"act_cfg\.type"),
        ({"norm_cfg": {"type": "GN"}}, "num_groups"),
    ],
)
@BACKBONES
def test_bad_config(tiny: dict[str, Any], change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build("backbone", {**tiny, **change})


PAFPN = {"type": "CSPNeXtPAFPN", "in_channels": (8, 16, 32), "num_csp_blocks": 1}
PAFPN_FEATS = [(8, 16, 12), (16, 8, 6), (32, 4, 3)]


@pytest.mark.parametrize(
    "cfg",
    [
        {**PAFPN, "out_indices": (1, 2)},
        {**PAFPN, "out_channels": 8, "use_depthwise": True},
        {**PAFPN, "norm_cfg": {"type": "SyncBN"}, "act_cfg": {"type": "SiLU", "inplace": True}},
        {**PAFPN, "type": "YOLOXPAFPN", "out_channels": 8},
        {**PAFPN, "type": "YOLOXPAFPN", "out_channels": 4, "use_depthwise": True, "upsample_cfg": {"mode": "bilinear"}},
    ],
    ids=["rtmw", "out-channels-depthwise", "syncbn-silu", "yolox", "yolox-depthwise-bilinear"],
)
def test_pafpn_conformance(posekit_check: Any, cfg: dict[str, Any]) -> None:
    posekit_check.neck(cfg, feat_shapes=PAFPN_FEATS)


def test_pafpn_output_shapes_and_keys() -> None:
    neck = build("neck", {**PAFPN, "out_channels": 8}).eval()
    with torch.no_grad():
        out = neck(tuple(torch.randn(2, *s) for s in PAFPN_FEATS))
    assert [tuple(o.shape) for o in out] == [(2, 8, 16, 12), (2, 8, 8, 6), (2, 8, 4, 3)]
    keys = set(neck.state_dict())
    assert {"reduce_layers.1.conv.weight", "downsamples.0.bn.running_mean", "out_convs.2.conv.weight"} <= keys
    assert "top_down_blocks.0.blocks.0.conv2.depthwise_conv.conv.weight" in keys


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"in_channels": (8,)}, "CSPNeXtPAFPN: in_channels needs at least 2 levels"),
        ({"out_indices": (3,)}, r"out_indices \(3,\)"),
        ({"type": "YOLOXPAFPN", "out_channels": 8, "in_channels": (8,)}, "YOLOXPAFPN: in_channels needs at least 2"),
    ],
)
def test_pafpn_bad_config(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build("neck", {**PAFPN, **change})
