"""Lite-HRNet backbone, as MMPose's ``mmpose/models/backbones/litehrnet.py`` (`Lite-HRNet: A Lightweight
High-Resolution Network <https://arxiv.org/abs/2104.06403>`__).

Input ``(B, in_channels, H, W)``. A ShuffleNet-style stem (stride 4) feeds stages of parallel
branches at strides 4, 8, 16, 32 that exchange information in every module. A module is ``LITE``
(conditional channel weighting blocks) or ``NAIVE`` (ShuffleNetV2 units per branch, the
"naive Lite-HRNet" of the paper). With ``with_head`` an iterative head sums the branches from the
coarsest up. Output: ``((B, C0, H/4, W/4),)``, the highest-resolution branch (Lite-HRNet-18 at
256x192: ``(B, 40, 64, 48)``). State_dict keys equal MMPose's (``stem``, ``transition{i}``,
``stage{i}``, ``head_layer``).
"""

from __future__ import annotations

import functools
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, model_validator
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import (
    ConvModule,
    DepthwiseSeparableConvModule,
    FrozenStagesMixin,
    NormConfig,
    PretrainedInit,
    SELayer,
    ShuffleUnit,
    as_config,
    build_norm_layer,
    cat_shuffle,
    init_backbone,
    normal_init,
    run_block,
)
from posekit.protocols import BaseBackbone

BN = NormConfig(type="BN")


class LiteHRNetStem(BaseModel):
    """``extra.stem``. Args: stem_channels: width of the first conv; out_channels: stem output width;
    expand_ratio: width multiplier of the stem's expanded branch."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stem_channels: int
    out_channels: int
    expand_ratio: float


class LiteHRNetStages(BaseModel):
    """``extra.stages_spec``: one entry per stage in every field.

    Args:
        num_modules: modules per stage.
        num_branches: parallel branches per stage (each stage adds one).
        num_blocks: blocks per branch in each module.
        module_type: ``LITE`` (conditional channel weighting) or ``NAIVE`` (ShuffleNetV2 units).
        with_fuse: exchange information between branches after each module.
        reduce_ratios: reduction of the cross-resolution weighting (``LITE``).
        num_channels: per stage, the width of every branch.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_modules: tuple[int, ...]
    num_branches: tuple[int, ...]
    num_blocks: tuple[int, ...]
    module_type: tuple[Literal["LITE", "NAIVE"], ...]
    with_fuse: tuple[bool, ...]
    reduce_ratios: tuple[int, ...]
    num_channels: tuple[tuple[int, ...], ...]


