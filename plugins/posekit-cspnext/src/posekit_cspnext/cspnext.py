"""CSPNeXt backbone (RTMDet / RTMPose), as mmdet's ``mmdet/models/backbones/cspnext.py``.

Input ``(B, 3, H, W)``. A stride-2 stem of three 3x3 ConvModules, then 4 (P5) or 5 (P6) stages,
each a strided 3x3 ConvModule, [an SPP bottleneck in the last stage], and a CSP layer of
CSPNeXt blocks (3x3 conv, then a 5x5 depthwise-separable conv). Layer ``i`` of
``("stem", "stage1", ...)`` outputs ``(B, C_i, H / 2**(i+1), W / 2**(i+1))`` with
``C = (64, 128, 256, 512, 1024) * widen_factor // (2, 1, 1, 1, 1)`` (P5). RTMPose-t/s/m/l are
``deepen_factor`` / ``widen_factor`` pairs (0.167/0.375, 0.33/0.5, 0.67/0.75, 1.0/1.0).
State_dict keys equal mmdet's (``stem.0.conv.weight``, ``stage1.1.blocks.0.conv2.depthwise_conv``, ...).
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import torch
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import (
    ActConfig,
    ConvModule,
    DepthwiseSeparableConvModule,
    FrozenStagesMixin,
    NormConfig,
    PretrainedInit,
    init_backbone,
    kaiming_init,
)
from posekit.protocols import BaseBackbone

#: per stage: in_channels, out_channels, num_blocks, add_identity, use_spp (before widen/deepen)
StageSetting = tuple[int, int, int, bool, bool]
ARCH_SETTINGS: dict[str, tuple[StageSetting, ...]] = {
    "P5": (
        (64, 128, 3, True, False),
        (128, 256, 6, True, False),
        (256, 512, 6, True, False),
        (512, 1024, 3, False, True),
    ),
    "P6": (
        (64, 128, 3, True, False),
        (128, 256, 6, True, False),
        (256, 512, 6, True, False),
        (512, 768, 3, True, False),
        (768, 1024, 3, False, True),
    ),
}


class ChannelAttention(nn.Module):
    """Squeeze-excitation style gate: ``x * hardsigmoid(fc(mean_hw(x)))``; ``(B, C, H, W)`` in and out."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(channels, channels, 1, bias=True)
        self.act = nn.Hardsigmoid(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.act(self.fc(self.global_avgpool(x)))


class SPPBottleneck(nn.Module):
    """Spatial pyramid pooling: 1x1 conv to C/2, concat with stride-1 max-pools of each kernel size, 1x1 conv out."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_sizes: tuple[int, ...],
        norm_cfg: NormConfig,
        act_cfg: ActConfig,
    ) -> None:
        super().__init__()
        mid = in_channels // 2
        self.conv1 = ConvModule(in_channels, mid, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.poolings = nn.ModuleList(nn.MaxPool2d(k, stride=1, padding=k // 2) for k in kernel_sizes)
        self.conv2 = ConvModule(mid * (len(kernel_sizes) + 1), out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x, *(pool(x) for pool in self.poolings)], dim=1))


class CSPNeXtBlock(nn.Module):
    """3x3 ConvModule then a ``kernel_size`` depthwise-separable ConvModule, plus identity when shapes allow."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        add_identity: bool,
        use_depthwise: bool,
        norm_cfg: NormConfig,
        act_cfg: ActConfig,
        expansion: float = 1.0,
        kernel_size: int = 5,
    ) -> None:
        super().__init__()
        hidden = int(out_channels * expansion)
        conv = DepthwiseSeparableConvModule if use_depthwise else ConvModule
        self.conv1 = conv(in_channels, hidden, 3, stride=1, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv2 = DepthwiseSeparableConvModule(
            hidden, out_channels, kernel_size, stride=1, padding=kernel_size // 2, norm_cfg=norm_cfg, act_cfg=act_cfg
        )
        self.add_identity = add_identity and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(self.conv1(x))
        return out + x if self.add_identity else out


class CSPLayer(nn.Module):
    """Cross-stage-partial layer: ``final_conv(attention(cat(blocks(main_conv(x)), short_conv(x))))``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expand_ratio: float,
        num_blocks: int,
        add_identity: bool,
        use_depthwise: bool,
        channel_attention: bool,
        norm_cfg: NormConfig,
        act_cfg: ActConfig,
    ) -> None:
        super().__init__()
        mid = int(out_channels * expand_ratio)
        self.main_conv = ConvModule(in_channels, mid, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.short_conv = ConvModule(in_channels, mid, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.final_conv = ConvModule(2 * mid, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.blocks = nn.Sequential(
            *(CSPNeXtBlock(mid, mid, add_identity, use_depthwise, norm_cfg, act_cfg) for _ in range(num_blocks))
        )
        self.attention = ChannelAttention(2 * mid) if channel_attention else None

    def forward(self, x: Tensor) -> Tensor:
        x_final = torch.cat((self.blocks(self.main_conv(x)), self.short_conv(x)), dim=1)
        if self.attention is not None:
            x_final = self.attention(x_final)
        return self.final_conv(x_final)


class CSPNeXt(FrozenStagesMixin, BaseBackbone):
    """CSPNeXt backbone of RTMDet (`RTMDet <https://arxiv.org/abs/2212.07784>`__), used by RTMPose.

    Args:
        arch: ``P5`` (4 stages, stride 32) or ``P6`` (5 stages, stride 64). Default P5.
        deepen_factor: multiplies the CSP blocks per stage (rounded, at least 1). Default 1.0.
        widen_factor: multiplies every channel count. Default 1.0.
        out_indices: layers to return, 0 = stem, 1.. = stages. Default (2, 3, 4).
        frozen_stages: freeze the stem and stages 1..n (eval mode, no grad); -1 freezes nothing. Default -1.
        use_depthwise: depthwise-separable convs for the strided and block 3x3 convs. Default False.
        expand_ratio: CSP hidden channels / out channels. Default 0.5.
        arch_ovewrite: replaces the arch table, rows (in, out, blocks, add_identity, use_spp) (mmdet's
            spelling). Default None.
        spp_kernal_sizes: max-pool kernels of the SPP bottleneck (mmdet's spelling). Default (5, 9, 13).
        channel_attention: a channel-attention gate in every CSP layer. Default True.
        norm_cfg: norm layer config. Default ``dict(type='BN', momentum=0.03, eps=0.001)``.
        act_cfg: activation config. Default ``dict(type='SiLU')``.
        norm_eval: keep BatchNorm layers in eval mode (frozen statistics) while training. Default False.
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=...)`` to load weights; default None
            (mmdet's init: Kaiming-uniform convs with a=sqrt(5), fan_in, zero biases; unit norms).
    """

    example_config = {
        "deepen_factor": 0.167,
        "widen_factor": 0.125,
    }  # posekit plugins --check

    def __init__(
        self,
        arch: Literal["P5", "P6"] = "P5",
        deepen_factor: float = 1.0,
        widen_factor: float = 1.0,
        out_indices: tuple[int, ...] = (2, 3, 4),
        frozen_stages: int = -1,
        use_depthwise: bool = False,
        expand_ratio: float = 0.5,
        arch_ovewrite: tuple[StageSetting, ...] | None = None,
        spp_kernal_sizes: tuple[int, ...] = (5, 9, 13),
        channel_attention: bool = True,
        norm_cfg: NormConfig = NormConfig(type="BN", momentum=0.03, eps=0.001),
        act_cfg: ActConfig = ActConfig(type="SiLU"),
        norm_eval: bool = False,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        super().__init__()
        setting = tuple(arch_ovewrite) if arch_ovewrite else ARCH_SETTINGS[arch]
        num_layers = len(setting) + 1
        if not out_indices or not all(0 <= i < num_layers for i in out_indices):
            raise ConfigError(f"CSPNeXt: out_indices {tuple(out_indices)} must be layer indices in [0, {num_layers})")
        if not -1 <= frozen_stages < num_layers:
            raise ConfigError(f"CSPNeXt: frozen_stages must be in [-1, {num_layers - 1}], got {frozen_stages}")
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.init_cfg = init_cfg

        stem_out = int(setting[0][0] * widen_factor)
        half = int(setting[0][0] * widen_factor // 2)
        self.stem = nn.Sequential(
            ConvModule(3, half, 3, stride=2, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg),
            ConvModule(half, half, 3, stride=1, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg),
            ConvModule(half, stem_out, 3, stride=1, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg),
        )
        self.layers = ["stem"]
        conv = DepthwiseSeparableConvModule if use_depthwise else ConvModule
        for i, (in_ch, out_ch, num_blocks, add_identity, use_spp) in enumerate(setting):
            in_ch, out_ch = int(in_ch * widen_factor), int(out_ch * widen_factor)
            stage: list[nn.Module] = [conv(in_ch, out_ch, 3, stride=2, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)]
            if use_spp:
                stage.append(SPPBottleneck(out_ch, out_ch, tuple(spp_kernal_sizes), norm_cfg, act_cfg))
            stage.append(
                CSPLayer(
                    out_ch,
                    out_ch,
                    expand_ratio,
                    max(round(num_blocks * deepen_factor), 1),
                    add_identity,
                    use_depthwise,
                    channel_attention,
                    norm_cfg,
                    act_cfg,
                )
            )
            self.add_module(f"stage{i + 1}", nn.Sequential(*stage))
            self.layers.append(f"stage{i + 1}")

        self.init_weights()
        self.freeze_stages()

    def init_weights(self) -> None:
        """mmdet's default (PyTorch-style Kaiming-uniform convs, zero biases, unit norms), or ``init_cfg``."""
        conv_init = functools.partial(
            kaiming_init, a=math.sqrt(5), mode="fan_in", nonlinearity="leaky_relu", distribution="uniform"
        )
        init_backbone(self, conv_init, self.init_cfg)

    def frozen_modules(self) -> list[nn.Module]:
        """The stem and stages 1 .. ``frozen_stages``."""
        return [getattr(self, name) for name in self.layers[: self.frozen_stages + 1]]

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``(B, 3, H, W)`` -> tuple of the ``out_indices`` layer outputs (RTMPose: ``(B, C4, H/32, W/32)``)."""
        outs = []
        for i, name in enumerate(self.layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
