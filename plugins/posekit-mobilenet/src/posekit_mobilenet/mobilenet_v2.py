"""MobileNetV2 backbone (`MobileNetV2 <https://arxiv.org/abs/1801.04381>`__), MMPose's state_dict keys.

Input ``(B, 3, H, W)``; stage i (0-6: the inverted-residual layers ``layer1``-``layer7``, 7: the
1x1 ``conv2``) has stride ``(2, 4, 8, 16, 16, 32, 32, 32)[i]``.
"""

from __future__ import annotations

from torch import Tensor, nn

from posekit.nn import (
    ActConfig,
    ConvModule,
    NormConfig,
    PretrainedInit,
    run_block,
)
from posekit_mobilenet._layers import BN, StagedBackbone, make_divisible

_RELU6 = ActConfig(type="ReLU6")

#: per layer: expand ratio, output channels (before ``widen_factor``), blocks, stride of the first block
ARCH_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class InvertedResidual(nn.Module):
    """1x1 expansion (unless ``expand_ratio`` is 1), 3x3 depthwise, linear 1x1 projection; identity shortcut
    when the stride is 1 and the channels match. ``(B, in_channels, H, W)`` -> ``(B, out_channels, H/s, W/s)``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        stride: stride of the depthwise conv, 1 or 2.
        expand_ratio: hidden channels = ``round(in_channels * expand_ratio)``.
        norm_cfg: norm layer config. Default BN.
        act_cfg: activation config. Default ReLU6.
        with_cp: gradient checkpointing. Default False.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        expand_ratio: float,
        norm_cfg: NormConfig = BN,
        act_cfg: ActConfig = _RELU6,
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        self.with_cp = with_cp
        self.use_res_connect = stride == 1 and in_channels == out_channels
        hidden = round(in_channels * expand_ratio)
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvModule(in_channels, hidden, 1, norm_cfg=norm_cfg, act_cfg=act_cfg))
        layers += [
            ConvModule(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, norm_cfg=norm_cfg, act_cfg=act_cfg),
            ConvModule(hidden, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None),
        ]
        self.conv = nn.Sequential(*layers)

    def _forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)

    def forward(self, x: Tensor) -> Tensor:
        return run_block(self._forward, x, with_cp=self.with_cp)


class MobileNetV2(StagedBackbone):
    """MobileNetV2: a stride-2 stem, seven inverted-residual layers and a 1x1 conv to 1280 channels.

    Args:
        widen_factor: channel multiplier (rounded to multiples of 8); the last conv keeps 1280 channels
            unless the factor exceeds 1. Default 1.0.
        out_indices: stages whose output is returned, in ``[0, 8)``. Default (7,).
        frozen_stages: freeze the stem (0) and stages 1..n (eval mode, no grad); -1 freezes nothing. Default -1.
        norm_cfg: norm layer config. Default ``dict(type='BN')``.
        act_cfg: activation config. Default ``dict(type='ReLU6')``.
        norm_eval: keep BatchNorm layers in eval mode while training. Default False.
        with_cp: gradient checkpointing in the blocks (less memory, slower). Default False.
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=...)``; default None (Kaiming-normal
            convs, unit norms).
    """

    example_config = {"widen_factor": 0.25}  # a small working instance (posekit plugins --check)

    def __init__(
        self,
        widen_factor: float = 1.0,
        out_indices: tuple[int, ...] = (7,),
        frozen_stages: int = -1,
        norm_cfg: NormConfig = BN,
        act_cfg: ActConfig = _RELU6,
        norm_eval: bool = False,
        with_cp: bool = False,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        super().__init__(len(ARCH_SETTINGS) + 1, out_indices, frozen_stages, norm_eval, init_cfg)
        self.widen_factor = widen_factor

        in_ch = make_divisible(32 * widen_factor, 8)
        self.conv1 = ConvModule(3, in_ch, 3, stride=2, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.layers: list[str] = []
        for i, (expand_ratio, channels, num_blocks, stride) in enumerate(ARCH_SETTINGS):
            out_ch = make_divisible(channels * widen_factor, 8)
            blocks = []
            for j in range(num_blocks):
                blocks.append(
                    InvertedResidual(in_ch, out_ch, stride if j == 0 else 1, expand_ratio, norm_cfg, act_cfg, with_cp)
                )
                in_ch = out_ch
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            self.layers.append(f"layer{i + 1}")
        self.out_channel = int(1280 * widen_factor) if widen_factor > 1.0 else 1280
        self.conv2 = ConvModule(in_ch, self.out_channel, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.layers.append("conv2")

        self.init_weights()
        self._freeze_stages()

    def stages(self) -> list[nn.Module]:
        """``layer1`` .. ``layer7`` and ``conv2``."""
        return [getattr(self, name) for name in self.layers]

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``(B, 3, H, W)`` -> tuple of the ``out_indices`` stage outputs."""
        return self.forward_stages(self.conv1(x))
