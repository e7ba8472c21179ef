"""HRNet backbone, as MMPose's ``mmpose/models/backbones/hrnet.py``.

Input ``(B, in_channels, H, W)``. A stride-4 stem (two 3x3 stride-2 convs) feeds ``layer1``
(stage 1), then stages 2-4 run parallel branches at strides 4, 8, 16, 32 that exchange
information in every module. Output: a tuple with the highest-resolution branch
``(B, C0, H/4, W/4)``, or all four branches when ``extra.stage4.multiscale_output`` is true.
Widths (w18/w32/w48) are configs of ``extra``, e.g. ``num_channels=(32, 64, 128, 256)`` for w32.
State_dict keys equal MMPose's (``conv1``, ``bn1``, ``layer1``, ``transition1``, ``stage2``, ...).
"""

from __future__ import annotations

import functools
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, model_validator
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import (
    BasicBlock,
    Bottleneck,
    FrozenStagesMixin,
    NamedNorms,
    NormConfig,
    PretrainedInit,
    add_conv_norm,
    as_config,
    conv_norm,
    init_backbone,
    normal_init,
)
from posekit.protocols import BaseBackbone

BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {"BASIC": BasicBlock, "BOTTLENECK": Bottleneck}


class HRNetStage(BaseModel):
    """One stage of ``extra`` (``stage1`` ... ``stage4``).

    Args:
        num_modules: HRModules in the stage.
        num_branches: parallel branches (stage i has i).
        block: ``BASIC`` or ``BOTTLENECK`` residual blocks.
        num_blocks: blocks per branch, one entry per branch.
        num_channels: channels per branch before block expansion, one entry per branch.
        multiscale_output: stage 4 only (ignored elsewhere, as in MMPose): return every branch
            instead of the highest-resolution one. Default False.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_modules: int
    num_branches: int
    block: Literal["BASIC", "BOTTLENECK"]
    num_blocks: tuple[int, ...]
    num_channels: tuple[int, ...]
    multiscale_output: bool = False

    @model_validator(mode="after")
    def _one_entry_per_branch(self) -> HRNetStage:
        if not len(self.num_blocks) == len(self.num_channels) == self.num_branches:
            raise ValueError(
                f"num_blocks {self.num_blocks} and num_channels {self.num_channels} need one entry per branch "
                f"(num_branches={self.num_branches})"
            )
        return self


class HRNetUpsample(BaseModel):
    """Upsampling in the fuse layers. Args: mode: interpolation mode (default nearest); align_corners: default None."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["nearest", "bilinear", "bicubic"] = "nearest"
    align_corners: bool | None = None