class LiteHRNetExtra(BaseModel):
    """MMPose's ``extra`` dict of Lite-HRNet.

    Args:
        stem: the stem's widths.
        num_stages: number of stages.
        stages_spec: the stages.
        with_head: add the iterative head over the last stage's branches. Default False.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    stem: LiteHRNetStem
    num_stages: int
    stages_spec: LiteHRNetStages
    with_head: bool = False

    @model_validator(mode="after")
    def _one_entry_per_stage(self) -> LiteHRNetExtra:
        spec = self.stages_spec
        for field in type(spec).model_fields:
            if len(getattr(spec, field)) < self.num_stages:
                raise ValueError(f"stages_spec.{field} needs one entry per stage (num_stages={self.num_stages})")
        for i in range(self.num_stages):
            if not 2 <= spec.num_branches[i] == len(spec.num_channels[i]):
                raise ValueError(
                    f"stage {i}: num_branches ({spec.num_branches[i]}) must be at least 2 and equal the number of "
                    f"num_channels entries {spec.num_channels[i]}"
                )
        return self


def _dw_pw(
    in_channels: int, mid_channels: int, out_channels: int, stride: int, norm_cfg: NormConfig, relu: bool
) -> nn.Sequential:
    """``Sequential(depthwise 3x3 conv, norm, 1x1 conv, norm[, ReLU])``, keys ``0``-``3`` (MMPose's layout)."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, mid_channels, 3, stride, 1, groups=in_channels, bias=False),
        build_norm_layer(norm_cfg, mid_channels)[1],
        nn.Conv2d(mid_channels, out_channels, 1, bias=False),
        build_norm_layer(norm_cfg, out_channels)[1],
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _mul_nearest(x: Tensor, w: Tensor) -> Tensor:
    """``x * F.interpolate(w, size=x.shape[-2:], mode='nearest')`` for ``x (B, C, H, W)``, ``w (B, C, h, w)``;
    where the small size divides the large one, by broadcasting, without the upsampled copy of ``w``. The
    result keeps ``x``'s memory format."""
    (hx, wx), (hw, ww) = x.shape[-2:], w.shape[-2:]
    if hx % hw or wx % ww:
        return x * F.interpolate(w, size=(hx, wx), mode="nearest")
    blocks = x.unflatten(3, (ww, wx // ww)).unflatten(2, (hw, hx // hw))
    return (blocks * w[:, :, :, None, :, None]).flatten(4, 5).flatten(2, 3)


def _add_upsampled_(y: Tensor, x: Tensor, factor: int) -> None:
    """``y += nearest upsampling of x by factor``, in place, by broadcasting: ``x (B, C, h, w)``,
    ``y (B, C, factor * h, factor * w)``."""
    y.unflatten(3, (-1, factor)).unflatten(2, (-1, factor)).add_(x[:, :, :, None, :, None])


class CrossResolutionWeighting(nn.Module):
    """Channel weights from all branches pooled to the coarsest size; each branch is scaled by its share.

    Input and output: lists of ``(B, C_i, H_i, W_i)``.
    """

    def __init__(self, channels: list[int], ratio: int, norm_cfg: NormConfig) -> None:
        super().__init__()
        self.channels = channels
        total = sum(channels)
        self.conv1 = ConvModule(total, int(total / ratio), 1, norm_cfg=norm_cfg)
        self.conv2 = ConvModule(int(total / ratio), total, 1, norm_cfg=norm_cfg, act_cfg={"type": "Sigmoid"})

    def forward(self, x: list[Tensor]) -> list[Tensor]:
        size = x[-1].shape[-2:]
        pooled = torch.cat([F.adaptive_avg_pool2d(s, size) for s in x[:-1]] + [x[-1]], dim=1)
        weights = torch.split(self.conv2(self.conv1(pooled)), self.channels, dim=1)
        return [_mul_nearest(s, w) for s, w in zip(x, weights, strict=True)]


class ConditionalChannelWeighting(nn.Module):
    """Lite-HRNet's block: half of each branch passes through; the other half is reweighted across
    resolutions, depthwise-convolved and reweighted spatially; the halves are shuffled together.
    Input and output: lists of ``(B, C_i, H_i, W_i)``."""

    def __init__(self, in_channels: list[int], reduce_ratio: int, norm_cfg: NormConfig, with_cp: bool) -> None:
        super().__init__()
        self.with_cp = with_cp
        half = [c // 2 for c in in_channels]
        self.cross_resolution_weighting = CrossResolutionWeighting(half, reduce_ratio, norm_cfg)
        self.depthwise_convs = nn.ModuleList(
            ConvModule(c, c, 3, 1, 1, groups=c, norm_cfg=norm_cfg, act_cfg=None) for c in half
        )
        self.spatial_weighting = nn.ModuleList(SELayer(c, ratio=4) for c in half)

    def _forward(self, *x: Tensor) -> list[Tensor]:
        halves = [s.chunk(2, dim=1) for s in x]
        x2 = self.cross_resolution_weighting([h[1] for h in halves])
        x2 = [sw(dw(s)) for s, dw, sw in zip(x2, self.depthwise_convs, self.spatial_weighting, strict=True)]
        return [cat_shuffle(h[0], s) for h, s in zip(halves, x2, strict=True)]

    def forward(self, x: list[Tensor]) -> list[Tensor]:
        return run_block(self._forward, *x, with_cp=self.with_cp)


class Stem(nn.Module):
    """A stride-2 conv, then a ShuffleNet-style split: one half strided depthwise + 1x1, the other expanded,
    strided depthwise and projected; concatenated and shuffled. ``(B, C, H, W) -> (B, out_channels, H/4, W/4)``."""

    def __init__(self, in_channels: int, stem: LiteHRNetStem, norm_cfg: NormConfig, with_cp: bool) -> None:
        super().__init__()
        self.out_channels = stem.out_channels
        self.with_cp = with_cp
        width = stem.stem_channels
        mid = round(width * stem.expand_ratio)
        branch = width // 2
        same = width == stem.out_channels
        inc = stem.out_channels - (branch if same else width)
        self.conv1 = ConvModule(in_channels, width, 3, 2, 1, norm_cfg=norm_cfg)
        self.branch1 = nn.Sequential(
            ConvModule(branch, branch, 3, 2, 1, groups=branch, norm_cfg=norm_cfg, act_cfg=None),
            ConvModule(branch, inc, 1, norm_cfg=norm_cfg),
        )
        self.expand_conv = ConvModule(branch, mid, 1, norm_cfg=norm_cfg)
        self.depthwise_conv = ConvModule(mid, mid, 3, 2, 1, groups=mid, norm_cfg=norm_cfg, act_cfg=None)
        self.linear_conv = ConvModule(mid, branch if same else width, 1, norm_cfg=norm_cfg)

    def _forward(self, x: Tensor) -> Tensor:
        x1, x2 = self.conv1(x).chunk(2, dim=1)
        x2 = self.linear_conv(self.depthwise_conv(self.expand_conv(x2)))
        return cat_shuffle(self.branch1(x1), x2)

    def forward(self, x: Tensor) -> Tensor:
        return run_block(self._forward, x, with_cp=self.with_cp)


class IterativeHead(nn.Module):
    """From the coarsest branch up: add the upsampled previous output, then a depthwise-separable conv to
    the next finer branch's width. Input and output: lists of ``(B, C_i, H_i, W_i)``, finest first."""

    def __init__(self, in_channels: list[int], norm_cfg: NormConfig) -> None:
        super().__init__()
        rev = in_channels[::-1]
        outs = rev[1:] + rev[-1:]
        self.projects = nn.ModuleList(
            DepthwiseSeparableConvModule(c, o, 3, padding=1, norm_cfg=norm_cfg, dw_act_cfg=None)
            for c, o in zip(rev, outs, strict=True)
        )

    def forward(self, x: list[Tensor]) -> list[Tensor]:
        y: list[Tensor] = []
        for s, project in zip(x[::-1], self.projects, strict=True):
            if y:
                s = s + F.interpolate(y[-1], size=s.shape[-2:], mode="bilinear", align_corners=True)
            y.append(project(s))
        return y[::-1]


class LiteHRModule(nn.Module):
    """Branches (``LITE`` weighting blocks or ``NAIVE`` ShuffleNetV2 units), then, ``with_fuse``, every
    output sums all branches resampled to its size. Input and output: lists of ``(B, C_i, H / 2**i, W / 2**i)``."""

    def __init__(
        self,
        in_channels: list[int],
        num_blocks: int,
        reduce_ratio: int,
        module_type: Literal["LITE", "NAIVE"],
        with_fuse: bool,
        norm_cfg: NormConfig,
        with_cp: bool,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_branches = len(in_channels)
        self.module_type = module_type
        self.layers: nn.Module
        if module_type == "LITE":
            self.layers = nn.Sequential(
                *(ConditionalChannelWeighting(in_channels, reduce_ratio, norm_cfg, with_cp) for _ in range(num_blocks))
            )
        else:
            self.layers = nn.ModuleList(
                nn.Sequential(*(ShuffleUnit(c, c, 1, norm_cfg=norm_cfg, with_cp=with_cp) for _ in range(num_blocks)))
                for c in in_channels
            )
        self.fuse_layers = self._make_fuse_layers(norm_cfg) if with_fuse else None
        if with_fuse:
            self.relu = nn.ReLU()

    def _make_fuse_layers(self, norm_cfg: NormConfig) -> nn.ModuleList:
        ch = self.in_channels
        rows = nn.ModuleList()
        for i in range(self.num_branches):
            row: list[nn.Module | None] = []
            for j in range(self.num_branches):
                if j > i:  # coarser: 1x1 conv, norm, nearest upsampling
                    up = nn.Upsample(scale_factor=2 ** (j - i), mode="nearest")
                    row.append(
                        nn.Sequential(nn.Conv2d(ch[j], ch[i], 1, bias=False), build_norm_layer(norm_cfg, ch[i])[1], up)
                    )
                elif j == i:
                    row.append(None)
                else:  # finer: (i - j) strided depthwise + 1x1 steps, ReLU between them
                    steps = [_dw_pw(ch[j], ch[j], ch[j], 2, norm_cfg, relu=True) for _ in range(i - j - 1)]
                    row.append(nn.Sequential(*steps, _dw_pw(ch[j], ch[j], ch[i], 2, norm_cfg, relu=False)))
            rows.append(nn.ModuleList(row))
        return rows

    def forward(self, x: list[Tensor]) -> list[Tensor]:
        if self.module_type == "LITE":
            out = self.layers(x)
        else:
            out = [branch(s) for branch, s in zip(self.layers, x, strict=True)]
        if self.fuse_layers is None:
            return out
        fused = []
        for i, row in enumerate(self.fuse_layers):
            # MMPose's sum, kept as its checkpoints were trained: it starts from branch 0 (itself for
            # i = 0, in place) and then adds every branch, so branch 0 counts twice
            y = out[0] if i == 0 else row[0](out[0])
            for j, (layer, s) in enumerate(zip(row, out, strict=True)):
                if j > i:  # the 1x1 conv and norm at the coarse size, upsampled by broadcasting into the sum
                    _add_upsampled_(y, layer[1](layer[0](s)), 2 ** (j - i))
                else:
                    y += s if i == j else layer(s)
            fused.append(self.relu(y))
        return fused


class LiteHRNet(FrozenStagesMixin, BaseBackbone):
    """Lite-HRNet backbone, and naive Lite-HRNet with ``module_type='NAIVE'``.

    Args:
        extra: stem, stages and head (:class:`LiteHRNetExtra`), as in MMPose's configs.
        in_channels: input image channels. Default 3.
        norm_cfg: norm layer config. Default ``dict(type='BN')``.
        norm_eval: keep BatchNorm layers in eval mode (frozen statistics) while training. Default False.
        with_cp: gradient checkpointing in the stem and blocks (less memory, slower). Default False.
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=...)`` to load weights; default None
            (convs from N(0, 0.001^2), unit norms, as MMPose).
    """

    #: a small working instance (``posekit plugins --check``)
    example_config = {
        "extra": {
            "stem": {"stem_channels": 8, "out_channels": 8, "expand_ratio": 1},
            "num_stages": 2,
            "stages_spec": {
                "num_modules": (1, 1),
                "num_branches": (2, 3),
                "num_blocks": (1, 1),
                "module_type": ("LITE", "NAIVE"),
                "with_fuse": (True, True),
                "reduce_ratios": (2, 2),
                "num_channels": ((8, 16), (8, 16, 32)),
            },
            "with_head": True,
        }
    }

    def __init__(
        self,
        extra: LiteHRNetExtra,
        in_channels: int = 3,
        norm_cfg: NormConfig = BN,
        norm_eval: bool = False,
        with_cp: bool = False,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        super().__init__()
        extra = as_config(LiteHRNetExtra, extra, "extra")
        self.extra = extra
        self.norm_eval = norm_eval
        self.init_cfg = init_cfg
        self.stem = Stem(in_channels, extra.stem, norm_cfg, with_cp)
        spec = extra.stages_spec
        pre = [extra.stem.out_channels]
        for i in range(extra.num_stages):
            channels = list(spec.num_channels[i])
            self.add_module(f"transition{i}", self._make_transition(pre, channels, norm_cfg))
            modules = [
                LiteHRModule(
                    channels,
                    spec.num_blocks[i],
                    spec.reduce_ratios[i],
                    spec.module_type[i],
                    spec.with_fuse[i],
                    norm_cfg,
                    with_cp,
                )
                for _ in range(spec.num_modules[i])
            ]
            self.add_module(f"stage{i}", nn.Sequential(*modules))
            pre = channels
        if extra.with_head:
            self.head_layer = IterativeHead(pre, norm_cfg)
        self.init_weights()

    @staticmethod
    def _make_transition(pre: list[int], cur: list[int], norm_cfg: NormConfig) -> nn.ModuleList:
        """Per branch of the new stage: a depthwise + 1x1 step where widths change, strided steps for new branches."""
        if len(cur) < len(pre):
            raise ConfigError(f"LiteHRNet: a stage has fewer branches ({cur}) than the one before it ({pre})")
        layers: list[nn.Module | None] = []
        for i, c in enumerate(cur):
            if i < len(pre):
                layers.append(_dw_pw(pre[i], pre[i], c, 1, norm_cfg, relu=True) if c != pre[i] else None)
            else:
                n = i + 1 - len(pre)
                steps = [
                    _dw_pw(pre[-1], pre[-1], c if k == n - 1 else pre[-1], 2, norm_cfg, relu=True) for k in range(n)
                ]
                layers.append(nn.Sequential(*steps))
        return nn.ModuleList(layers)

    def init_weights(self) -> None:
        """Convs from N(0, 0.001^2) and unit norms, or ``init_cfg``."""
        init_backbone(self, functools.partial(normal_init, std=0.001), self.init_cfg)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``(B, C, H, W)`` -> ``((B, C0, H/4, W/4),)``."""
        ys = [self.stem(x)]
        for i in range(self.extra.num_stages):
            transition = getattr(self, f"transition{i}")
            xs = [
                ys[min(j, len(ys) - 1)] if t is None else t(ys[min(j, len(ys) - 1)]) for j, t in enumerate(transition)
            ]
            ys = getattr(self, f"stage{i}")(xs)
        if self.extra.with_head:
            ys = self.head_layer(ys)
        return (ys[0],)
