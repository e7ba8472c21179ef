"""ViPNAS_ResNet backbone, as MMPose's ``mmpose/models/backbones/vipnas_resnet.py`` (`ViPNAS: Efficient
Video Pose Estimation via Neural Architecture Search <https://arxiv.org/abs/2105.10154>`__): a ResNet-50
layout whose searched widths, depths, kernels, groups and GCNet attention are per-stage lists.

Input ``(B, in_channels, H, W)``; stage ``i`` gives ``(B, wid[i+1] * expan[i+1], H / 4 / prod(strides[:i+1]), ...)``
(the default at 256x192: ``(B, 608, 8, 6)``). State_dict keys equal MMPose's: ResNet's, plus
``layer{i}.{j}.attention.conv_mask`` / ``channel_add_conv.{0,1,3}`` where ``att`` is on.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import Bottleneck, NormConfig, PretrainedInit, add_conv_norm, init_backbone, normal_init
from posekit_resnet.resnet import BN, StemAndStages, Style


class ContextBlock(nn.Module):
    """GCNet's global context block (mmcv's ``ContextBlock``, attention pooling, channel addition):
    ``x + transform(sum_hw(softmax_hw(conv_mask(x)) * x))``, ``(B, C, H, W)`` in and out.

    Args:
        in_channels: channels C.
        ratio: the transform's inner width is ``int(C * ratio)``.
    """

    def __init__(self, in_channels: int, ratio: float) -> None:
        super().__init__()
        planes = int(in_channels * ratio)
        self.conv_mask = nn.Conv2d(in_channels, 1, kernel_size=1)
        self.channel_add_conv = nn.Sequential(
            nn.Conv2d(in_channels, planes, kernel_size=1),
            nn.LayerNorm([planes, 1, 1]),
            nn.ReLU(inplace=True),
            nn.Conv2d(planes, in_channels, kernel_size=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        mask = torch.softmax(self.conv_mask(x).view(b, 1, h * w), dim=2)  # (B, 1, HW)
        context = torch.matmul(x.view(b, 1, c, h * w), mask.unsqueeze(-1)).view(b, c, 1, 1)
        return x + self.channel_add_conv(context)


class ViPNASBottleneck(Bottleneck):
    """A Bottleneck with a ``kernel_size`` x ``kernel_size`` grouped middle conv (padding ``kernel_size // 2``)
    and, with ``attention``, a :class:`ContextBlock` after ``norm3``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: kernel of the middle conv. Default 3.
        groups: groups of the middle conv. Default 1.
        attention: add the GCNet context block. Default False.
        **kwargs: the other Bottleneck arguments (expansion, stride, dilation, downsample, style, with_cp, norm_cfg).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        groups: int = 1,
        attention: bool = False,
        **kwargs: Any,
    ) -> None:
        self.kernel_size = kernel_size  # read by _build() during Bottleneck.__init__
        self.groups = groups
        super().__init__(in_channels, out_channels, **kwargs)
        self.attention = ContextBlock(out_channels, max(1.0 / 16, 16.0 / out_channels)) if attention else None

    def _build(self, norm_cfg: NormConfig | Mapping[str, Any], dilation: int, style: Style) -> None:
        mid, k = self.mid_channels, self.kernel_size
        stride1, stride2 = (1, self.stride) if style == "pytorch" else (self.stride, 1)
        add_conv_norm(self, 1, nn.Conv2d(self.in_channels, mid, 1, stride1, bias=False), norm_cfg)
        conv2 = nn.Conv2d(mid, mid, k, stride2, padding=k // 2, dilation=dilation, groups=self.groups, bias=False)
        add_conv_norm(self, 2, conv2, norm_cfg)
        add_conv_norm(self, 3, nn.Conv2d(mid, self.out_channels, 1, bias=False), norm_cfg)

    def _branch(self, x: Tensor) -> Tensor:
        out = super()._branch(x)
        return out if self.attention is None else self.attention(out)


class ViPNAS_ResNet(StemAndStages):
    """ViPNAS_ResNet backbone. The per-stage lists have one entry for the stem (index 0; None where unused)
    and one per stage.

    Args:
        depth: 50 (the only layout).
        in_channels: input image channels. Default 3.
        num_stages: number of stages, 1-4. Default 4.
        strides: stride of the first block of each stage. Default (1, 2, 2, 2).
        dilations: dilation of each stage. Default (1, 1, 1, 1).
        out_indices: stages whose output is returned, 0-based. Default (3,).
        style: ``pytorch`` (stride on the middle conv, default) or ``caffe`` (on the first 1x1).
        deep_stem: three 3x3 convs instead of the ``ks[0]`` stem conv. Default False.
        avg_down: average-pool then 1x1 conv in strided shortcuts. Default False.
        frozen_stages: freeze the stem (0) and stages 1..n; -1 freezes nothing. Default -1.
        norm_cfg: norm layer config. Default ``dict(type='BN', requires_grad=True)``.
        norm_eval: keep BatchNorm layers in eval mode while training. Default False.
        with_cp: gradient checkpointing in the blocks. Default False.
        wid: stem width, then each stage's width before expansion. Default (48, 80, 160, 304, 608).
        expan: block expansion per stage (None: 1). Default (None, 1, 1, 1, 1).
        dep: blocks per stage. Default (None, 4, 6, 7, 3).
        ks: stem kernel, then each stage's middle-conv kernel. Default (7, 3, 5, 5, 5).
        group: groups of each stage's middle conv. Default (None, 16, 16, 16, 16).
        att: GCNet attention in each stage's blocks. Default (None, True, False, True, True).
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=...)``; default None (convs from
            N(0, 0.001^2), unit norms, as MMPose).
    """

    example_config = {
        "depth": 50,
        "wid": (8, 8, 16, 16, 32),
        "dep": (None, 1, 1, 1, 1),
        "group": (None, 2, 2, 2, 2),
        "att": (None, True, False, True, True),
    }

    def __init__(
        self,
        depth: Literal[50],
        in_channels: int = 3,
        num_stages: Literal[1, 2, 3, 4] = 4,
        strides: tuple[int, ...] = (1, 2, 2, 2),
        dilations: tuple[int, ...] = (1, 1, 1, 1),
        out_indices: tuple[int, ...] = (3,),
        style: Style = "pytorch",
        deep_stem: bool = False,
        avg_down: bool = False,
        frozen_stages: int = -1,
        norm_cfg: NormConfig = BN,
        norm_eval: bool = False,
        with_cp: bool = False,
        wid: tuple[int, ...] = (48, 80, 160, 304, 608),
        expan: tuple[int | None, ...] = (None, 1, 1, 1, 1),
        dep: tuple[int | None, ...] = (None, 4, 6, 7, 3),
        ks: tuple[int, ...] = (7, 3, 5, 5, 5),
        group: tuple[int | None, ...] = (None, 16, 16, 16, 16),
        att: tuple[bool | None, ...] = (None, True, False, True, True),
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        super().__init__()
        self.check_stages(num_stages, strides, dilations, out_indices, frozen_stages)
        lists = {"wid": wid, "expan": expan, "dep": dep, "ks": ks, "group": group, "att": att}
        short = [f"{k} {tuple(v)}" for k, v in lists.items() if len(v) < num_stages + 1]
        if short:
            raise ConfigError(f"ViPNAS_ResNet: {', '.join(short)} need the stem entry and one per stage ({num_stages})")
        self.out_indices = tuple(out_indices)
        self.deep_stem = deep_stem
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.init_cfg = init_cfg
        self.make_stem(in_channels, wid[0], ks[0], norm_cfg)
        channels = [wid[0]] + [wid[i] * (expan[i] or 1) for i in range(1, num_stages + 1)]
        stages = [
            (ViPNASBottleneck, int(dep[i] or 0), channels[i - 1], channels[i], expan[i] or 1,
             {"kernel_size": ks[i], "groups": group[i] or 1, "attention": bool(att[i])})
            for i in range(1, num_stages + 1)
        ]  # fmt: skip
        self.add_stages(stages, strides, dilations, style, avg_down, with_cp, norm_cfg)
        self.init_weights()
        self.freeze_stages()

    def init_weights(self) -> None:
        """Convs from N(0, 0.001^2) and unit norms, or ``init_cfg``."""
        init_backbone(self, functools.partial(normal_init, std=0.001), self.init_cfg)
