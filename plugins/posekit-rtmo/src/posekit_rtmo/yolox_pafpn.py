"""YOLOXPAFPN neck (YOLOX / YOLOX-Pose), as MMPose's ``mmpose/models/necks/yolox_pafpn.py``.

Input: levels ``(B, in_channels[i], H_i, W_i)`` (strides 8, 16, 32); a top-down path (1x1 reduce,
upsample, CSP layer) then a bottom-up path (strided 3x3 conv, CSP layer), and a 1x1 ConvModule per
level to ``out_channels``. Output: a tuple of ``(B, out_channels, H_i, W_i)``. Keys as MMPose's
(``reduce_layers``, ``top_down_blocks``, ``downsamples``, ``bottom_up_blocks``, ``out_convs``).
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from posekit.nn import ActConfig, ConvModule, DepthwiseSeparableConvModule, NormConfig, kaiming_init
from posekit.protocols import BaseNeck
from posekit_rtmo.csp_darknet import YOLOX_BN, CSPLayer


class UpsampleConfig(BaseModel):
    """``nn.Upsample`` arguments. Args: scale_factor (default 2), mode (default nearest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    scale_factor: float = 2
    mode: Literal["nearest", "bilinear"] = "nearest"


class YOLOXPAFPN(BaseNeck):
    """Path-aggregation FPN of YOLOX.

    Args:
        in_channels: channels of each input level.
        out_channels: channels of every output.
        num_csp_blocks: Darknet bottlenecks per CSP layer. Default 3.
        use_depthwise: depthwise-separable downsample convs. Default False.
        upsample_cfg: the upsampling. Default nearest x2.
        conv_cfg: must be None. Default None.
        norm_cfg: norm config. Default ``dict(type='BN', momentum=0.03, eps=0.001)``.
        act_cfg: activation config. Default Swish.
    """

    example_config = {"in_channels": (8, 16, 32), "out_channels": 8, "num_csp_blocks": 1}
    example_inputs = {"feat_shapes": [(8, 16, 16), (16, 8, 8), (32, 4, 4)]}

    def __init__(
        self,
        in_channels: tuple[int, ...],
        out_channels: int,
        num_csp_blocks: int = 3,
        use_depthwise: bool = False,
        upsample_cfg: UpsampleConfig = UpsampleConfig(),
        conv_cfg: None = None,
        norm_cfg: NormConfig = YOLOX_BN,
        act_cfg: ActConfig = ActConfig(type="Swish"),
    ) -> None:
        super().__init__()
        self.in_channels = tuple(in_channels)
        up = upsample_cfg if isinstance(upsample_cfg, UpsampleConfig) else UpsampleConfig.model_validate(upsample_cfg)
        self.upsample = nn.Upsample(scale_factor=up.scale_factor, mode=up.mode)
        conv = DepthwiseSeparableConvModule if use_depthwise else ConvModule
        n = len(in_channels)
        top = range(n - 1, 0, -1)
        self.reduce_layers = nn.ModuleList(
            ConvModule(in_channels[i], in_channels[i - 1], 1, norm_cfg=norm_cfg, act_cfg=act_cfg) for i in top
        )
        self.top_down_blocks = nn.ModuleList(
            CSPLayer(
                in_channels[i - 1] * 2, in_channels[i - 1], num_csp_blocks, False, use_depthwise, norm_cfg, act_cfg
            )
            for i in top
        )
        self.downsamples = nn.ModuleList(
            conv(in_channels[i], in_channels[i], 3, stride=2, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
            for i in range(n - 1)
        )
        self.bottom_up_blocks = nn.ModuleList(
            CSPLayer(in_channels[i] * 2, in_channels[i + 1], num_csp_blocks, False, use_depthwise, norm_cfg, act_cfg)
            for i in range(n - 1)
        )
        self.out_convs = nn.ModuleList(
            ConvModule(c, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg) for c in in_channels
        )
        conv_init = functools.partial(
            kaiming_init, a=math.sqrt(5), mode="fan_in", nonlinearity="leaky_relu", distribution="uniform"
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                conv_init(m)

    def forward(self, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        n = len(self.in_channels)
        if len(inputs) != n:
            raise ValueError(f"YOLOXPAFPN: expected {n} feature levels, got {len(inputs)}")
        inner = [inputs[-1]]
        for j, idx in enumerate(range(n - 1, 0, -1)):
            high = self.reduce_layers[j](inner[0])
            inner[0] = high
            inner.insert(0, self.top_down_blocks[j](torch.cat([self.upsample(high), inputs[idx - 1]], dim=1)))
        outs = [inner[0]]
        for idx in range(n - 1):
            down = self.downsamples[idx](outs[-1])
            outs.append(self.bottom_up_blocks[idx](torch.cat([down, inner[idx + 1]], dim=1)))
        return tuple(conv(x) for conv, x in zip(self.out_convs, outs, strict=True))
