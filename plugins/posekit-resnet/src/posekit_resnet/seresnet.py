"""SEResNet backbone, as MMPose's ``mmpose/models/backbones/seresnet.py``: a ResNet of bottlenecks whose
residual branch ends in squeeze-and-excitation (`Squeeze-and-Excitation Networks
<https://arxiv.org/abs/1709.01507>`__).

Shapes as :class:`~posekit_resnet.resnet.ResNet` (SE-ResNet-50 at 256x192: ``(B, 2048, 8, 6)``).
State_dict keys equal MMPose's: ResNet's plus ``layer{i}.{j}.se_layer.conv1.conv.*`` / ``conv2.conv.*``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from torch import Tensor

from posekit.nn import Bottleneck, SELayer
from posekit_resnet.resnet import ArchSettings, ResNet


class SEBottleneck(Bottleneck):
    """A Bottleneck whose branch (after ``norm3``) is reweighted by an :class:`~posekit.nn.SELayer`.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        se_ratio: squeeze ratio of the SE layer (inner width ``int(out_channels / se_ratio)``). Default 16.
        **kwargs: the other Bottleneck arguments (stride, dilation, downsample, style, with_cp, norm_cfg).
    """

    def __init__(self, in_channels: int, out_channels: int, se_ratio: int = 16, **kwargs: Any) -> None:
        super().__init__(in_channels, out_channels, **kwargs)
        self.se_layer = SELayer(out_channels, ratio=se_ratio)

    def _branch(self, x: Tensor) -> Tensor:
        return self.se_layer(super()._branch(x))


class SEResNet(ResNet):
    """SEResNet backbone: ResNet-50/101/152 with :class:`SEBottleneck` blocks.

    Args:
        depth: 50, 101 or 152.
        se_ratio: squeeze ratio of every SE layer. Default 16.
        others: as :class:`~posekit_resnet.resnet.ResNet`.
    """

    example_config = {"depth": 50, "stem_channels": 8, "base_channels": 4, "se_ratio": 4}
    arch_settings: ClassVar[ArchSettings] = {
        50: (SEBottleneck, (3, 4, 6, 3)),
        101: (SEBottleneck, (3, 4, 23, 3)),
        152: (SEBottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, depth: Literal[50, 101, 152], se_ratio: int = 16, **kwargs: Any) -> None:
        self.se_ratio = se_ratio  # read by block_kwargs() while ResNet builds the stages
        super().__init__(depth, **kwargs)

    def block_kwargs(self) -> dict[str, Any]:
        """``se_ratio`` for every :class:`SEBottleneck`."""
        return {"se_ratio": self.se_ratio}
