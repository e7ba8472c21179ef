"""HourglassNet: Stacked Hourglass Networks (Newell et al. 2016), as MMPose's ``hourglass.py``.

Dimensions: input ``(B, 3, H, W)``; each stack outputs ``(B, feat_channel, H/4, W/4)``. The output
is a tuple of ``num_stacks`` feature maps, stack 1 first; ``CPMHead`` (posekit-heatmap) with
``num_stages = num_stacks`` supervises each.

State_dict keys equal MMPose's: ``stem.0.conv``, ``stem.1.0.*`` (a BasicBlock layer),
``hourglass_modules.S.{up1,low1,low2,low3}.*`` (``low2`` nests the next level), ``inters.*``,
``conv1x1s.*``, ``out_convs.*``, ``remap_convs.*``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import BasicBlock, ConvModule, NormConfig, conv_norm, init_backbone, normal_init
from posekit.protocols import BaseBackbone

_BN = NormConfig(type="BN", requires_grad=True)


def res_layer(
    num_blocks: int,
    in_channels: int,
    out_channels: int,
    stride: int = 1,
    norm_cfg: NormConfig = _BN,
    downsample_first: bool = True,
) -> nn.Sequential:
    """BasicBlocks ``(B, in_channels, H, W) -> (B, out_channels, H/stride, W/stride)`` (MMPose's ``ResLayer``).

    The block that changes the shape (with a 1x1 conv + norm shortcut) comes first, or last with
    ``downsample_first=False`` (hourglass decoders). As MMPose's, at least one block is built even
    for ``num_blocks=0``.
    """
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = conv_norm(in_channels, out_channels, 1, stride, norm_cfg)
    changing = BasicBlock(in_channels, out_channels, stride=stride, downsample=downsample, norm_cfg=norm_cfg)
    kept = out_channels if downsample_first else in_channels
    others = [BasicBlock(kept, kept, norm_cfg=norm_cfg) for _ in range(max(num_blocks, 1) - 1)]
    return nn.Sequential(changing, *others) if downsample_first else nn.Sequential(*others, changing)


class HourglassModule(nn.Module):
    """One hourglass level: a full-resolution branch plus a down-sampled branch that nests the next level.

    ``(B, C0, H, W) -> (B, C0, H, W)``; ``C0 = stage_channels[0]``, the inner level runs at
    ``stage_channels[1]`` channels and half the size.

    Args:
        depth: levels below this one (1: the innermost).
        stage_channels: channels of this level and the ones below.
        stage_blocks: BasicBlocks per layer of this level and the ones below.
        norm_cfg: norm layer config of this level (inner levels use BN, as MMPose's).
    """

    def __init__(
        self, depth: int, stage_channels: Sequence[int], stage_blocks: Sequence[int], norm_cfg: NormConfig = _BN
    ) -> None:
        super().__init__()
        cur_block, next_block = stage_blocks[0], stage_blocks[1]
        cur, nxt = stage_channels[0], stage_channels[1]
        self.up1 = res_layer(cur_block, cur, cur, norm_cfg=norm_cfg)
        self.low1 = res_layer(cur_block, cur, nxt, stride=2, norm_cfg=norm_cfg)
        self.low2: nn.Module
        if depth > 1:
            self.low2 = HourglassModule(depth - 1, stage_channels[1:], stage_blocks[1:])
        else:
            self.low2 = res_layer(next_block, nxt, nxt, norm_cfg=norm_cfg)
        self.low3 = res_layer(cur_block, nxt, cur, norm_cfg=norm_cfg, downsample_first=False)
        self.up2 = nn.Upsample(scale_factor=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.up1(x) + self.up2(self.low3(self.low2(self.low1(x))))


class HourglassNet(BaseBackbone):
    """HourglassNet backbone (`Stacked Hourglass Networks <https://arxiv.org/abs/1603.06937>`__).

    Args:
        downsample_times: down-samplings inside one hourglass (< len(stage_channels)). Default 5.
        num_stacks: hourglasses stacked (1: Hourglass-52, 2: Hourglass-104). Default 2.
        stage_channels: channels of each hourglass level; the first must be 256 (the stem's).
            Default (256, 256, 384, 384, 384, 512).
        stage_blocks: BasicBlocks per layer of each level. Default (2, 2, 2, 2, 2, 4).
        feat_channel: channels of each stack's output. Default 256.
        norm_cfg: norm layer config. Default ``dict(type='BN', requires_grad=True)``.
    """

    example_config = {
        "downsample_times": 1,
        "num_stacks": 2,
        "stage_channels": (256, 8),
        "stage_blocks": (1, 1),
        "feat_channel": 8,
    }

    def __init__(
        self,
        downsample_times: int = 5,
        num_stacks: int = 2,
        stage_channels: tuple[int, ...] = (256, 256, 384, 384, 384, 512),
        stage_blocks: tuple[int, ...] = (2, 2, 2, 2, 2, 4),
        feat_channel: int = 256,
        norm_cfg: NormConfig = _BN,
    ) -> None:
        super().__init__()
        if num_stacks < 1:
            raise ConfigError(f"HourglassNet: num_stacks must be at least 1, got {num_stacks}")
        if len(stage_channels) != len(stage_blocks) or len(stage_channels) <= downsample_times:
            raise ConfigError(
                f"HourglassNet: stage_channels {tuple(stage_channels)} and stage_blocks {tuple(stage_blocks)} need "
                f"the same length, more than downsample_times ({downsample_times})"
            )
        if stage_channels[0] != 256:
            raise ConfigError(
                f"HourglassNet: stage_channels[0] must be 256 (the stem's output), got {stage_channels[0]}"
            )
        self.num_stacks = num_stacks
        cur = stage_channels[0]
        self.stem = nn.Sequential(
            ConvModule(3, 128, 7, stride=2, padding=3, norm_cfg=norm_cfg),
            res_layer(1, 128, 256, stride=2, norm_cfg=norm_cfg),
        )
        self.hourglass_modules = nn.ModuleList(
            HourglassModule(downsample_times, stage_channels, stage_blocks) for _ in range(num_stacks)
        )
        self.inters = res_layer(num_stacks - 1, cur, cur, norm_cfg=norm_cfg)
        between = range(num_stacks - 1)
        self.conv1x1s = nn.ModuleList(ConvModule(cur, cur, 1, norm_cfg=norm_cfg, act_cfg=None) for _ in between)
        self.out_convs = nn.ModuleList(
            ConvModule(cur, feat_channel, 3, padding=1, norm_cfg=norm_cfg) for _ in range(num_stacks)
        )
        self.remap_convs = nn.ModuleList(
            ConvModule(feat_channel, cur, 1, norm_cfg=norm_cfg, act_cfg=None) for _ in between
        )
        self.relu = nn.ReLU(inplace=True)
        self.init_weights()

    def init_weights(self) -> None:
        """Convs from N(0, 0.001^2) with zero bias, norms to 1 / 0 (MMPose's ``init_cfg``)."""
        init_backbone(self, lambda m: normal_init(m, std=0.001))

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``(B, 3, H, W)`` -> ``num_stacks`` maps ``(B, feat_channel, H/4, W/4)``, stack 1 first."""
        inter = self.stem(x)
        outs = []
        for i, hourglass in enumerate(self.hourglass_modules):
            out = self.out_convs[i](hourglass(inter))
            outs.append(out)
            if i < self.num_stacks - 1:
                inter = self.inters[i](self.relu(self.conv1x1s[i](inter) + self.remap_convs[i](out)))
        return tuple(outs)
