"""ResNet and ResNetV1d backbones, as MMPose's ``mmpose/models/backbones/resnet.py``.

Input ``(B, in_channels, H, W)``; output a tuple with one feature map per ``out_indices`` entry,
stage ``i`` giving ``(B, base_channels * expansion * 2**i, H / 4 / prod(strides[:i+1]), ...)``
(e.g. ResNet-50 at 256x192: ``(B, 2048, 8, 6)`` for ``out_indices=(3,)``). State_dict keys equal
MMPose's (``conv1``, ``bn1``, ``layer1.0.conv1``, ... or ``stem.0.conv`` with ``deep_stem``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import (
    BasicBlock,
    Bottleneck,
    ConvModule,
    FrozenStagesMixin,
    NamedNorms,
    NormConfig,
    PretrainedInit,
    add_conv_norm,
    build_norm_layer,
    get_expansion,
    init_backbone,
    kaiming_init,
    run_stages,
)
from posekit.protocols import BaseBackbone

Depth = Literal[18, 34, 50, 101, 152]
Style = Literal["pytorch", "caffe"]

#: depth -> (block, blocks per stage)
ArchSettings = dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, ...]]]
ARCH_SETTINGS: ArchSettings = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}
BN = NormConfig(type="BN", requires_grad=True)


def make_res_layer(
    block: type[BasicBlock] | type[Bottleneck],
    num_blocks: int,
    in_channels: int,
    out_channels: int,
    expansion: int,
    stride: int,
    dilation: int,
    style: Style,
    avg_down: bool,
    with_cp: bool,
    norm_cfg: NormConfig,
    block_kwargs: Mapping[str, Any] | None = None,
) -> nn.Sequential:
    """One stage: ``num_blocks`` blocks, the first one strided with a projection shortcut if needed.

    With ``avg_down`` the shortcut is ``AvgPool(stride) -> 1x1 conv -> norm`` (ResNet-D) instead of
    a strided 1x1 conv. ``block_kwargs`` go to every block (a variant's own block arguments).
    """
    downsample = None
    if stride != 1 or in_channels != out_channels:
        layers: list[nn.Module] = []
        conv_stride = stride
        if avg_down and stride != 1:
            conv_stride = 1
            layers.append(nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False))
        layers.append(nn.Conv2d(in_channels, out_channels, 1, conv_stride, bias=False))
        layers.append(build_norm_layer(norm_cfg, out_channels)[1])
        downsample = nn.Sequential(*layers)
    blocks = [
        block(
            in_channels if i == 0 else out_channels,
            out_channels,
            expansion=expansion,
            stride=stride if i == 0 else 1,
            dilation=dilation,
            downsample=downsample if i == 0 else None,
            style=style,
            with_cp=with_cp,
            norm_cfg=norm_cfg,
            **(block_kwargs or {}),
        )
        for i in range(num_blocks)
    ]
    return nn.Sequential(*blocks)


class StemAndStages(FrozenStagesMixin, NamedNorms, BaseBackbone):
    """What ResNet and ViPNAS_ResNet share: a stride-4 stem (``conv1``/``bn1`` + max-pool, or a deep
    ``stem``), then stages ``layer1`` .. ``layerN``; freezing, ``norm_eval`` and the forward.

    A subclass sets ``deep_stem``, ``out_indices``, ``frozen_stages`` and ``norm_eval`` and calls
    :meth:`make_stem`, then :meth:`add_stages`.
    """

    deep_stem: bool
    out_indices: tuple[int, ...]
    frozen_stages: int
    res_layers: list[str]

    def check_stages(
        self,
        num_stages: int,
        strides: tuple[int, ...],
        dilations: tuple[int, ...],
        out_indices: tuple[int, ...],
        frozen_stages: int,
    ) -> None:
        """One stride and dilation per stage, ``out_indices`` in ``[0, num_stages)``, ``frozen_stages`` in
        ``[-1, num_stages]``; else a ConfigError naming the backbone."""
        name = type(self).__name__
        if not len(strides) == len(dilations) == num_stages:
            raise ConfigError(
                f"{name}: strides {tuple(strides)} and dilations {tuple(dilations)} need one entry per stage "
                f"(num_stages={num_stages})"
            )
        if not out_indices or not all(0 <= i < num_stages for i in out_indices):
            raise ConfigError(f"{name}: out_indices {tuple(out_indices)} must be stage indices in [0, {num_stages})")
        if not -1 <= frozen_stages <= num_stages:
            raise ConfigError(f"{name}: frozen_stages must be in [-1, {num_stages}], got {frozen_stages}")

    def make_stem(self, in_channels: int, stem_channels: int, kernel_size: int, norm_cfg: NormConfig) -> None:
        """``conv1`` (``kernel_size``, stride 2) + norm + ReLU, or with ``deep_stem`` three 3x3 ConvModules;
        then a stride-2 max-pool."""
        if self.deep_stem:
            half = stem_channels // 2
            self.stem = nn.Sequential(
                ConvModule(in_channels, half, 3, stride=2, padding=1, norm_cfg=norm_cfg),
                ConvModule(half, half, 3, stride=1, padding=1, norm_cfg=norm_cfg),
                ConvModule(half, stem_channels, 3, stride=1, padding=1, norm_cfg=norm_cfg),
            )
        else:
            conv = nn.Conv2d(in_channels, stem_channels, kernel_size, stride=2, padding=kernel_size // 2, bias=False)
            add_conv_norm(self, 1, conv, norm_cfg)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def add_stages(
        self,
        stages: list[tuple[type[BasicBlock] | type[Bottleneck], int, int, int, int, Mapping[str, Any]]],
        strides: tuple[int, ...],
        dilations: tuple[int, ...],
        style: Style,
        avg_down: bool,
        with_cp: bool,
        norm_cfg: NormConfig,
    ) -> None:
        """``layer1``, ``layer2``, ... (:func:`make_res_layer`), one per ``(block, num_blocks, in_channels,
        out_channels, expansion, block_kwargs)``; ``res_layers`` names them, ``feat_dim`` is the last's channels."""
        self.res_layers = []
        for i, (block, num_blocks, in_ch, out_ch, expansion, kwargs) in enumerate(stages):
            layer = make_res_layer(
                block, num_blocks, in_ch, out_ch, expansion, strides[i], dilations[i], style, avg_down, with_cp,
                norm_cfg, kwargs,
            )  # fmt: skip
            self.add_module(f"layer{i + 1}", layer)
            self.res_layers.append(f"layer{i + 1}")
            self.feat_dim = out_ch

    def frozen_modules(self) -> list[nn.Module]:
        """The stem (stage 0) and ``layer1`` .. ``layer{frozen_stages}``."""
        if self.frozen_stages < 0:
            return []
        stem = [self.stem] if self.deep_stem else [self.conv1, self.norm1]
        return stem + [getattr(self, f"layer{i}") for i in range(1, self.frozen_stages + 1)]

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``(B, C, H, W)`` -> tuple of the ``out_indices`` stage outputs."""
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        return run_stages(self.maxpool(x), (getattr(self, name) for name in self.res_layers), self.out_indices)


class ResNet(StemAndStages):
    """ResNet backbone (`Deep Residual Learning <https://arxiv.org/abs/1512.03385>`__).

    Args:
        depth: 18, 34 (BasicBlock) or 50, 101, 152 (Bottleneck).
        in_channels: input image channels. Default 3.
        stem_channels: output channels of the stem. Default 64.
        base_channels: channels of the first stage before expansion. Default 64.
        expansion: block expansion; default None (1 for BasicBlock, 4 for Bottleneck).
        num_stages: number of stages, 1-4. Default 4.
        strides: stride of the first block of each stage. Default (1, 2, 2, 2).
        dilations: dilation of each stage. Default (1, 1, 1, 1).
        out_indices: stages whose output is returned, 0-based. Default (3,).
        style: ``pytorch`` (stride on the 3x3 conv, default) or ``caffe`` (on the first 1x1).
        deep_stem: three 3x3 convs instead of the 7x7 stem conv. Default False.
        avg_down: average-pool then 1x1 conv in strided shortcuts. Default False.
        frozen_stages: freeze the stem (0) and stages 1..n (eval mode, no grad); -1 freezes nothing. Default -1.
        norm_cfg: norm layer config. Default ``dict(type='BN', requires_grad=True)``.
        norm_eval: keep BatchNorm layers in eval mode (frozen statistics) while training. Default False.
        with_cp: gradient checkpointing in the blocks (less memory, slower). Default False.
        zero_init_residual: start each block's last norm at 0 so blocks begin as identities. Default True.
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=...)`` to load weights; default None
            (Kaiming-normal convs, unit norms).
    """

    example_config = {"depth": 18, "stem_channels": 8, "base_channels": 8}  # a small working instance
    #: depth -> (block, blocks per stage); a variant (SEResNet, ResNeXt, ...) names its own blocks
    arch_settings: ClassVar[ArchSettings] = ARCH_SETTINGS

    def __init__(
        self,
        depth: Depth,
        in_channels: int = 3,
        stem_channels: int = 64,
        base_channels: int = 64,
        expansion: int | None = None,
        num_stages: Literal[1, 2, 3, 4] = 4,
        strides: tuple[int, ...] = (1, 2, 2, 2),
        dilations: tuple[int, ...] = (1, 1, 1, 1),
        out_indices: tuple[int, ...] = (3,),
        style: Style = "pytorch",
        deep_stem: bool = False,
        avg_down: bool = False,
        frozen_stages: int = -1,
        norm_cfg: NormConfig = BN,
        norm_eval: bool = False,
        with_cp: bool = False,
        zero_init_residual: bool = True,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if depth not in self.arch_settings:
            raise ConfigError(f"{name}: depth must be one of {sorted(self.arch_settings)}, got {depth}")
        self.check_stages(num_stages, strides, dilations, out_indices, frozen_stages)
        self.depth = depth
        self.out_indices = tuple(out_indices)
        self.deep_stem = deep_stem
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.zero_init_residual = zero_init_residual
        self.init_cfg = init_cfg
        self.base_channels = base_channels
        self.block, stage_blocks = self.arch_settings[depth]
        self.stage_blocks = stage_blocks[:num_stages]
        self.expansion = get_expansion(self.block, expansion)

        self.make_stem(in_channels, stem_channels, 7, norm_cfg)

        channels = [stem_channels] + [base_channels * self.expansion * 2**i for i in range(len(self.stage_blocks))]
        stages = [
            (self.block, n, channels[i], channels[i + 1], self.expansion, self.block_kwargs())
            for i, n in enumerate(self.stage_blocks)
        ]
        self.add_stages(stages, strides, dilations, style, avg_down, with_cp, norm_cfg)

        self.init_weights()
        self.freeze_stages()

    def block_kwargs(self) -> dict[str, Any]:
        """Arguments every block gets besides the ResNet ones (a variant's own, e.g. SEResNet's ``se_ratio``)."""
        return {}

    def init_weights(self) -> None:
        """Kaiming-normal convs and unit norms (zero last norms with ``zero_init_residual``), or ``init_cfg``."""
        init_backbone(self, kaiming_init, self.init_cfg, self.zero_init_residual)


class ResNetV1d(ResNet):
    """ResNet-D (`Bag of Tricks <https://arxiv.org/abs/1812.01187>`__): ResNet with ``deep_stem`` and ``avg_down``.

    Args: as :class:`ResNet`, without ``deep_stem`` and ``avg_down`` (both always on).
    """

    #: what ResNetV1d sets itself (the registry refuses them in a config)
    fixed_arguments: ClassVar[dict[str, Any]] = {"deep_stem": True, "avg_down": True}

    def __init__(self, depth: Depth, **kwargs: Any) -> None:
        super().__init__(depth, **self.fixed_arguments, **kwargs)
