"""ChannelMapper neck (mmdet / MMPose): one ConvModule per input level to a common channel count.

``(B, C_i, H_i, W_i)`` per level in, ``(B, out_channels, H_i, W_i)`` per level out, plus
``num_outs - len(in_channels)`` extra stride-2 3x3 convs on the last level. Keys ``convs.<i>.conv``,
``convs.<i>.bn``, ``extra_convs.<j>.*`` as MMPose's. RTMO uses it as HybridEncoder's ``projector``.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import ActConfig, ConvModule, NormConfig
from posekit.protocols import BaseNeck


class ChannelMapper(BaseNeck):
    """Map every level to ``out_channels`` channels.

    Args:
        in_channels: channels of each input level.
        out_channels: channels of every output.
        kernel_size: kernel of the per-level convs. Default 3.
        conv_cfg: must be None (plain Conv2d). Default None.
        norm_cfg: norm after each conv; default None.
        act_cfg: activation after each conv; None for none. Default ReLU.
        num_outs: outputs; more than the inputs adds stride-2 convs on the last level. Default None (one per input).
        bias: conv bias; ``auto`` adds one only without a norm. Default auto.
    """

    example_config = {
        "in_channels": (8, 16),
        "out_channels": 8,
        "kernel_size": 1,
        "norm_cfg": {"type": "BN"},
        "num_outs": 3,
    }
    example_inputs = {"feat_shapes": [(8, 16, 16), (16, 8, 8)]}

    def __init__(
        self,
        in_channels: tuple[int, ...],
        out_channels: int,
        kernel_size: int = 3,
        conv_cfg: None = None,
        norm_cfg: NormConfig | None = None,
        act_cfg: ActConfig | None = ActConfig(type="ReLU"),
        num_outs: int | None = None,
        bias: bool | Literal["auto"] = "auto",
    ) -> None:
        super().__init__()
        num_outs = len(in_channels) if num_outs is None else num_outs
        if num_outs < len(in_channels):
            raise ConfigError(f"ChannelMapper: num_outs {num_outs} is fewer than the {len(in_channels)} in_channels")
        self.in_channels = tuple(in_channels)
        pad = (kernel_size - 1) // 2
        self.convs = nn.ModuleList(
            ConvModule(c, out_channels, kernel_size, padding=pad, bias=bias, norm_cfg=norm_cfg, act_cfg=act_cfg)
            for c in in_channels
        )
        self.extra_convs: nn.ModuleList | None = None
        if num_outs > len(in_channels):
            self.extra_convs = nn.ModuleList(
                ConvModule(
                    in_channels[-1] if i == len(in_channels) else out_channels,
                    out_channels,
                    3,
                    stride=2,
                    padding=1,
                    bias=bias,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg,
                )
                for i in range(len(in_channels), num_outs)
            )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        if len(inputs) != len(self.convs):
            raise ValueError(f"ChannelMapper: expected {len(self.convs)} feature levels, got {len(inputs)}")
        outs = [conv(x) for conv, x in zip(self.convs, inputs, strict=True)]
        for i, conv in enumerate(self.extra_convs or ()):
            outs.append(conv(inputs[-1] if i == 0 else outs[-1]))
        return tuple(outs)
