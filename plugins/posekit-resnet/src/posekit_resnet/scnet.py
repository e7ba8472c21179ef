"""SCNet backbone, as MMPose's ``mmpose/models/backbones/scnet.py`` (`Improving Convolutional Networks with
Self-Calibrated Convolutions <http://mftp.mmcheng.net/Papers/20cvprSCNet.pdf>`__): a ResNet whose
bottleneck splits into a plain 3x3 path and a self-calibrated path.

Shapes as :class:`~posekit_resnet.resnet.ResNet` (SCNet-50 at 256x192: ``(B, 2048, 8, 6)``). State_dict
keys equal MMPose's: ``conv1``/``bn1``/``k1`` (plain path), ``conv2``/``bn2``/``scconv.k2``-``k4``
(self-calibrated path), ``conv3``/``bn3``, ``downsample``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posekit.nn import Bottleneck, NormConfig, add_conv_norm, conv_norm
from posekit_resnet.resnet import ArchSettings, ResNet, Style


class SCConv(nn.Module):
    """Self-calibrated conv: ``k4(k3(x) * sigmoid(x + up(k2(avgpool(x)))))``, where ``k2``-``k4`` are
    3x3 conv + norm (``k4`` strided, with ReLU). ``(B, C, H, W)`` -> ``(B, C, H/s, W/s)``.

    Args:
        channels: input and output channels.
        stride: stride of ``k4``.
        pooling_r: average-pool factor before ``k2``.
        norm_cfg: norm layer config.
    """

    def __init__(self, channels: int, stride: int, pooling_r: int, norm_cfg: NormConfig | Mapping[str, Any]) -> None:
        super().__init__()
        self.k2 = nn.Sequential(nn.AvgPool2d(pooling_r, pooling_r), *conv_norm(channels, channels, 3, 1, norm_cfg))
        self.k3 = conv_norm(channels, channels, 3, 1, norm_cfg)
        self.k4 = conv_norm(channels, channels, 3, stride, norm_cfg, relu=True)

    def forward(self, x: Tensor) -> Tensor:
        gate = torch.sigmoid(x + F.interpolate(self.k2(x), x.shape[2:]))
        return self.k4(self.k3(x) * gate)


class SCBottleneck(Bottleneck):
    """A Bottleneck of two half-width paths: ``conv1 -> k1`` (3x3, strided) and ``conv2 -> scconv``
    (:class:`SCConv`), concatenated into ``conv3``. The stride always sits on the 3x3 convs.
    Arguments as :class:`~posekit.nn.Bottleneck`."""

    pooling_r = 4

    def _build(self, norm_cfg: NormConfig | Mapping[str, Any], dilation: int, style: Style) -> None:
        self.mid_channels //= 2
        mid = self.mid_channels
        add_conv_norm(self, 1, nn.Conv2d(self.in_channels, mid, 1, bias=False), norm_cfg)
        self.k1 = conv_norm(mid, mid, 3, self.stride, norm_cfg, relu=True)
        add_conv_norm(self, 2, nn.Conv2d(self.in_channels, mid, 1, bias=False), norm_cfg)
        self.scconv = SCConv(mid, self.stride, self.pooling_r, norm_cfg)
        add_conv_norm(self, 3, nn.Conv2d(2 * mid, self.out_channels, 1, bias=False), norm_cfg)

    def _branch(self, x: Tensor) -> Tensor:
        out_a = self.k1(self.relu(self.norm1(self.conv1(x))))
        out_b = self.scconv(self.relu(self.norm2(self.conv2(x))))
        return self.norm3(self.conv3(torch.cat([out_a, out_b], dim=1)))


class SCNet(ResNet):
    """SCNet backbone: ResNet-50/101 with :class:`SCBottleneck` blocks.

    Args: as :class:`~posekit_resnet.resnet.ResNet`, with ``depth`` 50 or 101 (others are refused) and no
    effect of ``style`` on SCBottleneck.
    """

    #: two stages: SCConv pools its input by 4, so stride-32 maps of small inputs would vanish
    example_config = {
        "depth": 50,
        "stem_channels": 8,
        "base_channels": 8,
        "num_stages": 2,
        "strides": (1, 2),
        "dilations": (1, 1),
        "out_indices": (1,),
    }
    arch_settings: ClassVar[ArchSettings] = {50: (SCBottleneck, (3, 4, 6, 3)), 101: (SCBottleneck, (3, 4, 23, 3))}
