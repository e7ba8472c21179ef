"""ViPNAS_MobileNetV3 backbone, as MMPose's ``mmpose/models/backbones/vipnas_mbv3.py`` (`ViPNAS
<https://arxiv.org/abs/2105.10154>`__): a MobileNetV3 layout whose searched widths, expansions,
depths, kernels, groups, SE switches, strides and activations are per-stage lists.

Input ``(B, 3, H, W)``; a stem ``conv1`` then inverted residuals ``layer1`` .. ``layerN``
(N = ``sum(dep[1:])``, numbered across stages); output ``((B, wid[-1], H/s, W/s),)`` with
``s = prod(stride)`` (the default at 256x192: ``(B, 160, 8, 6)``).
"""

from __future__ import annotations

import functools
from typing import Literal

from posekit.errors import ConfigError
from posekit.nn import ActConfig, ConvModule, NormConfig, PretrainedInit, init_backbone, normal_init
from posekit_mobilenet._layers import BN
from posekit_mobilenet.mobilenet_v3 import InvertedResidual, LayeredBackbone

Act = Literal["ReLU", "HSwish"]


class ViPNAS_MobileNetV3(LayeredBackbone):
    """ViPNAS_MobileNetV3 backbone. Each list has the stem's entry (index 0; None where unused), then one per stage.

    Args:
        wid: stem width, then each stage's output width. Default (16, 16, 24, 40, 80, 112, 160).
        expan: hidden-width ratio per stage (1: no expansion conv). Default (None, 1, 5, 4, 5, 5, 6).
        dep: units per stage. Default (None, 1, 4, 4, 4, 4, 4).
        ks: stem kernel, then each stage's depthwise kernel. Default (3, 3, 7, 7, 5, 7, 5).
        group: depthwise groups per stage. Default (None, 8, 120, 20, 100, 280, 240).
        att: SE per stage. Default (None, True, True, False, True, True, True).
        stride: stem stride, then each stage's first-unit stride. Default (2, 1, 2, 2, 2, 1, 2).
        act: stem activation, then each stage's. Default (HSwish, ReLU, ReLU, ReLU, HSwish, HSwish, HSwish).
        norm_cfg: norm layer config. Default ``dict(type='BN')``.
        frozen_stages: freeze the stem (0) and units 1..n; -1 freezes nothing. Default -1.
        norm_eval: keep BatchNorm layers in eval mode while training. Default False.
        with_cp: gradient checkpointing in the units. Default False.
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=...)``; default None (convs from
            N(0, 0.001^2), unit norms, as MMPose).
    """

    example_config = {
        "wid": (8, 8, 16, 16),
        "expan": (None, 1, 2, 2),
        "dep": (None, 1, 2, 1),
        "ks": (3, 3, 5, 3),
        "group": (None, 8, 4, 4),
        "att": (None, True, False, True),
        "stride": (2, 1, 2, 2),
        "act": ("HSwish", "ReLU", "ReLU", "HSwish"),
    }

    def __init__(
        self,
        wid: tuple[int, ...] = (16, 16, 24, 40, 80, 112, 160),
        expan: tuple[int | None, ...] = (None, 1, 5, 4, 5, 5, 6),
        dep: tuple[int | None, ...] = (None, 1, 4, 4, 4, 4, 4),
        ks: tuple[int, ...] = (3, 3, 7, 7, 5, 7, 5),
        group: tuple[int | None, ...] = (None, 8, 120, 20, 100, 280, 240),
        att: tuple[bool | None, ...] = (None, True, True, False, True, True, True),
        stride: tuple[int, ...] = (2, 1, 2, 2, 2, 1, 2),
        act: tuple[Act, ...] = ("HSwish", "ReLU", "ReLU", "ReLU", "HSwish", "HSwish", "HSwish"),
        norm_cfg: NormConfig = BN,
        frozen_stages: int = -1,
        norm_eval: bool = False,
        with_cp: bool = False,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        lists = {"expan": expan, "dep": dep, "ks": ks, "group": group, "att": att, "stride": stride, "act": act}
        wrong = [f"{k} {tuple(v)}" for k, v in lists.items() if len(v) != len(wid)]
        if wrong:
            raise ConfigError(f"ViPNAS_MobileNetV3: {', '.join(wrong)} need one entry per wid entry ({len(wid)})")
        depths = [int(d or 0) for d in dep[1:]]
        super().__init__(sum(depths), (sum(depths) - 1,), frozen_stages, norm_eval, init_cfg)
        self.conv1 = ConvModule(3, wid[0], ks[0], stride[0], ks[0] // 2, norm_cfg=norm_cfg, act_cfg={"type": act[0]})
        blocks = []
        for i, depth in enumerate(depths, start=1):
            ratio = int(expan[i] or 1)
            act_cfg = ActConfig(type=act[i])
            for j in range(depth):
                in_ch = wid[i - 1] if j == 0 else wid[i]
                unit = InvertedResidual(
                    in_ch,
                    wid[i],
                    wid[i] * ratio,
                    ks[i],
                    group[i],
                    stride[i] if j == 0 else 1,
                    bool(att[i]),
                    ratio != 1,
                    norm_cfg,
                    act_cfg,
                    with_cp,
                )
                blocks.append(unit)
        self.add_layers(blocks)
        self.init_weights()
        self._freeze_stages()

    def init_layers(self) -> None:
        """Convs from N(0, 0.001^2) and unit norms (MMPose's ``init_cfg`` default)."""
        init_backbone(self, functools.partial(normal_init, std=0.001))
