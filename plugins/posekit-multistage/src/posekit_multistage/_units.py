"""What MSPN and RSN share: the ResNet top, the down-sampling module built from a block, the
up-sampling module with its skips and cross-stage conv, the init, and :class:`MultiStageBackbone` (their
frame: the top, the stages under MMPose's name and the multi-stage forward).

Dimensions: input ``(B, 3, H, W)``; the top gives ``(B, 64, H/4, W/4)``; down-sampling unit ``i``
runs at ``H/4/2**i``; up-sampling unit ``j`` (coarsest first) outputs ``(B, unit_channels, h_j, w_j)``.
Keys are MMPose's: ``top.top.0.{conv,bn}``, ``<stages>.S.downsample.layerN.M.*``,
``<stages>.S.upsample.upJ.{in_skip,up_conv,out_skip1,out_skip2,cross_conv}.*``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import ConvModule, NormConfig, init_backbone, kaiming_init, normal_init
from posekit.protocols import BaseBackbone

#: ``(in_channels, out_channels, stride, downsample, norm_cfg)`` -> one block of a down-sampling unit
BlockFactory = Callable[[int, int, int, nn.Module | None, NormConfig], nn.Module]

#: MMPose's default norm: the backbones' default, and the norm of every block after a layer's first
BN = NormConfig(type="BN")

#: the ResNet top's channels and the cross-stage conv's output channels (fixed in MMPose)
TOP_CHANNELS = 64


def _conv1x1(in_channels: int, out_channels: int, norm_cfg: NormConfig, relu: bool, stride: int = 1) -> ConvModule:
    return ConvModule(
        in_channels, out_channels, 1, stride=stride, norm_cfg=norm_cfg, act_cfg={"type": "ReLU"} if relu else None
    )


class ResNetTop(nn.Module):
    """7x7 stride-2 ConvModule and a stride-2 max-pool: ``(B, 3, H, W) -> (B, 64, H/4, W/4)`` (key ``top.*``)."""

    def __init__(self, norm_cfg: NormConfig) -> None:
        super().__init__()
        conv = ConvModule(3, TOP_CHANNELS, 7, stride=2, padding=3, norm_cfg=norm_cfg)
        self.top = nn.Sequential(conv, nn.MaxPool2d(kernel_size=3, stride=2, padding=1))

    def forward(self, img: Tensor) -> Tensor:
        return self.top(img)


class DownsampleModule(nn.Module):
    """``num_units`` layers of blocks (``layer1`` .. ``layerU``), each but the first halving the size.

    Layer ``i`` outputs ``in_channels * 2**i * expansion`` channels. With ``has_skip`` the previous
    stage's two skips are added after each layer. Returns the layers' outputs coarsest first.

    Args:
        make_block: builds one block (see :data:`BlockFactory`).
        expansion: a block's output channels over its ``out_channels`` argument.
        num_blocks: blocks per layer.
        has_skip: add the previous stage's skips.
        norm_cfg: norm config of the shortcut convs and of each layer's first block (MMPose builds the
            later blocks with the default :data:`BN`).
        in_channels: channels of the input (the top's).
    """

    def __init__(
        self,
        make_block: BlockFactory,
        expansion: int,
        num_blocks: Sequence[int],
        has_skip: bool,
        norm_cfg: NormConfig,
        in_channels: int,
    ) -> None:
        super().__init__()
        self.has_skip = has_skip
        self.num_units = len(num_blocks)
        channels = in_channels
        for i, blocks in enumerate(num_blocks):
            out, stride = in_channels * 2**i, 1 if i == 0 else 2
            downsample = None
            if stride != 1 or channels != out * expansion:
                downsample = _conv1x1(channels, out * expansion, norm_cfg, relu=False, stride=stride)
            layer = [make_block(channels, out, stride, downsample, norm_cfg)]
            channels = out * expansion
            layer += [make_block(channels, out, 1, None, BN) for _ in range(1, blocks)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*layer))

    def forward(self, x: Tensor, skip1: Sequence[Tensor] | None, skip2: Sequence[Tensor] | None) -> list[Tensor]:
        out = []
        for i in range(self.num_units):
            x = getattr(self, f"layer{i + 1}")(x)
            if self.has_skip:
                x = x + skip1[i] + skip2[i]  # type: ignore[index]
            out.append(x)
        return out[::-1]


class UpsampleUnit(nn.Module):
    """One up-sampling step: a 1x1 skip-in conv plus (``ind > 0``) the up-sampled coarser output.

    Args:
        ind: position in the module (0: the coarsest, no input from above).
        num_units: units in the module (the last one makes the cross-stage conv).
        in_channels: channels of the down-sampling feature it takes.
        unit_channels: channels of its output.
        gen_skip: make the two skips for the next stage's down-sampling.
        gen_cross_conv: make the next stage's input (last unit only).
        norm_cfg: norm layer config.
    """

    def __init__(
        self,
        ind: int,
        num_units: int,
        in_channels: int,
        unit_channels: int,
        gen_skip: bool,
        gen_cross_conv: bool,
        norm_cfg: NormConfig,
    ) -> None:
        super().__init__()
        self.ind = ind
        self.gen_skip = gen_skip
        self.gen_cross_conv = gen_cross_conv and ind == num_units - 1
        self.in_skip = _conv1x1(in_channels, unit_channels, norm_cfg, relu=False)
        self.relu = nn.ReLU(inplace=True)
        if ind > 0:
            self.up_conv = _conv1x1(unit_channels, unit_channels, norm_cfg, relu=False)
        if gen_skip:
            self.out_skip1 = _conv1x1(in_channels, in_channels, norm_cfg, relu=True)
            self.out_skip2 = _conv1x1(unit_channels, in_channels, norm_cfg, relu=True)
        if self.gen_cross_conv:
            self.cross_conv = _conv1x1(unit_channels, TOP_CHANNELS, norm_cfg, relu=True)

    def forward(self, x: Tensor, up_x: Tensor | None) -> tuple[Tensor, Tensor | None, Tensor | None, Tensor | None]:
        """``(out, skip1, skip2, cross_conv)``; the last three are None when not generated."""
        out = self.in_skip(x)
        if up_x is not None:
            up_x = F.interpolate(up_x, size=x.shape[2:], mode="bilinear", align_corners=True)
            out = out + self.up_conv(up_x)
        out = self.relu(out)
        skip1 = self.out_skip1(x) if self.gen_skip else None
        skip2 = self.out_skip2(out) if self.gen_skip else None
        cross = self.cross_conv(out) if self.gen_cross_conv else None
        return out, skip1, skip2, cross


class UpsampleModule(nn.Module):
    """``num_units`` :class:`UpsampleUnit` (``up1`` .. ``upU``) from the coarsest feature to the finest.

    Args:
        unit_channels: channels of every unit's output.
        num_units: units.
        gen_skip: make skips for the next stage.
        gen_cross_conv: make the next stage's input.
        norm_cfg: norm layer config.
        in_channels: the down-sampling module's input channels; unit ``j`` takes
            ``expansion * in_channels * 2**(U-1-j)`` channels.
        expansion: the down-sampling blocks' expansion.
    """

    def __init__(
        self,
        unit_channels: int,
        num_units: int,
        gen_skip: bool,
        gen_cross_conv: bool,
        norm_cfg: NormConfig,
        in_channels: int,
        expansion: int,
    ) -> None:
        super().__init__()
        self.num_units = num_units
        for j in range(num_units):
            channels = expansion * in_channels * 2 ** (num_units - 1 - j)
            unit = UpsampleUnit(j, num_units, channels, unit_channels, gen_skip, gen_cross_conv, norm_cfg)
            self.add_module(f"up{j + 1}", unit)

    def forward(
        self, x: Sequence[Tensor]
    ) -> tuple[list[Tensor], list[Tensor | None], list[Tensor | None], Tensor | None]:
        """Coarsest-first features -> ``(outputs coarsest first, skip1 finest first, skip2 finest first, cross)``."""
        outs: list[Tensor] = []
        skip1: list[Tensor | None] = []
        skip2: list[Tensor | None] = []
        cross = None
        for j in range(self.num_units):
            out, s1, s2, cross = getattr(self, f"up{j + 1}")(x[j], outs[-1] if outs else None)
            outs.append(out)
            skip1.append(s1)
            skip2.append(s2)
        return outs, skip1[::-1], skip2[::-1], cross


class SingleStage(nn.Module):
    """One hourglass-like stage: a :class:`DownsampleModule` then an :class:`UpsampleModule`."""

    def __init__(self, downsample: DownsampleModule, upsample: UpsampleModule) -> None:
        super().__init__()
        self.downsample = downsample
        self.upsample = upsample

    def forward(
        self, x: Tensor, skip1: Sequence[Tensor] | None, skip2: Sequence[Tensor] | None
    ) -> tuple[list[Tensor], list[Tensor | None], list[Tensor | None], Tensor | None]:
        return self.upsample(self.downsample(x, skip1, skip2))


def check_units(name: str, num_stages: int, num_units: int, num_blocks: Sequence[int]) -> None:
    """Refuse MSPN/RSN sizes MMPose asserts against, naming the backbone and the numbers."""
    if num_stages < 1:
        raise ConfigError(f"{name}: num_stages must be at least 1, got {num_stages}")
    if num_units < 2 or len(num_blocks) != num_units:
        raise ConfigError(
            f"{name}: num_units ({num_units}) must be at least 2 and equal len(num_blocks) ({len(num_blocks)})"
        )


def init_multistage(module: nn.Module) -> None:
    """Kaiming-normal convs, unit norms, N(0, 0.01^2) linears (MMPose's ``init_cfg`` of MSPN/RSN)."""
    init_backbone(module, kaiming_init)
    for m in module.modules():
        if isinstance(m, nn.Linear):
            normal_init(m, std=0.01)


class MultiStageBackbone(BaseBackbone):
    """MSPN and RSN's frame: ``top`` (:class:`ResNetTop`) then ``num_stages`` :class:`SingleStage`, held under
    the subclass's MMPose name :attr:`stages_name`; ``forward`` returns the stages' unit outputs flattened
    stage-major (S * U maps, coarsest unit first within a stage), as ``MSPNHead`` (posekit-heatmap) reads them."""

    #: the attribute (and state_dict prefix) of the stages, MMPose's (``multi_stage_mspn``, ``multi_stage_rsn``)
    stages_name: ClassVar[str]

    def build_stages(
        self,
        num_stages: int,
        num_units: int,
        make_block: BlockFactory,
        expansion: int,
        num_blocks: Sequence[int],
        unit_channels: int,
        norm_cfg: NormConfig,
        in_channels: int,
    ) -> None:
        """Set ``num_stages``, ``num_units``, ``top`` and the stages of ``make_block`` blocks: each stage after the
        first takes skips, each but the last makes them and the next stage's input. Arguments as
        :class:`DownsampleModule` / :class:`UpsampleModule` (sizes checked by :func:`check_units` first)."""
        check_units(type(self).__name__, num_stages, num_units, num_blocks)
        self.num_stages = num_stages
        self.num_units = num_units
        self.top = ResNetTop(norm_cfg)
        stages = []
        for i in range(num_stages):
            down = DownsampleModule(make_block, expansion, num_blocks, i > 0, norm_cfg, in_channels)
            gen = i < num_stages - 1
            up = UpsampleModule(unit_channels, len(num_blocks), gen, gen, norm_cfg, in_channels, expansion)
            stages.append(SingleStage(down, up))
        self.add_module(self.stages_name, nn.ModuleList(stages))

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``(B, 3, H, W)`` -> ``num_stages * num_units`` maps ``(B, unit_channels, h, w)``, stage-major."""
        feats: list[Tensor] = []
        skip1 = skip2 = None
        x = self.top(x)
        for stage in getattr(self, self.stages_name):
            outs, skip1, skip2, x = stage(x, skip1, skip2)
            feats.extend(outs)
        return tuple(feats)
