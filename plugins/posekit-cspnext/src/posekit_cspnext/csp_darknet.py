"""CSPDarknet backbone (YOLOv5 / YOLOX), as mmdet's ``mmdet/models/backbones/csp_darknet.py``.

Input ``(B, 3, H, W)``. A Focus stem (space-to-depth, then a 3x3 ConvModule), then 4 (P5) or 5 (P6)
stages, each a strided 3x3 conv, [an SPP bottleneck in the last stage] and a CSP layer of Darknet
bottlenecks (1x1 conv, 3x3 conv). Layer ``i`` of ``("stem", "stage1", ...)`` outputs
``(B, C_i, H / 2**(i+1), W / 2**(i+1))`` with ``C = (64, 128, 256, 512, 1024) * widen_factor`` (P5).
YOLOX-s / RTMO-s use ``deepen_factor=0.33, widen_factor=0.5``. State_dict keys equal mmdet's
(``stem.conv.conv.weight``, ``stage1.1.blocks.0.conv2.bn.running_mean``, ...).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from posekit.nn import ActConfig, ConvModule, NormConfig, PretrainedInit
from posekit_cspnext._layers import CSP_BN, CSPBackbone, StageSetting, arch_settings

ARCH_SETTINGS = arch_settings(9)


class Focus(nn.Module):
    """Space-to-depth then a ConvModule: ``(B, C, H, W)`` -> ``(B, out, H/2, W/2)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, norm_cfg: NormConfig, act_cfg: ActConfig):
        super().__init__()
        pad = (kernel_size - 1) // 2
        self.conv = ConvModule(
            in_channels * 4, out_channels, kernel_size, padding=pad, norm_cfg=norm_cfg, act_cfg=act_cfg
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(torch.cat((x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]), dim=1))


class CSPDarknet(CSPBackbone):
    """CSP-Darknet of YOLOv5 / YOLOX (`YOLOX <https://arxiv.org/abs/2107.08430>`__), used by RTMO and YOLOX-Pose.

    Args:
        arch, deepen_factor, widen_factor, out_indices, frozen_stages, arch_ovewrite, spp_kernal_sizes, norm_cfg:
            as :class:`~posekit_cspnext._layers.CSPBackbone`.
        use_depthwise: depthwise-separable strided and bottleneck 3x3 convs. Default False.
        act_cfg: activation config. Default ``dict(type='Swish')``.
        norm_eval: keep BatchNorm layers in eval mode while training. Default False.
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=...)``; default None (mmdet's init:
            Kaiming-uniform convs with a=sqrt(5), fan_in; unit norms).
    """

    example_config = {"deepen_factor": 0.33, "widen_factor": 0.125}  # posekit plugins --check

    def __init__(
        self,
        arch: Literal["P5", "P6"] = "P5",
        deepen_factor: float = 1.0,
        widen_factor: float = 1.0,
        out_indices: tuple[int, ...] = (2, 3, 4),
        frozen_stages: int = -1,
        use_depthwise: bool = False,
        arch_ovewrite: tuple[StageSetting, ...] | None = None,
        spp_kernal_sizes: tuple[int, ...] = (5, 9, 13),
        norm_cfg: NormConfig = CSP_BN,
        act_cfg: ActConfig = ActConfig(type="Swish"),
        norm_eval: bool = False,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        super().__init__()
        setting = tuple(arch_ovewrite) if arch_ovewrite else ARCH_SETTINGS[arch]
        self.check_layers(setting, out_indices, frozen_stages, norm_eval, init_cfg)
        self.stem = Focus(3, int(setting[0][0] * widen_factor), 3, norm_cfg, act_cfg)
        self.build_stages(setting, widen_factor, deepen_factor, use_depthwise, spp_kernal_sizes, norm_cfg, act_cfg)
