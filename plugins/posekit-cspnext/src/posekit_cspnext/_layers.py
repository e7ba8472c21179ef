"""The CSP family's shared bricks, as mmdet's ``mmdet/models/layers/csp_layer.py`` and its backbones'.

One :class:`CSPLayer` serves CSPNeXt (CSPNeXt blocks, channel attention) and CSP-Darknet / YOLOX
(Darknet bottlenecks); :class:`CSPBackbone` holds what the CSPNeXt and CSPDarknet backbones share
(stages of a strided conv, an SPP bottleneck in the last one, a CSP layer); :class:`PAFPN` the
top-down and bottom-up paths of CSPNeXtPAFPN and YOLOXPAFPN. Dimensions: ``(B, C, H, W)``.
State_dict keys are mmdet's (``main_conv``, ``short_conv``, ``final_conv``, ``blocks.<i>``, ``attention.fc``;
``stem``, ``stage<i>``; ``reduce_layers``, ``top_down_blocks``, ``downsamples``, ``bottom_up_blocks``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict
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
    run_stages,
)
from posekit.protocols import BaseBackbone, BaseNeck

#: per stage: in_channels, out_channels, num_blocks, add_identity, use_spp (before widen/deepen)
StageSetting = tuple[int, int, int, bool, bool]

#: the family's default norm layer (mmdet's ``dict(type='BN', momentum=0.03, eps=0.001)``)
CSP_BN = NormConfig(type="BN", momentum=0.03, eps=0.001)

#: mmdet's default conv init of the CSP family: PyTorch-style Kaiming-uniform (a=sqrt(5), fan_in)
conv_init = functools.partial(
    kaiming_init, a=math.sqrt(5), mode="fan_in", nonlinearity="leaky_relu", distribution="uniform"
)


def arch_settings(middle_blocks: int) -> dict[str, tuple[StageSetting, ...]]:
    """mmdet's ``P5`` / ``P6`` stage tables, with ``middle_blocks`` blocks in stages 2 and 3 (CSPNeXt 6, Darknet 9)."""
    first, last = (64, 128, 3, True, False), (512, 1024, 3, False, True)
    middle = ((128, 256, middle_blocks, True, False), (256, 512, middle_blocks, True, False))
    p6 = (*middle, (512, 768, 3, True, False), (768, 1024, 3, False, True))
    return {"P5": (first, *middle, last), "P6": (first, *p6)}


def conv_type(use_depthwise: bool) -> type[nn.Module]:
    """``DepthwiseSeparableConvModule`` when ``use_depthwise``, else ``ConvModule``."""
    return DepthwiseSeparableConvModule if use_depthwise else ConvModule


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


