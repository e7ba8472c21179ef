"""CSPNeXt backbone (RTMDet / RTMPose), as mmdet's ``mmdet/models/backbones/cspnext.py``.

Input ``(B, 3, H, W)``. A stride-2 stem of three 3x3 ConvModules, then 4 (P5) or 5 (P6) stages,
each a strided 3x3 ConvModule, [an SPP bottleneck in the last stage], and a CSP layer of
CSPNeXt blocks (3x3 conv, then a 5x5 depthwise-separable conv). Layer ``i`` of
``("stem", "stage1", ...)`` outputs ``(B, C_i, H / 2**(i+1), W / 2**(i+1))`` with
``C = (64, 128, 256, 512, 1024) * widen_factor // (2, 1, 1, 1, 1)`` (P5). RTMPose-t/s/m/l are
``deepen_factor`` / ``widen_factor`` pairs (0.167/0.375, 0.33/0.5, 0.67/0.75, 1.0/1.0).
State_dict keys equal mmdet's (``stem.0.conv.weight``, ``stage1.1.blocks.0.conv2.depthwise_conv``, ...).
"""

from __future__ import annotations

from typing import Literal

from torch import nn

from posekit.nn import ActConfig, ConvModule, NormConfig, PretrainedInit
from posekit_cspnext._layers import CSP_BN, CSPBackbone, StageSetting, arch_settings

ARCH_SETTINGS = arch_settings(6)


class CSPNeXt(CSPBackbone):
    """CSPNeXt backbone of RTMDet (`RTMDet <https://arxiv.org/abs/2212.07784>`__), used by RTMPose.

    Args:
        arch, deepen_factor, widen_factor, out_indices, frozen_stages, arch_ovewrite, spp_kernal_sizes, norm_cfg:
            as :class:`~posekit_cspnext._layers.CSPBackbone`.
        use_depthwise: depthwise-separable convs for the strided and block 3x3 convs. Default False.
        expand_ratio: CSP hidden channels / out channels. Default 0.5.
        channel_attention: a channel-attention gate in every CSP layer. Default True.
        act_cfg: activation config. Default ``dict(type='SiLU')``.
        norm_eval: keep BatchNorm layers in eval mode (frozen statistics) while training. Default False.
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=...)`` to load weights; default None
            (mmdet's init: Kaiming-uniform convs with a=sqrt(5), fan_in, zero biases; unit norms).
    """

    example_config = {
        "deepen_factor": 0.167,
        "widen_factor": 0.125,
    }  # posekit plugins --check

    def __init__(
        self,
        arch: Literal["P5", "P6"] = "P5",
        deepen_factor: float = 1.0,
        widen_factor: float = 1.0,
        out_indices: tuple[int, ...] = (2, 3, 4),
        frozen_stages: int = -1,
        use_depthwise: bool = False,
        expand_ratio: float = 0.5,
        arch_ovewrite: tuple[StageSetting, ...] | None = None,
        spp_kernal_sizes: tuple[int, ...] = (5, 9, 13),
        channel_attention: bool = True,
        norm_cfg: NormConfig = CSP_BN,
        act_cfg: ActConfig = ActConfig(type="SiLU"),
        norm_eval: bool = False,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        super().__init__()
        setting = tuple(arch_ovewrite) if arch_ovewrite else ARCH_SETTINGS[arch]
        self.check_layers(setting, out_indices, frozen_stages, norm_eval, init_cfg)
        stem_out = int(setting[0][0] * widen_factor)
        half = int(setting[0][0] * widen_factor // 2)
        self.stem = nn.Sequential(
            ConvModule(3, half, 3, stride=2, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg),
            ConvModule(half, half, 3, stride=1, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg),
            ConvModule(half, stem_out, 3, stride=1, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg),
        )
        self.build_stages(
            setting,
            widen_factor,
            deepen_factor,
            use_depthwise,
            spp_kernal_sizes,
            norm_cfg,
            act_cfg,
            expand_ratio=expand_ratio,
            cspnext=True,
            channel_attention=channel_attention,
        )
