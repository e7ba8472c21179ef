"""ResNeXt backbone, as MMPose's ``mmpose/models/backbones/resnext.py`` (`Aggregated Residual
Transformations <https://arxiv.org/abs/1611.05431>`__): a ResNet whose bottleneck 3x3 conv is grouped
(``groups`` x ``width_per_group`` channels per stage-1 block, doubling each stage).

Shapes as :class:`~posekit_resnet.resnet.ResNet` (ResNeXt-50 32x4d at 256x192: ``(B, 2048, 8, 6)``).
State_dict keys equal MMPose's (ResNet's, with wider ``conv1``/``conv2`` and ``bn1``/``bn2``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from torch import nn

from posekit.errors import ConfigError
from posekit.nn import Bottleneck, NormConfig, add_conv_norm
from posekit_resnet.resnet import ArchSettings, ResNet, Style


class ResNeXtBottleneck(Bottleneck):
    """A Bottleneck of width ``groups * width_per_group * (out_channels / expansion) / base_channels``
    with a grouped 3x3 conv (plain Bottleneck widths when ``groups`` is 1).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        groups: groups of the 3x3 conv. Default 32.
        width_per_group: channels per group at ``base_channels``. Default 4.
        base_channels: the ResNet's stage-1 width, the reference of ``width_per_group``. Default 64.
        **kwargs: the other Bottleneck arguments (stride, dilation, downsample, style, with_cp, norm_cfg).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        groups: int = 32,
        width_per_group: int = 4,
        base_channels: int = 64,
        **kwargs: Any,
    ) -> None:
        self.groups = groups  # read by _build() during Bottleneck.__init__
        self.width_per_group = width_per_group
        self.base_channels = base_channels
        super().__init__(in_channels, out_channels, **kwargs)

    def _grouped_width(self) -> None:
        """Widen ``mid_channels`` to ``groups * width_per_group * mid / base_channels`` (MMPose's rule; ``mid``
        is ``base_channels * 2**stage``, so the division is exact)."""
        if self.groups != 1:
            self.mid_channels = self.groups * self.width_per_group * self.mid_channels // self.base_channels

    def _build(self, norm_cfg: NormConfig | Mapping[str, Any], dilation: int, style: Style) -> None:
        self._grouped_width()
        mid = self.mid_channels
        stride1, stride2 = (1, self.stride) if style == "pytorch" else (self.stride, 1)
        add_conv_norm(self, 1, nn.Conv2d(self.in_channels, mid, 1, stride1, bias=False), norm_cfg)
        conv2 = nn.Conv2d(mid, mid, 3, stride2, padding=dilation, dilation=dilation, groups=self.groups, bias=False)
        add_conv_norm(self, 2, conv2, norm_cfg)
        add_conv_norm(self, 3, nn.Conv2d(mid, self.out_channels, 1, bias=False), norm_cfg)


class ResNeXt(ResNet):
    """ResNeXt backbone: ResNet-50/101/152 with grouped :class:`ResNeXtBottleneck` blocks.

    Args:
        depth: 50, 101 or 152.
        groups: groups of every 3x3 conv. Default 32.
        width_per_group: channels per group at ``base_channels``. Default 4.
        others: as :class:`~posekit_resnet.resnet.ResNet`.
    """

    example_config = {"depth": 50, "stem_channels": 8, "base_channels": 8, "groups": 4, "width_per_group": 2}
    arch_settings: ClassVar[ArchSettings] = {
        50: (ResNeXtBottleneck, (3, 4, 6, 3)),
        101: (ResNeXtBottleneck, (3, 4, 23, 3)),
        152: (ResNeXtBottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, depth: Literal[50, 101, 152], groups: int = 32, width_per_group: int = 4, **kwargs: Any) -> None:
        if min(groups, width_per_group) < 1:
            raise ConfigError(f"ResNeXt: groups ({groups}) and width_per_group ({width_per_group}) must be positive")
        self.groups = groups  # read by block_kwargs() while ResNet builds the stages
        self.width_per_group = width_per_group
        super().__init__(depth, **kwargs)

    def block_kwargs(self) -> dict[str, Any]:
        """``groups``, ``width_per_group`` and ``base_channels`` for every block."""
        return {"groups": self.groups, "width_per_group": self.width_per_group, "base_channels": self.base_channels}
