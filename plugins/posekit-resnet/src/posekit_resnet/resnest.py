"""ResNeSt backbone, as MMPose's ``mmpose/models/backbones/resnest.py`` (`ResNeSt: Split-Attention Networks
<https://arxiv.org/abs/2004.08955>`__): a ResNet-D whose bottleneck 3x3 conv is a split-attention conv.

Shapes as :class:`~posekit_resnet.resnet.ResNet` (ResNeSt-50 at 256x192: ``(B, 2048, 8, 6)``).
State_dict keys equal MMPose's: ResNetV1d's, with ``conv2.conv``, ``conv2.bn0``, ``conv2.fc1``,
``conv2.bn1``, ``conv2.fc2`` in place of a block's ``conv2``/``bn2``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import NamedNorms, NormConfig, add_conv_norm, build_norm_layer
from posekit_resnet.resnet import BN, ArchSettings, ResNetV1d, Style
from posekit_resnet.resnext import ResNeXtBottleneck


class SplitAttentionConv2d(NamedNorms, nn.Module):
    """Split-attention conv: a grouped conv to ``radix`` splits of ``channels``, weighted by a softmax
    over the splits (sigmoid when ``radix`` is 1) of an attention computed from their pooled sum.
    ``(B, in_channels, H, W)`` -> ``(B, channels, H/s, W/s)``.

    Args:
        in_channels: input channels.
        channels: output channels.
        kernel_size: kernel of the main conv.
        stride: stride. Default 1.
        padding: padding. Default 0.
        dilation: dilation. Default 1.
        groups: cardinality (groups per split). Default 1.
        radix: splits. Default 2.
        reduction_factor: the attention's inner width is ``max(in_channels * radix / reduction_factor, 32)``.
            Default 4.
        norm_cfg: norm layer config. Default BN.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        radix: int = 2,
        reduction_factor: int = 4,
        norm_cfg: NormConfig | Mapping[str, Any] = BN,
    ) -> None:
        super().__init__()
        inter = max(in_channels * radix // reduction_factor, 32)
        self.radix = radix
        self.groups = groups
        self.conv = nn.Conv2d(
            in_channels, channels * radix, kernel_size, stride, padding, dilation, groups=groups * radix, bias=False
        )
        self.norm0_name, norm0 = build_norm_layer(norm_cfg, channels * radix, postfix=0)
        self.add_module(self.norm0_name, norm0)
        self.relu = nn.ReLU(inplace=True)
        self.fc1 = nn.Conv2d(channels, inter, 1, groups=groups)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, inter, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.fc2 = nn.Conv2d(inter, channels * radix, 1, groups=groups)

    @property
    def norm0(self) -> nn.Module:
        return getattr(self, self.norm0_name)

    def _attention(self, gap: Tensor) -> Tensor:
        """``(B, channels * radix, 1, 1)`` logits -> weights, softmax over the radix splits per group."""
        b = gap.shape[0]
        if self.radix == 1:
            return torch.sigmoid(gap).view(b, -1, 1, 1)
        weights = F.softmax(gap.view(b, self.groups, self.radix, -1).transpose(1, 2), dim=1)
        return weights.reshape(b, -1, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.norm0(self.conv(x)))
        b = x.shape[0]
        splits = x.view(b, self.radix, -1, *x.shape[2:]) if self.radix > 1 else x
        gap = F.adaptive_avg_pool2d(splits.sum(dim=1) if self.radix > 1 else x, 1)
        atten = self._attention(self.fc2(self.relu(self.norm1(self.fc1(gap)))))
        if self.radix == 1:
            return (atten * x).contiguous()
        return (atten.view(b, self.radix, -1, 1, 1) * splits).sum(dim=1).contiguous()


class ResNeStBottleneck(ResNeXtBottleneck):
    """A (grouped-width) Bottleneck whose 3x3 conv is a :class:`SplitAttentionConv2d`; with
    ``avg_down_stride`` its stride moves to a 3x3 average pool (``avd_layer``) after it.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        radix: splits of the split-attention conv. Default 2.
        reduction_factor: reduction of its attention. Default 4.
        avg_down_stride: stride by average pooling after the split-attention conv. Default True.
        **kwargs: ``groups``, ``width_per_group``, ``base_channels`` and the Bottleneck arguments.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        radix: int = 2,
        reduction_factor: int = 4,
        avg_down_stride: bool = True,
        **kwargs: Any,
    ) -> None:
        self.radix = radix  # read by _build() during Bottleneck.__init__
        self.reduction_factor = reduction_factor
        self.avg_down_stride = avg_down_stride
        super().__init__(in_channels, out_channels, **kwargs)

    def _build(self, norm_cfg: NormConfig | Mapping[str, Any], dilation: int, style: Style) -> None:
        self._grouped_width()
        mid = self.mid_channels
        stride1, stride2 = (1, self.stride) if style == "pytorch" else (self.stride, 1)
        self.avg_down_stride = self.avg_down_stride and stride2 > 1
        add_conv_norm(self, 1, nn.Conv2d(self.in_channels, mid, 1, stride1, bias=False), norm_cfg)
        self.conv2 = SplitAttentionConv2d(
            mid,
            mid,
            3,
            stride=1 if self.avg_down_stride else stride2,
            padding=dilation,
            dilation=dilation,
            groups=self.groups,
            radix=self.radix,
            reduction_factor=self.reduction_factor,
            norm_cfg=norm_cfg,
        )
        if self.avg_down_stride:
            self.avd_layer = nn.AvgPool2d(3, stride2, padding=1)
        add_conv_norm(self, 3, nn.Conv2d(mid, self.out_channels, 1, bias=False), norm_cfg)

    def _branch(self, x: Tensor) -> Tensor:
        out = self.conv2(self.relu(self.norm1(self.conv1(x))))
        if self.avg_down_stride:
            out = self.avd_layer(out)
        return self.norm3(self.conv3(out))


class ResNeSt(ResNetV1d):
    """ResNeSt backbone: ResNetV1d-50/101/152/200/269 with :class:`ResNeStBottleneck` blocks.

    Args:
        depth: 50, 101, 152, 200 or 269.
        groups: cardinality of every split-attention conv. Default 1.
        width_per_group: channels per group at ``base_channels`` (used when ``groups`` > 1). Default 4.
        radix: splits of every split-attention conv. Default 2.
        reduction_factor: attention reduction. Default 4.
        avg_down_stride: strided blocks pool after the split-attention conv instead of striding it. Default True.
        others: as :class:`~posekit_resnet.resnet.ResNetV1d`.
    """

    example_config = {"depth": 50, "stem_channels": 8, "base_channels": 4}
    arch_settings: ClassVar[ArchSettings] = {
        50: (ResNeStBottleneck, (3, 4, 6, 3)),
        101: (ResNeStBottleneck, (3, 4, 23, 3)),
        152: (ResNeStBottleneck, (3, 8, 36, 3)),
        200: (ResNeStBottleneck, (3, 24, 36, 3)),
        269: (ResNeStBottleneck, (3, 30, 48, 8)),
    }

    def __init__(
        self,
        depth: Literal[50, 101, 152, 200, 269],
        groups: int = 1,
        width_per_group: int = 4,
        radix: int = 2,
        reduction_factor: int = 4,
        avg_down_stride: bool = True,
        **kwargs: Any,
    ) -> None:
        if min(groups, width_per_group, radix, reduction_factor) < 1:
            raise ConfigError(
                f"ResNeSt: groups ({groups}), width_per_group ({width_per_group}), radix ({radix}) and "
                f"reduction_factor ({reduction_factor}) must be positive"
            )
        # read by block_kwargs() while ResNet builds the stages
        self.variant = {
            "groups": groups,
            "width_per_group": width_per_group,
            "radix": radix,
            "reduction_factor": reduction_factor,
            "avg_down_stride": avg_down_stride,
        }
        super().__init__(depth, **kwargs)  # type: ignore[arg-type]

    def block_kwargs(self) -> dict[str, Any]:
        """The split-attention arguments and ``base_channels`` for every block."""
        return {**self.variant, "base_channels": self.base_channels}
