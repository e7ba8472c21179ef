"""CSPDarknet backbone (YOLOv5 / YOLOX), as mmdet's ``mmdet/models/backbones/csp_darknet.py``.

Input ``(B, 3, H, W)``. A Focus stem (space-to-depth, then a 3x3 ConvModule), then 4 (P5) or 5 (P6)
stages, each a strided 3x3 conv, [an SPP bottleneck in the last stage] and a CSP layer of Darknet
bottlenecks (1x1 conv, 3x3 conv). Layer ``i`` of ``("stem", "stage1", ...)`` outputs
``(B, C_i, H / 2**(i+1), W / 2**(i+1))`` with ``C = (64, 128, 256, 512, 1024) * widen_factor`` (P5).
YOLOX-s / RTMO-s use ``deepen_factor=0.33, widen_factor=0.5``. State_dict keys equal mmdet's
(``stem.conv.conv.weight``, ``stage1.1.blocks.0.conv2.bn.running_mean``, ...).
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
        (128, 256, 9, True, False),
        (256, 512, 9, True, False),
        (512, 1024, 3, False, True),
    ),
    "P6": (
        (64, 128, 3, True, False),
        (128, 256, 9, True, False),
        (256, 512, 9, True, False),
        (512, 768, 3, True, False),
        (768, 1024, 3, False, True),
    ),
}
YOLOX_BN = NormConfig(type="BN", momentum=0.03, eps=0.001)


class Focus(nn.Module):
    """Space-to-depth then a ConvModule: ``(B, C, H, W)`` -> ``(B, out, H/2, W/2)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, norm_cfg: NormConfig, act_cfg: ActConfig):
        super().__init__()
        pad = (kernel_size - 1) // 2
        self.conv = ConvModule(
            in_channels * 4, out_channels, kernel_size, padding=pad, norm_cfg=norm_cfg, act_cfg=act_cfg
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(torch.cat((x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]), dim=1))


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