class HRNetExtra(BaseModel):
    """MMPose's ``extra`` dict: four stage configs and the upsampling mode.

    Args:
        stage1: the single-branch stage (``layer1``).
        stage2: two branches.
        stage3: three branches.
        stage4: four branches (``multiscale_output`` applies here).
        upsample: fuse-layer upsampling. Default nearest.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage1: HRNetStage
    stage2: HRNetStage
    stage3: HRNetStage
    stage4: HRNetStage
    upsample: HRNetUpsample = HRNetUpsample()

    @model_validator(mode="after")
    def _branches_grow(self) -> HRNetExtra:
        for i, stage in enumerate((self.stage1, self.stage2, self.stage3, self.stage4), start=1):
            if stage.num_branches != i:
                raise ValueError(f"stage{i} must have num_branches={i}, got {stage.num_branches}")
        return self


def _blocks(
    block: type[BasicBlock] | type[Bottleneck],
    num_blocks: int,
    in_channels: int,
    channels: int,
    with_cp: bool,
    norm_cfg: NormConfig,
) -> nn.Sequential:
    """``num_blocks`` residual blocks to ``channels * block.expansion``; the first projects its shortcut if needed."""
    out = channels * block.expansion
    downsample = conv_norm(in_channels, out, 1, 1, norm_cfg) if in_channels != out else None
    layers = [block(in_channels, out, downsample=downsample, with_cp=with_cp, norm_cfg=norm_cfg)]
    layers += [block(out, out, with_cp=with_cp, norm_cfg=norm_cfg) for _ in range(1, num_blocks)]
    return nn.Sequential(*layers)


class HRModule(nn.Module):
    """Parallel branches, then a fuse: each output sums every branch resampled to its size.

    Input and output: lists of ``(B, C_i, H / 2**i, W / 2**i)``; one output when not ``multiscale_output``.

    Args:
        branches: one module per branch (``branches.i``), built by the caller.
        in_channels: each branch's output channels C_i.
        multiscale_output: fuse into every branch (else into the first only).
        norm_cfg: norms of the fuse layers.
        upsample: fuse-layer upsampling of coarser branches.
    """

    def __init__(
        self,
        branches: list[nn.Module],
        in_channels: list[int],
        multiscale_output: bool,
        norm_cfg: NormConfig,
        upsample: HRNetUpsample,
    ) -> None:
        super().__init__()
        self.num_branches = len(branches)
        self.multiscale_output = multiscale_output
        self.in_channels = list(in_channels)
        self.branches = nn.ModuleList(branches)
        self.fuse_layers = self._make_fuse_layers(norm_cfg, upsample) if self.num_branches > 1 else None
        self.relu = nn.ReLU(inplace=True)

    def _downsample(self, j: int, i: int, norm_cfg: NormConfig) -> nn.Sequential:
        """Finer branch j to branch i: ``i - j`` strided 3x3 convs, ReLU between them."""
        ch = self.in_channels
        steps = [conv_norm(ch[j], ch[j], 3, 2, norm_cfg, relu=True) for _ in range(i - j - 1)]
        steps.append(conv_norm(ch[j], ch[i], 3, 2, norm_cfg))
        return nn.Sequential(*steps)

    def _make_fuse_layers(self, norm_cfg: NormConfig, upsample: HRNetUpsample) -> nn.ModuleList:
        ch = self.in_channels
        fuse_layers = nn.ModuleList()
        for i in range(self.num_branches if self.multiscale_output else 1):
            row: list[nn.Module | None] = []
            for j in range(self.num_branches):
                if j > i:  # coarser branch: 1x1 conv, norm, upsample
                    layer = conv_norm(ch[j], ch[i], 1, 1, norm_cfg)
                    layer.append(
                        nn.Upsample(scale_factor=2 ** (j - i), mode=upsample.mode, align_corners=upsample.align_corners)
                    )
                    row.append(layer)
                else:
                    row.append(None if j == i else self._downsample(j, i, norm_cfg))
            fuse_layers.append(nn.ModuleList(row))
        return fuse_layers

    def forward(self, x: list[Tensor]) -> list[Tensor]:
        x = [branch(xi) for branch, xi in zip(self.branches, x, strict=True)]
        if self.fuse_layers is None:
            return x
        outs = []
        for i, row in enumerate(self.fuse_layers):
            # start from a resampled branch (a fresh norm/upsample output) and accumulate in place
            terms = [layer(x[j]) for j, layer in enumerate(row) if layer is not None]
            y = terms[0]
            for t in terms[1:]:
                y += t
            y += x[i]
            outs.append(self.relu(y))
        return outs


class HRNet(FrozenStagesMixin, NamedNorms, BaseBackbone):
    """HRNet backbone (`Deep High-Resolution Representation Learning <https://arxiv.org/abs/1902.09212>`__).

    Args:
        extra: the four stage configs (:class:`HRNetExtra`), as in MMPose's configs.
        in_channels: input image channels. Default 3.
        norm_cfg: norm layer config. Default ``dict(type='BN')``.
        norm_eval: keep BatchNorm layers in eval mode (frozen statistics) while training. Default False.
        with_cp: gradient checkpointing in the blocks (less memory, slower). Default False.
        zero_init_residual: start each block's last norm at 0. Default False.
        frozen_stages: freeze the stem (0) and stages 1..n with their transitions; -1 freezes nothing. Default -1.
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=...)`` to load weights; default None
            (convs from N(0, 0.001^2), unit norms, as MMPose).
    """

    #: the module of stages 2-4
    module_type: ClassVar[type[HRModule]] = HRModule
    #: a small working instance (``posekit plugins --check``): width 8, one block per branch
    example_config = {
        "extra": {
            f"stage{i}": {
                "num_modules": 1,
                "num_branches": n,
                "block": "BOTTLENECK" if i == 1 else "BASIC",
                "num_blocks": (1,) * n,
                "num_channels": tuple(8 * 2**b for b in range(n)),
            }
            for i, n in ((1, 1), (2, 2), (3, 3), (4, 4))
        }
    }

    def __init__(
        self,
        extra: HRNetExtra,
        in_channels: int = 3,
        norm_cfg: NormConfig = NormConfig(type="BN"),
        norm_eval: bool = False,
        with_cp: bool = False,
        zero_init_residual: bool = False,
        frozen_stages: int = -1,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        super().__init__()
        extra = as_config(HRNetExtra, extra, "extra")
        if not -1 <= frozen_stages <= 4:
            raise ConfigError(f"HRNet: frozen_stages must be in [-1, 4], got {frozen_stages}")
        self.extra = extra
        self.norm_eval = norm_eval
        self.zero_init_residual = zero_init_residual
        self.frozen_stages = frozen_stages
        self.init_cfg = init_cfg

        add_conv_norm(self, 1, nn.Conv2d(in_channels, 64, 3, stride=2, padding=1, bias=False), norm_cfg)
        add_conv_norm(self, 2, nn.Conv2d(64, 64, 3, stride=2, padding=1, bias=False), norm_cfg)
        self.relu = nn.ReLU(inplace=True)

        s1 = extra.stage1
        block = BLOCKS[s1.block]
        out1 = s1.num_channels[0] * block.expansion
        self.layer1 = _blocks(block, s1.num_blocks[0], 64, s1.num_channels[0], with_cp, norm_cfg)

        pre = [out1]
        for k, stage in ((2, extra.stage2), (3, extra.stage3), (4, extra.stage4)):
            channels = [c * self._expansion(stage.block) for c in stage.num_channels]
            self.add_module(f"transition{k - 1}", self._make_transition(pre, channels, norm_cfg))
            modules, pre = self._make_stage(k, stage, channels, with_cp, norm_cfg, multiscale_output=k < 4)
            self.add_module(f"stage{k}", modules)

        self.init_weights()
        self.freeze_stages()

    @staticmethod
    def _make_transition(pre: list[int], cur: list[int], norm_cfg: NormConfig) -> nn.ModuleList:
        """Per new-stage branch: a 3x3 conv where widths change, strided 3x3 convs for new branches."""
        layers: list[nn.Module | None] = []
        for i, c in enumerate(cur):
            if i < len(pre):
                layers.append(conv_norm(pre[i], c, 3, 1, norm_cfg, relu=True) if c != pre[i] else None)
            else:
                n = i + 1 - len(pre)
                steps = [conv_norm(pre[-1], c if k == n - 1 else pre[-1], 3, 2, norm_cfg, relu=True) for k in range(n)]
                layers.append(nn.Sequential(*steps))
        return nn.ModuleList(layers)

    @staticmethod
    def _expansion(block: str) -> int:
        """Output channels of a ``block`` per configured channel."""
        return BLOCKS[block].expansion

    def _make_branches(
        self, k: int, i: int, stage: HRNetStage, in_channels: list[int], with_cp: bool, norm_cfg: NormConfig
    ) -> list[nn.Module]:
        """The branches of module ``i`` of stage ``k``: residual blocks to each branch's width."""
        block = BLOCKS[stage.block]
        return [
            _blocks(block, stage.num_blocks[b], in_channels[b], stage.num_channels[b], with_cp, norm_cfg)
            for b in range(stage.num_branches)
        ]

    def _make_stage(
        self,
        k: int,
        stage: HRNetStage,
        in_channels: list[int],
        with_cp: bool,
        norm_cfg: NormConfig,
        multiscale_output: bool,
    ) -> tuple[nn.Sequential, list[int]]:
        """Stage ``k``: ``num_modules`` :attr:`module_type` modules; only the last may drop low-resolution outputs."""
        out_channels = [c * self._expansion(stage.block) for c in stage.num_channels]
        modules = []
        for i in range(stage.num_modules):
            last = i == stage.num_modules - 1
            branches = self._make_branches(k, i, stage, in_channels if i == 0 else out_channels, with_cp, norm_cfg)
            module = self.module_type(
                branches,
                out_channels,
                multiscale_output=multiscale_output or stage.multiscale_output or not last,
                norm_cfg=norm_cfg,
                upsample=self.extra.upsample,
            )
            modules.append(module)
        return nn.Sequential(*modules), out_channels

    def init_weights(self) -> None:
        """Convs from N(0, 0.001^2), unit norms (zero last norms with ``zero_init_residual``), or ``init_cfg``."""
        init_backbone(self, functools.partial(normal_init, std=0.001), self.init_cfg, self.zero_init_residual)

    def frozen_modules(self) -> list[nn.Module]:
        """Stem at 0; stage k with the transition after it (stage 4 has none: MMPose re-freezes transition3)."""
        modules = [self.conv1, self.norm1, self.conv2, self.norm2] if self.frozen_stages >= 0 else []
        for k in range(1, self.frozen_stages + 1):
            modules += [self.layer1 if k == 1 else getattr(self, f"stage{k}"), getattr(self, f"transition{min(k, 3)}")]
        return modules

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``(B, C, H, W)`` -> ``((B, C0, H/4, W/4),)``, or four maps with ``multiscale_output``."""
        x = self.relu(self.norm1(self.conv1(x)))
        x = self.relu(self.norm2(self.conv2(x)))
        ys = [self.layer1(x)]
        for k in (2, 3, 4):
            transition = getattr(self, f"transition{k - 1}")
            xs = [
                ys[min(i, len(ys) - 1)] if t is None else t(ys[min(i, len(ys) - 1)]) for i, t in enumerate(transition)
            ]
            ys = getattr(self, f"stage{k}")(xs)
        return tuple(ys)
