"""RSN: Residual Steps Network (Cai et al. 2020), as MMPose's ``mmpose/models/backbones/rsn.py``.

Dimensions and output as :mod:`posekit_multistage.mspn` (``num_stages * num_units`` maps of
``unit_channels`` channels, stage-major, coarsest unit first), with Residual Steps Blocks in the
down-sampling units instead of Bottlenecks.

State_dict keys equal MMPose's: ``top.top.0.*``, ``multi_stage_rsn.S.downsample.layerN.M.*``
(``conv_bn_relu1``, ``conv_bn_relu2_I_J``, ``conv_bn3``, ``downsample.{conv,bn}``),
``multi_stage_rsn.S.upsample.upJ.*``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import ConvModule, NormConfig
from posekit_multistage._units import BN, TOP_CHANNELS, MultiStageBackbone, init_multistage


class RSB(nn.Module):
    """Residual Steps Block: ``num_steps`` branches of growing depth with dense links, then a 1x1 conv.

    ``(B, in_channels, H, W) -> (B, out_channels, H/stride, W/stride)``; each branch has
    ``in_channels * expand_times // res_top_channels`` channels.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        num_steps: branches (> 1). Default 4.
        stride: stride of the first 1x1 conv. Default 1.
        downsample: shortcut projection; None for identity.
        norm_cfg: norm layer config. Default BN.
        expand_times: branch width factor. Default 26.
        res_top_channels: divisor of the branch width. Default 64.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_steps: int = 4,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_cfg: NormConfig = BN,
        expand_times: int = 26,
        res_top_channels: int = TOP_CHANNELS,
    ) -> None:
        super().__init__()
        self.num_steps = num_steps
        self.branch_channels = in_channels * expand_times // res_top_channels
        width = self.branch_channels
        self.conv_bn_relu1 = ConvModule(
            in_channels, num_steps * width, 1, stride=stride, norm_cfg=norm_cfg, inplace=False
        )
        for i in range(num_steps):
            for j in range(i + 1):
                conv = ConvModule(width, width, 3, padding=1, norm_cfg=norm_cfg, inplace=False)
                self.add_module(f"conv_bn_relu2_{i + 1}_{j + 1}", conv)
        self.conv_bn3 = ConvModule(num_steps * width, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None, inplace=False)
        self.relu = nn.ReLU(inplace=False)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        splits = torch.split(self.conv_bn_relu1(x), self.branch_channels, 1)
        previous: list[Tensor] = []  # the outputs of the step before, one per depth
        ends = []
        for i in range(self.num_steps):
            current: list[Tensor] = []
            for j in range(i + 1):
                inputs = splits[i] if j == 0 else current[j - 1]
                if i > j:
                    inputs = inputs + previous[j]
                current.append(getattr(self, f"conv_bn_relu2_{i + 1}_{j + 1}")(inputs))
            ends.append(current[i])
            previous = current
        out = self.conv_bn3(torch.cat(ends, 1))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class RSN(MultiStageBackbone):
    """RSN backbone (`Learning Delicate Local Representations <https://arxiv.org/abs/2003.04030>`__).

    Args:
        unit_channels: channels of every up-sampling unit's output. Default 256.
        num_stages: stages. Default 4.
        num_units: down/up-sampling units per stage (>= 2). Default 4.
        num_blocks: RSBs per down-sampling unit (one entry per unit). Default (2, 2, 2, 2).
        num_steps: steps of each RSB (> 1). Default 4.
        norm_cfg: norm layer config. Default ``dict(type='BN')``.
        res_top_channels: channels of the ResNet top; 64 (MMPose's top is fixed at 64). Default 64.
        expand_times: RSB branch width factor. Default 26.
    """

    example_config = {
        "unit_channels": 8,
        "num_stages": 2,
        "num_units": 2,
        "num_blocks": (1, 1),
        "num_steps": 2,
        "expand_times": 4,
    }
    stages_name = "multi_stage_rsn"

    def __init__(
        self,
        unit_channels: int = 256,
        num_stages: int = 4,
        num_units: int = 4,
        num_blocks: tuple[int, ...] = (2, 2, 2, 2),
        num_steps: int = 4,
        norm_cfg: NormConfig = BN,
        res_top_channels: int = TOP_CHANNELS,
        expand_times: int = 26,
    ) -> None:
        super().__init__()
        if num_steps < 2:
            raise ConfigError(f"RSN: num_steps must be at least 2, got {num_steps}")

        def block(cin: int, cout: int, stride: int, downsample: nn.Module | None, norm: NormConfig) -> nn.Module:
            return RSB(cin, cout, num_steps, stride, downsample, norm, expand_times, res_top_channels)

        self.build_stages(num_stages, num_units, block, 1, num_blocks, unit_channels, norm_cfg, res_top_channels)
        self.init_weights()

    def init_weights(self) -> None:
        """Kaiming-normal convs, unit norms, N(0, 0.01^2) linears (MMPose's ``init_cfg``)."""
        init_multistage(self)
