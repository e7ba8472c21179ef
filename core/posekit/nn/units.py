"""Units several backbone families share, with MMPose's module names (so its state_dict keys carry over).

Lite-HRNet's ``SpatialWeighting`` is :class:`SELayer`; its naive branches are :class:`ShuffleUnit`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
import torch.utils.checkpoint as cp
from torch import Tensor, nn

from posekit.nn.bricks import ConvModule
from posekit.nn.configs import ActConfig, NormConfig

_BN = NormConfig(type="BN")
_RELU = ActConfig(type="ReLU")
_SE_ACTS: tuple[ActConfig, ActConfig] = (ActConfig(type="ReLU"), ActConfig(type="Sigmoid"))


def _is_channels_last(x: Tensor) -> bool:
    """Channels vary fastest in memory (channels_last, or a channel slice of it)."""
    return x.stride(1) < x.stride(3)


_Out = TypeVar("_Out")


def run_block(fn: Callable[..., _Out], *inputs: Tensor, with_cp: bool) -> _Out:
    """``fn(*inputs)``, with gradient checkpointing when ``with_cp`` and the first input needs gradients."""
    if with_cp and inputs[0].requires_grad:
        return cp.checkpoint(fn, *inputs, use_reentrant=False)
    return fn(*inputs)


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave the channels of ``x (B, C, H, W)`` across ``groups`` (C divisible by ``groups``).

    The output keeps ``x``'s memory format (a channels_last input stays channels_last, so the convs
    after it need no reorder)."""
    b, c, h, w = x.shape
    if _is_channels_last(x):
        nhwc = x.permute(0, 2, 3, 1).reshape(b, h, w, groups, c // groups)
        return nhwc.transpose(3, 4).reshape(b, h, w, c).permute(0, 3, 1, 2)
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def cat_shuffle(*parts: Tensor) -> Tensor:
    """``channel_shuffle(torch.cat(parts, 1), len(parts))`` written in one copy: channel ``k * n + j`` of
    the output is channel ``k`` of ``parts[j]``. Parts ``(B, C, H, W)`` of equal shape (else the plain
    cat and shuffle) -> ``(B, n * C, H, W)``, channels_last when the last part is."""
    n = len(parts)
    b, c, h, w = parts[-1].shape
    if any(p.shape != parts[-1].shape for p in parts):
        return channel_shuffle(torch.cat(parts, dim=1), n)
    if _is_channels_last(parts[-1]):
        return torch.stack([p.permute(0, 2, 3, 1) for p in parts], dim=4).reshape(b, h, w, n * c).permute(0, 3, 1, 2)
    return torch.stack(parts, dim=2).reshape(b, n * c, h, w)


class SELayer(nn.Module):
    """Squeeze-and-excitation: ``x * act2(conv2(act1(conv1(avgpool(x)))))``, ``(B, C, H, W)`` in and out.

    Keys: ``conv1.conv.*``, ``conv2.conv.*`` (1x1 convs with bias, ``C -> int(C / ratio) -> C``).
    """

    def __init__(
        self,
        channels: int,
        ratio: float = 16,
        act_cfg: tuple[ActConfig | Mapping[str, Any], ActConfig | Mapping[str, Any]] = _SE_ACTS,
    ) -> None:
        super().__init__()
        inner = int(channels / ratio)
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = ConvModule(channels, inner, 1, act_cfg=act_cfg[0])
        self.conv2 = ConvModule(inner, channels, 1, act_cfg=act_cfg[1])

    def forward(self, x: Tensor) -> Tensor:
        return x * self.conv2(self.conv1(self.global_avgpool(x)))


class ShuffleUnit(nn.Module):
    """ShuffleNetV2 unit: with stride 1, half the channels pass through and half go through ``branch2``;
    with stride 2, ``branch1`` and ``branch2`` both see the input. Outputs are concatenated and shuffled.
    ``(B, in_channels, H, W)`` -> ``(B, out_channels, H/s, W/s)``; ``out_channels`` is even, and equals
    ``in_channels`` with stride 1.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        norm_cfg: NormConfig | Mapping[str, Any] = _BN,
        act_cfg: ActConfig | Mapping[str, Any] = _RELU,
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        self.stride = stride
        self.with_cp = with_cp
        half = out_channels // 2
        if stride == 1 and in_channels != 2 * half:
            raise ValueError(f"ShuffleUnit: with stride 1, in_channels ({in_channels}) must be {2 * half}")
        if stride > 1:
            self.branch1 = nn.Sequential(
                ConvModule(in_channels, in_channels, 3, stride, 1, groups=in_channels, norm_cfg=norm_cfg, act_cfg=None),
                ConvModule(in_channels, half, 1, norm_cfg=norm_cfg, act_cfg=act_cfg),
            )
        self.branch2 = nn.Sequential(
            ConvModule(in_channels if stride > 1 else half, half, 1, norm_cfg=norm_cfg, act_cfg=act_cfg),
            ConvModule(half, half, 3, stride, 1, groups=half, norm_cfg=norm_cfg, act_cfg=None),
            ConvModule(half, half, 1, norm_cfg=norm_cfg, act_cfg=act_cfg),
        )

    def _forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            return cat_shuffle(self.branch1(x), self.branch2(x))
        kept, branch = x.chunk(2, dim=1)
        return cat_shuffle(kept, self.branch2(branch))

    def forward(self, x: Tensor) -> Tensor:
        return run_block(self._forward, x, with_cp=self.with_cp)