class DarknetBottleneck(nn.Module):
    """1x1 ConvModule to ``out * expansion`` channels, 3x3 conv back to ``out``, plus identity when shapes allow."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expansion: float,
        add_identity: bool,
        use_depthwise: bool,
        norm_cfg: NormConfig,
        act_cfg: ActConfig,
    ) -> None:
        super().__init__()
        hidden = int(out_channels * expansion)
        conv = DepthwiseSeparableConvModule if use_depthwise else ConvModule
        self.conv1 = ConvModule(in_channels, hidden, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv2 = conv(hidden, out_channels, 3, stride=1, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.add_identity = add_identity and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(self.conv1(x))
        return out + x if self.add_identity else out


class CSPLayer(nn.Module):
    """Cross-stage-partial layer of Darknet bottlenecks: ``final_conv(cat(blocks(main_conv(x)), short_conv(x)))``.

    ``(B, in_channels, H, W)`` -> ``(B, out_channels, H, W)``; mmdet's keys ``main_conv``, ``short_conv``,
    ``final_conv``, ``blocks.<i>``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_blocks: int,
        add_identity: bool,
        use_depthwise: bool,
        norm_cfg: NormConfig,
        act_cfg: ActConfig,
        expand_ratio: float = 0.5,
    ) -> None:
        super().__init__()
        mid = int(out_channels * expand_ratio)
        self.main_conv = ConvModule(in_channels, mid, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.short_conv = ConvModule(in_channels, mid, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.final_conv = ConvModule(2 * mid, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.blocks = nn.Sequential(
            *(
                DarknetBottleneck(mid, mid, 1.0, add_identity, use_depthwise, norm_cfg, act_cfg)
                for _ in range(num_blocks)
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.final_conv(torch.cat((self.blocks(self.main_conv(x)), self.short_conv(x)), dim=1))


class CSPDarknet(FrozenStagesMixin, BaseBackbone):
    """CSP-Darknet of YOLOv5 / YOLOX (`YOLOX <https://arxiv.org/abs/2107.08430>`__), used by RTMO and YOLOX-Pose.

    Args:
        arch: ``P5`` (4 stages, stride 32) or ``P6`` (5 stages, stride 64). Default P5.
        deepen_factor: multiplies the CSP blocks per stage (rounded, at least 1). Default 1.0.
        widen_factor: multiplies every channel count. Default 1.0.
        out_indices: layers to return, 0 = stem, 1.. = stages. Default (2, 3, 4).
        frozen_stages: freeze the stem and stages 1..n (eval mode, no grad); -1 freezes nothing. Default -1.
        use_depthwise: depthwise-separable strided and bottleneck 3x3 convs. Default False.
        arch_ovewrite: replaces the arch table, rows (in, out, blocks, add_identity, use_spp) (mmdet's
            spelling). Default None.
        spp_kernal_sizes: max-pool kernels of the SPP bottleneck (mmdet's spelling). Default (5, 9, 13).
        norm_cfg: norm layer config. Default ``dict(type='BN', momentum=0.03, eps=0.001)``.
        act_cfg: activation config. Default ``dict(type='Swish')``.
        norm_eval: keep BatchNorm layers in eval mode while training. Default False.
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=...)``; default None (mmdet's init:
            Kaiming-uniform convs with a=sqrt(5), fan_in; unit norms).
    """

    example_config = {"deepen_factor": 0.33, "widen_factor": 0.125}  # posekit plugins --check

    def __init__(
        self,
        arch: Literal["P5", "P6"] = "P5",
        deepen_factor: float = 1.0,
        widen_factor: float = 1.0,
        out_indices: tuple[int, ...] = (2, 3, 4),
        frozen_stages: int = -1,
        use_depthwise: bool = False,
        arch_ovewrite: tuple[StageSetting, ...] | None = None,
        spp_kernal_sizes: tuple[int, ...] = (5, 9, 13),
        norm_cfg: NormConfig = YOLOX_BN,
        act_cfg: ActConfig = ActConfig(type="Swish"),
        norm_eval: bool = False,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        super().__init__()
        setting = tuple(arch_ovewrite) if arch_ovewrite else ARCH_SETTINGS[arch]
        num_layers = len(setting) + 1
        if not out_indices or not all(0 <= i < num_layers for i in out_indices):
            raise ConfigError(
                f"CSPDarknet: out_indices {tuple(out_indices)} must be layer indices in [0, {num_layers})"
            )
        if not -1 <= frozen_stages < num_layers:
            raise ConfigError(f"CSPDarknet: frozen_stages must be in [-1, {num_layers - 1}], got {frozen_stages}")
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.init_cfg = init_cfg
        self.stem = Focus(3, int(setting[0][0] * widen_factor), 3, norm_cfg, act_cfg)
        self.layers = ["stem"]
        conv = DepthwiseSeparableConvModule if use_depthwise else ConvModule
        for i, (in_ch, out_ch, num_blocks, add_identity, use_spp) in enumerate(setting):
            in_ch, out_ch = int(in_ch * widen_factor), int(out_ch * widen_factor)
            stage: list[nn.Module] = [conv(in_ch, out_ch, 3, stride=2, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)]
            if use_spp:
                stage.append(SPPBottleneck(out_ch, out_ch, tuple(spp_kernal_sizes), norm_cfg, act_cfg))
            blocks = max(round(num_blocks * deepen_factor), 1)
            stage.append(CSPLayer(out_ch, out_ch, blocks, add_identity, use_depthwise, norm_cfg, act_cfg))
            self.add_module(f"stage{i + 1}", nn.Sequential(*stage))
            self.layers.append(f"stage{i + 1}")
        self.init_weights()
        self.freeze_stages()

    def init_weights(self) -> None:
        """mmdet's default (PyTorch-style Kaiming-uniform convs, unit norms), or ``init_cfg``."""
        conv_init = functools.partial(
            kaiming_init, a=math.sqrt(5), mode="fan_in", nonlinearity="leaky_relu", distribution="uniform"
        )
        init_backbone(self, conv_init, self.init_cfg)

    def frozen_modules(self) -> list[nn.Module]:
        """The stem and stages 1 .. ``frozen_stages``."""
        return [getattr(self, name) for name in self.layers[: self.frozen_stages + 1]]

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``(B, 3, H, W)`` -> tuple of the ``out_indices`` layer outputs (default strides 8, 16, 32)."""
        outs = []
        for i, name in enumerate(self.layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
