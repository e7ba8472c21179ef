"""CSPNeXtPAFPN neck (RTMW), as MMPose's ``mmpose/models/necks/cspnext_pafpn.py``.

Input: ``L`` feature maps ``(B, C_i, H_i, W_i)``, each level half the size of the one before
(CSPNeXt's ``out_indices=(2, 3, 4)``). A top-down path (1x1 reduce, nearest upsample, concat, CSP
layer) then a bottom-up path (strided 3x3 conv, concat, CSP layer) give ``L`` maps with the
input's channels; with ``out_channels`` set, a 3x3 conv per level maps each to ``out_channels``.
Returns the maps at ``out_indices``. State_dict keys equal MMPose's (``reduce_layers.0.conv.weight``,
``top_down_blocks.0.blocks.0.conv2.depthwise_conv.conv.weight``, ``out_convs.1.bn.running_mean``).
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import ActConfig, ConvModule, DepthwiseSeparableConvModule, NormConfig, kaiming_init
from posekit.protocols import BaseNeck
from posekit_cspnext.cspnext import CSPLayer


class UpsampleConfig(BaseModel):
    """``nn.Upsample`` of the top-down path: ``scale_factor`` and ``mode`` (MMPose's ``upsample_cfg``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    scale_factor: float = 2.0
    mode: Literal["nearest", "bilinear", "bicubic"] = "nearest"


class CSPNeXtPAFPN(BaseNeck):
    """Path aggregation network with CSPNeXt blocks (RTMDet's neck, RTMW's multi-scale fusion).

    Args:
        in_channels: channels of each input level, finest first.
        out_channels: channels of every output after a 3x3 conv per level; None keeps each level's
            input channels (RTMW). Default None.
        out_indices: which levels to return. Default (0, 1, 2).
        num_csp_blocks: CSPNeXt blocks per CSP layer. Default 3.
        use_depthwise: depthwise-separable strided and output convs. Default False.
        expand_ratio: CSP hidden channels / out channels. Default 0.5.
        upsample_cfg: the top-down upsampling. Default ``scale_factor=2, mode='nearest'``.
        norm_cfg: norm layer config. Default ``dict(type='BN', momentum=0.03, eps=0.001)``.
        act_cfg: activation config. Default ``dict(type='Swish')``.
    """

    example_config = {"in_channels": (8, 16, 32), "out_indices": (1, 2), "num_csp_blocks": 1}
    example_inputs = {"feat_shapes": [(8, 16, 12), (16, 8, 6), (32, 4, 3)]}

    def __init__(
        self,
        in_channels: tuple[int, ...],
        out_channels: int | None = None,
        out_indices: tuple[int, ...] = (0, 1, 2),
        num_csp_blocks: int = 3,
        use_depthwise: bool = False,
        expand_ratio: float = 0.5,
        upsample_cfg: UpsampleConfig = UpsampleConfig(),
        norm_cfg: NormConfig = NormConfig(type="BN", momentum=0.03, eps=0.001),
        act_cfg: ActConfig = ActConfig(type="Swish"),
    ) -> None:
        super().__init__()
        levels = len(in_channels)
        if levels < 2:
            raise ConfigError(f"CSPNeXtPAFPN: in_channels needs at least 2 levels, got {tuple(in_channels)}")
        if not out_indices or not all(0 <= i < levels for i in out_indices):
            raise ConfigError(f"CSPNeXtPAFPN: out_indices {tuple(out_indices)} must be levels in [0, {levels})")
        self.in_channels = tuple(in_channels)
        self.out_channels = out_channels
        self.out_indices = tuple(out_indices)
        upsample = UpsampleConfig.model_validate(upsample_cfg)
        self.upsample = nn.Upsample(scale_factor=upsample.scale_factor, mode=upsample.mode)
        conv = DepthwiseSeparableConvModule if use_depthwise else ConvModule

        def csp(cin: int, cout: int) -> CSPLayer:
            return CSPLayer(cin, cout, expand_ratio, num_csp_blocks, False, use_depthwise, False, norm_cfg, act_cfg)

        self.reduce_layers = nn.ModuleList()
        self.top_down_blocks = nn.ModuleList()
        for idx in range(levels - 1, 0, -1):
            low = in_channels[idx - 1]
            self.reduce_layers.append(ConvModule(in_channels[idx], low, 1, norm_cfg=norm_cfg, act_cfg=act_cfg))
            self.top_down_blocks.append(csp(low * 2, low))
        self.downsamples = nn.ModuleList()
        self.bottom_up_blocks = nn.ModuleList()
        for idx in range(levels - 1):
            ch = in_channels[idx]
            self.downsamples.append(conv(ch, ch, 3, stride=2, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg))
            self.bottom_up_blocks.append(csp(ch * 2, in_channels[idx + 1]))
        if out_channels is not None:
            self.out_convs = nn.ModuleList(
                conv(ch, out_channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg) for ch in in_channels
            )
        self.init_weights()

    def init_weights(self) -> None:
        """MMPose's default: Kaiming-uniform convs (a=sqrt(5), fan_in), zero biases; norms at one/zero."""
        conv_init = functools.partial(
            kaiming_init, a=math.sqrt(5), mode="fan_in", nonlinearity="leaky_relu", distribution="uniform"
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                conv_init(m)

    def forward(self, feats: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """``L`` maps ``(B, C_i, H_i, W_i)`` -> the ``out_indices`` levels, ``(B, out_channels or C_i, H_i, W_i)``."""
        levels = len(self.in_channels)
        if len(feats) != levels:
            raise ValueError(f"CSPNeXtPAFPN: expected {levels} feature maps (in_channels), got {len(feats)}")
        inner = [feats[-1]]
        for j, idx in enumerate(range(levels - 1, 0, -1)):
            high = self.reduce_layers[j](inner[0])
            inner[0] = high
            inner.insert(0, self.top_down_blocks[j](torch.cat([self.upsample(high), feats[idx - 1]], 1)))
        outs = [inner[0]]
        for idx in range(levels - 1):
            outs.append(self.bottom_up_blocks[idx](torch.cat([self.downsamples[idx](outs[-1]), inner[idx + 1]], 1)))
        if self.out_channels is not None:
            outs = [out_conv(out) for out_conv, out in zip(self.out_convs, outs, strict=True)]
        return tuple(outs[i] for i in self.out_indices)
