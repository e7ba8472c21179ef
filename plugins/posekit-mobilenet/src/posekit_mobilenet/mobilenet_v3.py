"""MobileNetV3 backbone (`Searching for MobileNetV3 <https://arxiv.org/abs/1905.02244>`__) and its inverted
residual with squeeze-and-excitation (MMPose's ``backbones/utils/inverted_residual.py``), MMPose's keys.

Input ``(B, 3, H, W)``; a stride-2 stem ``conv1`` (HSwish), then one inverted residual per layer
(``layer1`` .. ``layer11`` for ``small``, ``layer15`` for ``big``); the last layer is at stride 32.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import (
    ActConfig,
    ConvModule,
    NormConfig,
    PretrainedInit,
    SELayer,
    run_block,
)
from posekit_mobilenet._layers import BN, RELU, StagedBackbone

#: the SE gate of MobileNetV3 and ViPNAS units: mmcv's HSigmoid(bias=1, divisor=2) = clamp((x + 1) / 2, 0, 1)
SE_ACTS = (ActConfig(type="ReLU"), ActConfig(type="HSigmoid", bias=1.0, divisor=2.0))


class InvertedResidual(nn.Module):
    """``expand_conv`` (1x1, unless ``with_expand_conv`` is off), ``depthwise_conv`` (k x k, grouped),
    an optional SE layer (``se``, ratio 4), ``linear_conv`` (1x1, no activation); identity shortcut when
    the stride is 1 and the channels match. ``(B, in_channels, H, W)`` -> ``(B, out_channels, H/s, W/s)``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        mid_channels: hidden channels (``in_channels`` without the expansion conv).
        kernel_size: depthwise kernel. Default 3.
        groups: depthwise groups; default None (``mid_channels``).
        stride: 1 or 2. Default 1.
        with_se: squeeze-and-excitation on the hidden channels. Default False.
        with_expand_conv: the 1x1 expansion conv. Default True.
        norm_cfg: norm layer config. Default BN.
        act_cfg: activation config. Default ReLU.
        with_cp: gradient checkpointing. Default False.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mid_channels: int,
        kernel_size: int = 3,
        groups: int | None = None,
        stride: int = 1,
        with_se: bool = False,
        with_expand_conv: bool = True,
        norm_cfg: NormConfig = BN,
        act_cfg: ActConfig = RELU,
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        if stride not in (1, 2) or (not with_expand_conv and mid_channels != in_channels):
            raise ConfigError(
                f"InvertedResidual: stride must be 1 or 2 (got {stride}); without the expansion conv mid_channels "
                f"({mid_channels}) must equal in_channels ({in_channels})"
            )
        self.with_res_shortcut = stride == 1 and in_channels == out_channels
        self.with_cp = with_cp
        if with_expand_conv:
            self.expand_conv = ConvModule(in_channels, mid_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        else:
            self.expand_conv = None
        self.depthwise_conv = ConvModule(
            mid_channels,
            mid_channels,
            kernel_size,
            stride,
            kernel_size // 2,
            groups=groups or mid_channels,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
        )
        self.se = SELayer(mid_channels, ratio=4, act_cfg=SE_ACTS) if with_se else None
        self.linear_conv = ConvModule(mid_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None)

    def _forward(self, x: Tensor) -> Tensor:
        out = x if self.expand_conv is None else self.expand_conv(x)
        out = self.depthwise_conv(out)
        if self.se is not None:
            out = self.se(out)
        out = self.linear_conv(out)
        return x + out if self.with_res_shortcut else out

    def forward(self, x: Tensor) -> Tensor:
        return run_block(self._forward, x, with_cp=self.with_cp)


#: per layer: kernel, hidden channels, output channels, SE, activation, stride
ARCH_SETTINGS: dict[str, tuple[tuple[int, int, int, bool, str, int], ...]] = {
    "small": (
        (3, 16, 16, True, "ReLU", 2),
        (3, 72, 24, False, "ReLU", 2),
        (3, 88, 24, False, "ReLU", 1),
        (5, 96, 40, True, "HSwish", 2),
        (5, 240, 40, True, "HSwish", 1),
        (5, 240, 40, True, "HSwish", 1),
        (5, 120, 48, True, "HSwish", 1),
        (5, 144, 48, True, "HSwish", 1),
        (5, 288, 96, True, "HSwish", 2),
        (5, 576, 96, True, "HSwish", 1),
        (5, 576, 96, True, "HSwish", 1),
    ),
    "big": (
        (3, 16, 16, False, "ReLU", 1),
        (3, 64, 24, False, "ReLU", 2),
        (3, 72, 24, False, "ReLU", 1),
        (5, 72, 40, True, "ReLU", 2),
        (5, 120, 40, True, "ReLU", 1),
        (5, 120, 40, True, "ReLU", 1),
        (3, 240, 80, False, "HSwish", 2),
        (3, 200, 80, False, "HSwish", 1),
        (3, 184, 80, False, "HSwish", 1),
        (3, 184, 80, False, "HSwish", 1),
        (3, 480, 112, True, "HSwish", 1),
        (3, 672, 112, True, "HSwish", 1),
        (5, 672, 160, True, "HSwish", 1),
        (5, 672, 160, True, "HSwish", 2),
        (5, 960, 160, True, "HSwish", 1),
    ),
}


class LayeredBackbone(StagedBackbone):
    """A stem ``conv1`` and inverted residuals ``layer1`` .. ``layerN`` (each one a stage)."""

    layers: list[str]

    def stages(self) -> list[nn.Module]:
        """``layer1`` .. ``layerN``."""
        return [getattr(self, name) for name in self.layers]

    def add_layers(self, blocks: list[InvertedResidual]) -> None:
        """Register ``blocks`` as ``layer1`` .. ``layerN``."""
        self.layers = []
        for i, block in enumerate(blocks):
            self.add_module(f"layer{i + 1}", block)
            self.layers.append(f"layer{i + 1}")

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``(B, 3, H, W)`` -> tuple of the ``out_indices`` layer outputs."""
        return self.forward_stages(self.conv1(x))


class MobileNetV3(LayeredBackbone):
    """MobileNetV3 (``small`` or ``big``): stem, then one inverted residual per layer of the arch table.

    Args:
        arch: ``small`` (11 layers) or ``big`` (15). Default ``small``.
        norm_cfg: norm layer config. Default ``dict(type='BN')``.
        out_indices: layers whose output is returned (negative counts from the end). Default (-1,).
        frozen_stages: freeze the stem (0) and layers 1..n; -1 freezes nothing. Default -1.
        norm_eval: keep BatchNorm layers in eval mode while training. Default False.
        with_cp: gradient checkpointing in the layers. Default False.
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=...)``; default None (Kaiming-normal
            convs, unit norms).
    """

    example_config = {"arch": "small", "out_indices": (2, -1)}

    def __init__(
        self,
        arch: Literal["small", "big"] = "small",
        norm_cfg: NormConfig = BN,
        out_indices: tuple[int, ...] = (-1,),
        frozen_stages: int = -1,
        norm_eval: bool = False,
        with_cp: bool = False,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        settings = ARCH_SETTINGS[arch]
        n = len(settings)
        if any(not -n <= i < n for i in out_indices):
            raise ConfigError(f"MobileNetV3: out_indices {tuple(out_indices)} must be in [-{n}, {n}) for arch {arch!r}")
        super().__init__(n, tuple(i % n for i in out_indices), frozen_stages, norm_eval, init_cfg)
        self.conv1 = ConvModule(3, 16, 3, 2, 1, norm_cfg=norm_cfg, act_cfg=ActConfig(type="HSwish"))
        blocks, in_ch = [], 16
        for k, mid, out, se, act, stride in settings:
            act_cfg = ActConfig(type=act)  # type: ignore[arg-type]
            blocks.append(InvertedResidual(in_ch, out, mid, k, None, stride, se, True, norm_cfg, act_cfg, with_cp))
            in_ch = out
        self.add_layers(blocks)
        self.feat_dim = in_ch
        self.init_weights()
        self._freeze_stages()
