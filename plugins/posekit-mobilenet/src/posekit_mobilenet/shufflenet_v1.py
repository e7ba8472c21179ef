"""ShuffleNetV1 backbone (`ShuffleNet <https://arxiv.org/abs/1707.01083>`__), MMPose's state_dict keys.

Input ``(B, 3, H, W)``; a stride-4 stem (``conv1`` + max-pool), then stages 0-2 (``layers.0``-``layers.2``)
with strides 8, 16 and 32.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from posekit.nn import (
    ActConfig,
    ConvModule,
    NormConfig,
    PretrainedInit,
    build_activation_layer,
    channel_shuffle,
    run_block,
)
from posekit_mobilenet._layers import BN, RELU, make_divisible
from posekit_mobilenet.shufflenet_v2 import STAGE_BLOCKS, ShuffleNetBase

#: output channels of the three stages (before ``widen_factor``), per number of groups
CHANNELS: dict[int, tuple[int, int, int]] = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}


class ShuffleUnit(nn.Module):
    """Grouped 1x1 compress, channel shuffle, 3x3 depthwise, grouped 1x1 expand; added to the input
    (``combine='add'``, stride 1) or concatenated to its 3x3 average pool (``'concat'``, stride 2).
    ``(B, in_channels, H, W)`` -> ``(B, out_channels, H/s, W/s)``.

    Args:
        in_channels: input channels.
        out_channels: output channels (the bottleneck has a quarter of them).
        groups: groups of the 1x1 convs. Default 3.
        first_block: the network's first unit, whose compressing 1x1 conv is not grouped. Default True.
        combine: ``'add'`` or ``'concat'``. Default ``'add'``.
        norm_cfg: norm layer config. Default BN.
        act_cfg: activation config. Default ReLU.
        with_cp: gradient checkpointing. Default False.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        groups: int = 3,
        first_block: bool = True,
        combine: Literal["add", "concat"] = "add",
        norm_cfg: NormConfig = BN,
        act_cfg: ActConfig = RELU,
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        self.combine = combine
        self.groups = groups
        self.with_cp = with_cp
        bottleneck = out_channels // 4
        if combine == "add":
            if in_channels != out_channels:
                raise ValueError(f"ShuffleUnit: combine='add' needs in_channels == out_channels, got {in_channels}")
            stride = 1
        else:
            stride, out_channels = 2, out_channels - in_channels
            self.avgpool = nn.AvgPool2d(kernel_size=3, stride=2, padding=1)
        self.g_conv_1x1_compress = ConvModule(
            in_channels, bottleneck, 1, groups=1 if first_block else groups, norm_cfg=norm_cfg, act_cfg=act_cfg
        )
        self.depthwise_conv3x3_bn = ConvModule(
            bottleneck, bottleneck, 3, stride, 1, groups=bottleneck, norm_cfg=norm_cfg, act_cfg=None
        )
        self.g_conv_1x1_expand = ConvModule(bottleneck, out_channels, 1, groups=groups, norm_cfg=norm_cfg, act_cfg=None)
        self.act = build_activation_layer(act_cfg)

    def _forward(self, x: Tensor) -> Tensor:
        out = self.depthwise_conv3x3_bn(self.g_conv_1x1_compress(x))
        if self.groups > 1:
            out = channel_shuffle(out, self.groups)
        out = self.g_conv_1x1_expand(out)
        if self.combine == "concat":
            return torch.cat((self.avgpool(x), self.act(out)), dim=1)
        return self.act(x + out)

    def forward(self, x: Tensor) -> Tensor:
        return run_block(self._forward, x, with_cp=self.with_cp)


class ShuffleNetV1(ShuffleNetBase):
    """ShuffleNetV1: stem and three stages of 4, 8 and 4 units (the first of each concatenating).

    Args:
        groups: groups of the 1x1 convs: 1, 2, 3, 4 or 8 (each has its channel table). Default 3.
        widen_factor: channel multiplier (stage channels rounded to multiples of 8). Default 1.0.
        out_indices: stages whose output is returned, in ``[0, 3)``. Default (2,).
        frozen_stages, norm_cfg, act_cfg, norm_eval, with_cp, init_cfg: as
            :class:`~posekit_mobilenet.shufflenet_v2.ShuffleNetBase`.
    """

    example_config = {"widen_factor": 0.5}  # a small working instance (posekit plugins --check)

    def __init__(
        self,
        groups: Literal[1, 2, 3, 4, 8] = 3,
        widen_factor: float = 1.0,
        out_indices: tuple[int, ...] = (2,),
        frozen_stages: int = -1,
        norm_cfg: NormConfig = BN,
        act_cfg: ActConfig = RELU,
        norm_eval: bool = False,
        with_cp: bool = False,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        super().__init__(len(STAGE_BLOCKS), out_indices, frozen_stages, norm_eval, init_cfg)
        self.groups = groups

        in_ch = int(24 * widen_factor)
        self._stem(in_ch, norm_cfg, act_cfg)
        for i, (channels, num_blocks) in enumerate(zip(CHANNELS[groups], STAGE_BLOCKS, strict=True)):
            out_ch = make_divisible(channels * widen_factor, 8)
            units = []
            for j in range(num_blocks):
                combine: Literal["add", "concat"] = "concat" if j == 0 else "add"
                units.append(ShuffleUnit(in_ch, out_ch, groups, i == 0 and j == 0, combine, norm_cfg, act_cfg, with_cp))
                in_ch = out_ch
            self.layers.append(nn.Sequential(*units))

        self.init_weights()
        self._freeze_stages()
