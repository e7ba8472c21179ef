"""CPM: Convolutional Pose Machines (Wei et al. 2016), as MMPose's ``mmpose/models/backbones/cpm.py``.

Dimensions: input ``(B, 3, H, W)``; K = ``out_channels``; every stage outputs belief maps
``(B, K, H/8, W/8)``. The output is a tuple of ``num_stages`` maps, stage 1 first; ``CPMHead``
(posekit-heatmap) supervises each.

State_dict keys equal MMPose's: ``stem.N.conv``/``stem.N.bn`` (N skips the max-pools),
``middle.*``, ``cpm_stages.S.model.N.*``, ``middle_conv.S.0.*``, ``out_convs.S.{0,1}.*``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import ConvModule, NormConfig, init_backbone, normal_init
from posekit.protocols import BaseBackbone

_BN = NormConfig(type="BN", requires_grad=True)


def _conv(in_channels: int, out_channels: int, kernel: int, norm_cfg: NormConfig | None) -> ConvModule:
    """A same-size ConvModule (``padding = (kernel - 1) // 2``) with ReLU."""
    return ConvModule(in_channels, out_channels, kernel, padding=(kernel - 1) // 2, norm_cfg=norm_cfg)


def _pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(kernel_size=3, stride=2, padding=1)


def _image_features(in_channels: int, norm_cfg: NormConfig) -> list[nn.Module]:
    """Three 9x9 ConvModules each followed by a stride-2 max-pool: ``(B, 3, H, W) -> (B, 128, H/8, W/8)``."""
    return [
        _conv(in_channels, 128, 9, norm_cfg),
        _pool(),
        _conv(128, 128, 9, norm_cfg),
        _pool(),
        _conv(128, 128, 9, norm_cfg),
        _pool(),
    ]


class CpmBlock(nn.Module):
    """Same-size ConvModules in a row (``model.N``): one refinement stage of CPM.

    Args:
        in_channels: input channels.
        channels: output channels of each conv.
        kernels: kernel size of each conv (odd).
        norm_cfg: norm layer config; None for none.
    """

    def __init__(
        self, in_channels: int, channels: Sequence[int], kernels: Sequence[int], norm_cfg: NormConfig | None
    ) -> None:
        super().__init__()
        ins = (in_channels, *channels[:-1])
        self.model = nn.Sequential(*(_conv(i, o, k, norm_cfg) for i, o, k in zip(ins, channels, kernels, strict=True)))

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class CPM(BaseBackbone):
    """CPM backbone (`Convolutional Pose Machines <https://arxiv.org/abs/1602.00134>`__).

    Stage 1 predicts K belief maps from the image; each later stage refines the previous stage's
    maps concatenated with shared image features (``middle`` then a per-stage ``middle_conv``).

    Args:
        in_channels: input image channels; must be 3 (MMPose's).
        out_channels: K, the belief maps of each stage.
        feat_channels: channels of each refinement stage's convs. Default 128.
        middle_channels: channels of the per-stage image features. Default 32.
        num_stages: stages (>= 1); the output holds one map per stage. Default 6.
        norm_cfg: norm layer config. Default ``dict(type='BN', requires_grad=True)``.
    """

    example_config = {"in_channels": 3, "out_channels": 5, "feat_channels": 8, "middle_channels": 4, "num_stages": 2}

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        feat_channels: int = 128,
        middle_channels: int = 32,
        num_stages: int = 6,
        norm_cfg: NormConfig = _BN,
    ) -> None:
        super().__init__()
        if in_channels != 3:
            raise ConfigError(f"CPM: in_channels must be 3 (an RGB image), got {in_channels}")
        if num_stages < 1:
            raise ConfigError(f"CPM: num_stages must be at least 1, got {num_stages}")
        self.num_stages = num_stages
        self.stem = nn.Sequential(
            *_image_features(in_channels, norm_cfg),
            _conv(128, 32, 5, norm_cfg),
            _conv(32, 512, 9, norm_cfg),
            _conv(512, 512, 1, norm_cfg),
            ConvModule(512, out_channels, 1, act_cfg=None),
        )
        self.middle = nn.Sequential(*_image_features(in_channels, norm_cfg))
        stages = range(num_stages - 1)
        channels, kernels = (feat_channels,) * 3, (11,) * 3
        self.cpm_stages = nn.ModuleList(
            CpmBlock(middle_channels + out_channels, channels, kernels, norm_cfg) for _ in stages
        )
        self.middle_conv = nn.ModuleList(nn.Sequential(_conv(128, middle_channels, 5, norm_cfg)) for _ in stages)
        self.out_convs = nn.ModuleList(
            nn.Sequential(
                _conv(feat_channels, feat_channels, 1, norm_cfg),
                ConvModule(feat_channels, out_channels, 1, act_cfg=None),
            )
            for _ in stages
        )
        self.init_weights()

    def init_weights(self) -> None:
        """Convs from N(0, 0.001^2) with zero bias, norms to 1 / 0 (MMPose's ``init_cfg``)."""
        init_backbone(self, lambda m: normal_init(m, std=0.001))

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``(B, 3, H, W)`` -> ``num_stages`` belief maps ``(B, K, H/8, W/8)``, stage 1 first."""
        outs = [self.stem(x)]
        middle = self.middle(x)
        for stage, middle_conv, out_conv in zip(self.cpm_stages, self.middle_conv, self.out_convs, strict=True):
            outs.append(out_conv(stage(torch.cat([outs[-1], middle_conv(middle)], 1))))
        return tuple(outs)
