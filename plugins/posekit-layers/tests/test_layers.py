"""posekit_layers: mmcv-compatible norms, activations and ConvModule, mmengine's init dicts, channel shuffles."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from posekit.errors import ConfigError
from posekit_layers import (
    ConvModule,
    DepthwiseSeparableConvModule,
    apply_init_cfg,
    build_activation_layer,
    build_norm_layer,
    cat_shuffle,
    channel_shuffle,
)


@pytest.mark.parametrize(
    ("cfg", "name", "cls"),
    [
        ({"type": "BN", "momentum": 0.03, "eps": 0.001}, "bn1", nn.BatchNorm2d),
        ({"type": "SyncBN", "requires_grad": True}, "bn1", nn.BatchNorm2d),  # one process: plain BN
        ({"type": "GN", "num_groups": 4}, "gn1", nn.GroupNorm),
        ({"type": "LN"}, "ln1", nn.LayerNorm),
        ({"type": "IN"}, "in1", nn.InstanceNorm2d),
        ({"type": "BN1d"}, "bn1", nn.BatchNorm1d),
    ],
)
def test_build_norm_layer(cfg: dict[str, Any], name: str, cls: type[nn.Module]) -> None:
    got_name, layer = build_norm_layer(cfg, 8, postfix=1)
    assert (got_name, type(layer)) == (name, cls)
    if "momentum" in cfg:
        assert (layer.momentum, layer.eps) == (0.03, 0.001)


def test_syncbn_under_distributed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("posekit_layers.bricks._distributed_world_size", lambda: 2)
    assert isinstance(build_norm_layer({"type": "SyncBN"}, 8)[1], nn.SyncBatchNorm)


def test_norm_requires_grad_false() -> None:
    _, layer = build_norm_layer({"type": "BN", "requires_grad": False}, 8)
    assert not any(p.requires_grad for p in layer.parameters())


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"type": "GN"}, "num_groups"),
        ({"type": "BatchNorm"}, r"norm_cfg.*type"),
        ({"type": "BN", "momentun": 0.1}, "momentun"),
        ({"type": "BN", "num_groups": 2}, "num_groups applies to type 'GN' only"),
    ],
)
def test_bad_norm_cfg(cfg: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_norm_layer(cfg, 8)


def test_activations() -> None:
    assert isinstance(build_activation_layer({"type": "Swish"}), nn.SiLU)
    assert build_activation_layer({"type": "ReLU", "inplace": True}).inplace
    leaky = build_activation_layer({"type": "LeakyReLU", "negative_slope": 0.2})
    assert leaky.negative_slope == 0.2
    with pytest.raises(ConfigError, match="takes no 'inplace'"):
        build_activation_layer({"type": "GELU", "inplace": True})


def test_conv_module_keys_and_defaults() -> None:
    m = ConvModule(3, 8, 3, padding=1, norm_cfg={"type": "SyncBN"}, act_cfg={"type": "SiLU"})
    assert sorted(m.state_dict()) == [
        "bn.bias",
        "bn.num_batches_tracked",
        "bn.running_mean",
        "bn.running_var",
        "bn.weight",
        "conv.weight",
    ]
    assert m.activate.inplace, "mmcv's ConvModule defaults inplace=True"
    assert ConvModule(3, 8, 1).conv.bias is not None, "bias='auto' adds a bias without a norm"
    gn = ConvModule(3, 8, 1, norm_cfg={"type": "GN", "num_groups": 2}, act_cfg=None)
    assert "gn.weight" in gn.state_dict() and gn.activate is None
    dw = DepthwiseSeparableConvModule(8, 16, 5, padding=2, norm_cfg={"type": "BN"})
    assert dw.state_dict()["depthwise_conv.conv.weight"].shape == (8, 1, 5, 5)
    assert dw.state_dict()["pointwise_conv.conv.weight"].shape == (16, 8, 1, 1)


def test_apply_init_cfg_follows_mmengine_dicts() -> None:
    """mmengine's init dicts apply in order to the named layers (and their subclasses); a bad one is named."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    apply_init_cfg(
        model,
        [
            {"type": "Constant", "layer": ["Conv2d", "Linear"], "val": 0.5},
            {"type": "Normal", "layer": "Linear", "std": 0.0, "bias_prob": 0.01},
        ],
    )
    assert torch.equal(model[0].weight, torch.full_like(model[0].weight, 0.5)) and not model[0].bias.any()
    assert not model[2].weight.any() and torch.allclose(model[2].bias, torch.full((2,), -4.59512), atol=1e-5)
    assert torch.equal(model[1].weight, torch.ones(4))  # not named: untouched
    with pytest.raises(ConfigError, match="Pretrained"):
        apply_init_cfg(model, {"type": "Pretrained", "checkpoint": "x.pth"})


@pytest.mark.parametrize("layout", ["nchw", "channels_last", "channels_last slices"])
@pytest.mark.parametrize("groups", [2, 3])
def test_shuffles_interleave_and_keep_the_memory_format(layout: str, groups: int) -> None:
    fmt = torch.contiguous_format if layout == "nchw" else torch.channels_last
    parts = torch.randn(2, 6 * groups, 5, 4).contiguous(memory_format=fmt).chunk(groups, dim=1)
    if layout != "channels_last slices":
        parts = tuple(p.contiguous(memory_format=fmt) for p in parts)
    expected = torch.stack(parts, dim=2).flatten(1, 2)  # channel k * groups + j is channel k of part j
    for out in (channel_shuffle(torch.cat(parts, dim=1).contiguous(memory_format=fmt), groups), cat_shuffle(*parts)):
        assert torch.equal(out, expected)
        assert out.is_contiguous(memory_format=fmt)
    uneven = (torch.randn(1, 2, 3, 3), torch.randn(1, 4, 3, 3))  # unequal widths: the plain cat and shuffle
    assert torch.equal(cat_shuffle(*uneven), channel_shuffle(torch.cat(uneven, dim=1), 2))
