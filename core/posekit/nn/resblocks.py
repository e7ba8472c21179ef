"""ResNet residual blocks (MMPose's ``BasicBlock`` and ``Bottleneck``), shared by ResNet and HRNet.

State_dict keys match MMPose's: ``conv1``, ``bn1``, ``conv2``, ``bn2`` (``conv3``, ``bn3``) and
``downsample.0`` / ``downsample.1`` (the norm name follows ``norm_cfg``: ``gn1`` for GroupNorm).
Modules are registered in data order so :func:`posekit.nn.fuse_conv_bn` folds them correctly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch.utils.checkpoint as cp
from torch import Tensor, nn

from posekit.nn.bricks import build_norm_layer
from posekit.nn.configs import NormConfig
from posekit.nn.init import constant_init

Style = Literal["pytorch", "caffe"]
_BN = NormConfig(type="BN")


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity shortcut: ``(B, in_channels, H, W) -> (B, out_channels, H/s, W/s)``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        expansion: out_channels / mid_channels; always 1. Default 1.
        stride: stride of the first conv. Default 1.
        dilation: dilation of the first conv. Default 1.
        downsample: shortcut projection when shape changes; default None (identity).
        style: unused (kept for the Bottleneck-compatible signature). Default ``pytorch``.
        with_cp: recompute activations in backward (torch.utils.checkpoint) to save memory. Default False.
        norm_cfg: norm layer config. Default BN.
    """

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expansion: int = 1,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        style: Style = "pytorch",
        with_cp: bool = False,
        norm_cfg: NormConfig | Mapping[str, Any] = _BN,
    ) -> None:
        super().__init__()
        if expansion != 1:
            raise ValueError(f"BasicBlock expansion must be 1, got {expansion}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.mid_channels = out_channels
        self.stride = stride
        self.with_cp = with_cp
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, out_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, out_channels, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    def _residual(self, x: Tensor) -> Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        out += x if self.downsample is None else self.downsample(x)  # in place: a norm's output, not saved
        return out

    def forward(self, x: Tensor) -> Tensor:
        if self.with_cp and x.requires_grad:
            return self.relu(cp.checkpoint(self._residual, x, use_reentrant=False))
        return self.relu(self._residual(x))


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 convs with a shortcut: ``(B, in_channels, H, W) -> (B, out_channels, H/s, W/s)``.

    Args:
        in_channels: input channels.
        out_channels: output channels (``expansion`` x the 3x3 conv's channels).
        expansion: out_channels / mid_channels. Default 4.
        stride: block stride, on the 3x3 conv (``pytorch`` style) or the first 1x1 (``caffe``). Default 1.
        dilation: dilation of the 3x3 conv. Default 1.
        downsample: shortcut projection when shape changes; default None (identity).
        style: where the stride goes, ``pytorch`` (default) or ``caffe``.
        with_cp: recompute activations in backward to save memory. Default False.
        norm_cfg: norm layer config. Default BN.
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expansion: int = 4,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        style: Style = "pytorch",
        with_cp: bool = False,
        norm_cfg: NormConfig | Mapping[str, Any] = _BN,
    ) -> None:
        super().__init__()
        if out_channels % expansion:
            raise ValueError(f"Bottleneck out_channels ({out_channels}) must be a multiple of expansion ({expansion})")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.mid_channels = mid = out_channels // expansion
        self.stride = stride
        self.with_cp = with_cp
        stride1, stride2 = (1, stride) if style == "pytorch" else (stride, 1)
        self.conv1 = nn.Conv2d(in_channels, mid, 1, stride1, bias=False)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, mid, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride2, padding=dilation, dilation=dilation, bias=False)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, mid, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.conv3 = nn.Conv2d(mid, out_channels, 1, bias=False)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, out_channels, postfix=3)
        self.add_module(self.norm3_name, norm3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    @property
    def norm3(self) -> nn.Module:
        return getattr(self, self.norm3_name)

    def _residual(self, x: Tensor) -> Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.relu(self.norm2(self.conv2(out)))
        out = self.norm3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)  # in place: a norm's output, not saved
        return out

    def forward(self, x: Tensor) -> Tensor:
        if self.with_cp and x.requires_grad:
            return self.relu(cp.checkpoint(self._residual, x, use_reentrant=False))
        return self.relu(self._residual(x))


def get_expansion(block: type[nn.Module], expansion: int | None = None) -> int:
    """``expansion`` if given, else the block class's own (1 for BasicBlock, 4 for Bottleneck)."""
    if expansion is not None:
        if expansion <= 0:
            raise ValueError(f"expansion must be a positive int, got {expansion}")
        return expansion
    return int(block.expansion)  # type: ignore[attr-defined]


def conv_norm(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int,
    norm_cfg: NormConfig | Mapping[str, Any],
    relu: bool = False,
) -> nn.Sequential:
    """``Sequential(conv (no bias), norm[, ReLU])`` keyed ``0``, ``1``[, ``2``], MMPose's shortcut/transition layout."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=(kernel_size - 1) // 2, bias=False),
        build_norm_layer(norm_cfg, out_channels)[1],
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def zero_init_last_norms(module: nn.Module) -> None:
    """Zero the last norm of each residual block in ``module`` (``zero_init_residual``): blocks start as identities."""
    for m in module.modules():
        if isinstance(m, Bottleneck):
            constant_init(m.norm3, 0.0)
        elif isinstance(m, BasicBlock):
            constant_init(m.norm2, 0.0)
