"""VGG backbone, as MMPose's ``mmpose/models/backbones/vgg.py`` (`Very Deep Convolutional Networks
<https://arxiv.org/abs/1409.1556>`__).

Input ``(B, 3, H, W)``; stage ``i`` (3x3 ConvModules, then a 2x2 max-pool) gives
``(B, min(64 * 2**i, 512), H / 2**(i+1), W / 2**(i+1))`` (VGG-16 at 256x192, stage 4: ``(B, 512, 8, 6)``).
State_dict keys equal MMPose's: ``features.{j}.conv``/``features.{j}.bn`` (j counts the pools too) and
``classifier.{0,3,6}``.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import (
    ActConfig,
    ConvModule,
    FrozenStagesMixin,
    NormConfig,
    PretrainedInit,
    constant_init,
    is_norm,
    kaiming_init,
    load_pretrained,
    normal_init,
)
from posekit.protocols import BaseBackbone

#: depth -> convs per stage
ARCH_SETTINGS: dict[int, tuple[int, ...]] = {
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}


class VGG(FrozenStagesMixin, BaseBackbone):
    """VGG-11/13/16/19, with BatchNorm when ``norm_cfg`` is given.

    Args:
        depth: 11, 13, 16 or 19.
        num_classes: with a positive value, the three-linear classifier on the 7x7 map (its logits come
            last in the output); -1 (default) returns feature maps only.
        num_stages: stages, 1-5. Default 5.
        dilations: dilation of each stage's convs. Default (1, 1, 1, 1, 1).
        out_indices: stages whose output is returned; default None ((4,), or (5,) with a classifier:
            the logits only).
        frozen_stages: freeze stages 1..n (eval mode, no grad); -1 or 0 freezes nothing. Default -1.
        norm_cfg: norm layer config; default None (no norm: plain VGG).
        act_cfg: activation config. Default ``dict(type='ReLU')``.
        norm_eval: keep BatchNorm layers in eval mode while training. Default False.
        ceil_mode: ceil mode of the max-pools. Default False.
        with_last_pool: keep the last stage's max-pool. Default True.
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=...)``; default None (Kaiming-normal
            convs, unit norms, N(0, 0.01^2) linears).
    """

    example_config = {"depth": 11, "num_stages": 2, "dilations": (1, 1), "out_indices": (0, 1)}

    def __init__(
        self,
        depth: Literal[11, 13, 16, 19],
        num_classes: int = -1,
        num_stages: Literal[1, 2, 3, 4, 5] = 5,
        dilations: tuple[int, ...] = (1, 1, 1, 1, 1),
        out_indices: tuple[int, ...] | None = None,
        frozen_stages: int = -1,
        norm_cfg: NormConfig | None = None,
        act_cfg: ActConfig = ActConfig(type="ReLU"),
        norm_eval: bool = False,
        ceil_mode: bool = False,
        with_last_pool: bool = True,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        super().__init__()
        if len(dilations) != num_stages:
            raise ConfigError(f"VGG: dilations {tuple(dilations)} need one entry per stage (num_stages={num_stages})")
        if out_indices is None:
            out_indices = (5,) if num_classes > 0 else (4,)
        if not out_indices or max(out_indices) > num_stages:
            raise ConfigError(f"VGG: out_indices {tuple(out_indices)} must be at most num_stages ({num_stages})")
        self.num_classes = num_classes
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.init_cfg = init_cfg
        layers: list[nn.Module] = []
        self.stage_ends: list[int] = []  # index after each stage's last module in ``features``
        in_ch = 3
        for i, num_convs in enumerate(ARCH_SETTINGS[depth][:num_stages]):
            out_ch = 64 * 2**i if i < 4 else 512
            d = dilations[i]
            for _ in range(num_convs):
                layers.append(
                    ConvModule(in_ch, out_ch, 3, padding=d, dilation=d, bias=True, norm_cfg=norm_cfg, act_cfg=act_cfg)
                )
                in_ch = out_ch
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=ceil_mode))
            self.stage_ends.append(len(layers))
        if not with_last_pool:
            layers.pop()
            self.stage_ends[-1] -= 1
        self.features = nn.Sequential(*layers)
        if num_classes > 0:
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096),
                nn.ReLU(True),
                nn.Dropout(),
                nn.Linear(4096, 4096),
                nn.ReLU(True),
                nn.Dropout(),
                nn.Linear(4096, num_classes),
            )
        self.init_weights()
        self.freeze_stages()

    def init_weights(self) -> None:
        """Kaiming-normal convs, unit norms and N(0, 0.01^2) linears (MMPose's), or ``init_cfg``."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                kaiming_init(m)
            elif is_norm(m):
                constant_init(m, 1.0)
            elif isinstance(m, nn.Linear):
                normal_init(m, std=0.01)
        if self.init_cfg is not None:
            load_pretrained(self, self.init_cfg)

    def frozen_modules(self) -> list[nn.Module]:
        """The modules of stages 1..``frozen_stages``."""
        end = self.stage_ends[min(self.frozen_stages, len(self.stage_ends)) - 1] if self.frozen_stages > 0 else 0
        return list(self.features[:end])

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``(B, 3, H, W)`` -> tuple of the ``out_indices`` stage outputs (then the logits with a classifier)."""
        outs = []
        start = 0
        for i, end in enumerate(self.stage_ends):
            for layer in self.features[start:end]:
                x = layer(x)
            start = end
            if i in self.out_indices:
                outs.append(x)
        if self.num_classes > 0:
            outs.append(self.classifier(x.flatten(1)))
        return tuple(outs)