class CSPBlock(nn.Module):
    """``conv2(conv1(x))`` plus identity when shapes allow: a CSPNeXt block or a Darknet bottleneck.

    CSPNeXt (``cspnext=True``): a 3x3 conv (depthwise-separable with ``use_depthwise``), then a 5x5
    depthwise-separable conv. Darknet: a 1x1 ConvModule, then a 3x3 conv (depthwise-separable with
    ``use_depthwise``). Hidden channels: ``out_channels * expansion``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        add_identity: bool,
        use_depthwise: bool,
        norm_cfg: NormConfig,
        act_cfg: ActConfig,
        cspnext: bool,
        expansion: float = 1.0,
    ) -> None:
        super().__init__()
        hidden = int(out_channels * expansion)
        conv = conv_type(use_depthwise)
        if cspnext:
            self.conv1 = conv(in_channels, hidden, 3, stride=1, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
            self.conv2 = DepthwiseSeparableConvModule(
                hidden, out_channels, 5, stride=1, padding=2, norm_cfg=norm_cfg, act_cfg=act_cfg
            )
        else:
            self.conv1 = ConvModule(in_channels, hidden, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
            self.conv2 = conv(hidden, out_channels, 3, stride=1, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.add_identity = add_identity and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(self.conv1(x))
        return out + x if self.add_identity else out


class CSPLayer(nn.Module):
    """Cross-stage-partial layer: ``final_conv(attention(cat(blocks(main_conv(x)), short_conv(x))))``.

    ``(B, in_channels, H, W)`` -> ``(B, out_channels, H, W)``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        num_blocks: CSP blocks.
        add_identity: residual connections in the blocks.
        use_depthwise: depthwise-separable 3x3 convs in the blocks.
        norm_cfg: norm layer config.
        act_cfg: activation config.
        expand_ratio: hidden channels / ``out_channels``. Default 0.5.
        cspnext: CSPNeXt blocks (True) or Darknet bottlenecks (False). Default False.
        channel_attention: a :class:`ChannelAttention` gate before ``final_conv``. Default False.
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
        cspnext: bool = False,
        channel_attention: bool = False,
    ) -> None:
        super().__init__()
        mid = int(out_channels * expand_ratio)
        self.main_conv = ConvModule(in_channels, mid, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.short_conv = ConvModule(in_channels, mid, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.final_conv = ConvModule(2 * mid, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.blocks = nn.Sequential(
            *(CSPBlock(mid, mid, add_identity, use_depthwise, norm_cfg, act_cfg, cspnext) for _ in range(num_blocks))
        )
        self.attention = ChannelAttention(2 * mid) if channel_attention else None

    def forward(self, x: Tensor) -> Tensor:
        x_final = torch.cat((self.blocks(self.main_conv(x)), self.short_conv(x)), dim=1)
        if self.attention is not None:
            x_final = self.attention(x_final)
        return self.final_conv(x_final)


class CSPBackbone(FrozenStagesMixin, BaseBackbone):
    """A stem then stages ``stage<i>`` of a strided 3x3 conv, [an SPP bottleneck], a CSP layer.

    Layer ``i`` of ``("stem", "stage1", ...)`` outputs ``(B, C_i, H / 2**(i+1), W / 2**(i+1))``.
    Subclasses build their stem, then call :meth:`build_stages` with their CSP layer.

    Arguments of both subclasses (their own ``Args`` name the others):
        arch: ``P5`` (4 stages, stride 32) or ``P6`` (5 stages, stride 64). Default P5.
        deepen_factor: multiplies the CSP blocks per stage (rounded, at least 1). Default 1.0.
        widen_factor: multiplies every channel count. Default 1.0.
        out_indices: layers to return, 0 = stem, 1.. = stages. Default (2, 3, 4).
        frozen_stages: freeze the stem and stages 1..n (eval mode, no grad); -1 freezes nothing. Default -1.
        arch_ovewrite: replaces the arch table, rows (in, out, blocks, add_identity, use_spp) (mmdet's
            spelling). Default None.
        spp_kernal_sizes: max-pool kernels of the SPP bottleneck (mmdet's spelling). Default (5, 9, 13).
        norm_cfg: norm layer config. Default ``dict(type='BN', momentum=0.03, eps=0.001)``.
    """

    def check_layers(
        self,
        setting: Sequence[StageSetting],
        out_indices: tuple[int, ...],
        frozen_stages: int,
        norm_eval: bool,
        init_cfg: PretrainedInit | None,
    ) -> None:
        """Validate ``out_indices`` / ``frozen_stages`` against the ``len(setting) + 1`` layers and keep them."""
        name = type(self).__name__
        num_layers = len(setting) + 1
        if not out_indices or not all(0 <= i < num_layers for i in out_indices):
            raise ConfigError(f"{name}: out_indices {tuple(out_indices)} must be layer indices in [0, {num_layers})")
        if not -1 <= frozen_stages < num_layers:
            raise ConfigError(f"{name}: frozen_stages must be in [-1, {num_layers - 1}], got {frozen_stages}")
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.init_cfg = init_cfg

    def build_stages(
        self,
        setting: Sequence[StageSetting],
        widen_factor: float,
        deepen_factor: float,
        use_depthwise: bool,
        spp_kernel_sizes: tuple[int, ...],
        norm_cfg: NormConfig,
        act_cfg: ActConfig,
        **csp: Any,
    ) -> None:
        """Add ``stage1 ..`` after the stem, each CSP layer with :class:`CSPLayer`'s keyword arguments ``csp``.

        Then initializes the weights (mmdet's default or ``init_cfg``) and freezes ``frozen_stages``.
        """
        self.layers = ["stem"]
        conv = conv_type(use_depthwise)
        for i, (in_ch, out_ch, num_blocks, add_identity, use_spp) in enumerate(setting):
            in_ch, out_ch = int(in_ch * widen_factor), int(out_ch * widen_factor)
            stage: list[nn.Module] = [conv(in_ch, out_ch, 3, stride=2, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)]
            if use_spp:
                stage.append(SPPBottleneck(out_ch, out_ch, tuple(spp_kernel_sizes), norm_cfg, act_cfg))
            blocks = max(round(num_blocks * deepen_factor), 1)
            stage.append(CSPLayer(out_ch, out_ch, blocks, add_identity, use_depthwise, norm_cfg, act_cfg, **csp))
            self.add_module(f"stage{i + 1}", nn.Sequential(*stage))
            self.layers.append(f"stage{i + 1}")
        self.init_weights()
        self.freeze_stages()

    def init_weights(self) -> None:
        """mmdet's default (PyTorch-style Kaiming-uniform convs, zero biases, unit norms), or ``init_cfg``."""
        init_backbone(self, conv_init, self.init_cfg)

    def frozen_modules(self) -> list[nn.Module]:
        """The stem and stages 1 .. ``frozen_stages``."""
        return [getattr(self, name) for name in self.layers[: self.frozen_stages + 1]]

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``(B, 3, H, W)`` -> tuple of the ``out_indices`` layer outputs (default strides 8, 16, 32)."""
        return run_stages(x, (getattr(self, name) for name in self.layers), self.out_indices)


class UpsampleConfig(BaseModel):
    """``nn.Upsample`` of a PAFPN's top-down path: ``scale_factor`` and ``mode`` (MMPose's ``upsample_cfg``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    scale_factor: float = 2.0
    mode: Literal["nearest", "bilinear", "bicubic"] = "nearest"


class PAFPN(BaseNeck):
    """The path aggregation of CSPNeXtPAFPN and YOLOXPAFPN: ``L`` maps ``(B, C_i, H_i, W_i)``, finest first.

    Top-down: 1x1 reduce, upsample, concat with the finer input, CSP layer; bottom-up: strided 3x3
    conv, concat, CSP layer. Subclasses call :meth:`build_paths` and add their output convs.
    """

    def build_paths(
        self,
        in_channels: tuple[int, ...],
        upsample_cfg: UpsampleConfig | Mapping[str, Any],
        num_blocks: int,
        use_depthwise: bool,
        norm_cfg: NormConfig,
        act_cfg: ActConfig,
        **csp: Any,
    ) -> None:
        """Add ``upsample``, ``reduce_layers``, ``top_down_blocks``, ``downsamples``, ``bottom_up_blocks``.

        Each CSP layer has ``num_blocks`` blocks without identity and :class:`CSPLayer`'s keyword arguments ``csp``.
        """
        if len(in_channels) < 2:
            raise ConfigError(f"{type(self).__name__}: in_channels needs at least 2 levels, got {tuple(in_channels)}")
        self.in_channels = tuple(in_channels)
        upsample = UpsampleConfig.model_validate(upsample_cfg)
        self.upsample = nn.Upsample(scale_factor=upsample.scale_factor, mode=upsample.mode)
        conv = conv_type(use_depthwise)

        def csp_layer(cin: int, cout: int) -> CSPLayer:
            return CSPLayer(cin, cout, num_blocks, False, use_depthwise, norm_cfg, act_cfg, **csp)

        top = range(len(in_channels) - 1, 0, -1)
        self.reduce_layers = nn.ModuleList(
            ConvModule(in_channels[i], in_channels[i - 1], 1, norm_cfg=norm_cfg, act_cfg=act_cfg) for i in top
        )
        self.top_down_blocks = nn.ModuleList(csp_layer(in_channels[i - 1] * 2, in_channels[i - 1]) for i in top)
        bottom = range(len(in_channels) - 1)
        self.downsamples = nn.ModuleList(
            conv(in_channels[i], in_channels[i], 3, stride=2, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
            for i in bottom
        )
        self.bottom_up_blocks = nn.ModuleList(csp_layer(in_channels[i] * 2, in_channels[i + 1]) for i in bottom)

    def init_weights(self) -> None:
        """mmdet's default: Kaiming-uniform convs (a=sqrt(5), fan_in), zero biases; norms at one/zero."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                conv_init(m)

    def paths(self, feats: tuple[Tensor, ...]) -> list[Tensor]:
        """``L`` maps ``(B, C_i, H_i, W_i)`` -> ``L`` aggregated maps of the same shapes."""
        levels = len(self.in_channels)
        if len(feats) != levels:
            raise ValueError(f"{type(self).__name__}: expected {levels} feature maps (in_channels), got {len(feats)}")
        inner = [feats[-1]]
        for j, idx in enumerate(range(levels - 1, 0, -1)):
            high = self.reduce_layers[j](inner[0])
            inner[0] = high
            inner.insert(0, self.top_down_blocks[j](torch.cat([self.upsample(high), feats[idx - 1]], 1)))
        outs = [inner[0]]
        for idx in range(levels - 1):
            outs.append(self.bottom_up_blocks[idx](torch.cat([self.downsamples[idx](outs[-1]), inner[idx + 1]], 1)))
        return outs
