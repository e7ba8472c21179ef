"""ShuffleNetV2 backbone (`ShuffleNet V2 <https://arxiv.org/abs/1807.11164>`__), MMPose's state_dict keys.

Input ``(B, 3, H, W)``; a stride-4 stem (``conv1`` + max-pool), then stages 0-2 (``layers.0``-``layers.2``,
strides 8, 16, 32) and stage 3, a 1x1 conv (``layers.3``, stride 32).
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from posekit.nn import (
    ActConfig,
    ConvModule,
    NormConfig,
    PretrainedInit,
    ShuffleUnit,
    constant_init,
    is_norm,
    normal_init,
)
from posekit_mobilenet._layers import BN, RELU, StagedBackbone

#: output channels of the three stages and the last conv, per widen factor
CHANNELS: dict[float, tuple[int, int, int, int]] = {
    0.5: (48, 96, 192, 1024),
    1.0: (116, 232, 464, 1024),
    1.5: (176, 352, 704, 1024),
    2.0: (244, 488, 976, 2048),
}
STAGE_BLOCKS = (4, 8, 4)


class ShuffleNetBase(StagedBackbone):
    """What ShuffleNetV1 and V2 share: a stem ``conv1`` (stride 2) and a max-pool (stride 2), then the
    stages in ``layers``, initialized as MMPose does.

    Arguments of both (their own ``Args`` name the others):
        frozen_stages: freeze the stem (0) and stages 1..n (eval mode, no grad); -1 freezes nothing. Default -1.
        norm_cfg: norm layer config. Default ``dict(type='BN')``.
        act_cfg: activation config. Default ``dict(type='ReLU')``.
        norm_eval: keep BatchNorm layers in eval mode while training. Default False.
        with_cp: gradient checkpointing in the units (less memory, slower). Default False.
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=...)``; default None (MMPose's:
            N(0, 1/fan_in-channels) convs after the stem, norms 1 with bias 1e-4).
    """

    layers: nn.ModuleList

    def _stem(self, channels: int, norm_cfg: NormConfig, act_cfg: ActConfig) -> None:
        self.conv1 = ConvModule(3, channels, 3, stride=2, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layers = nn.ModuleList()

    def stages(self) -> list[nn.Module]:
        """``layers.0`` .. ``layers.n``."""
        return list(self.layers)

    def init_layers(self) -> None:
        """MMPose's initialization (:func:`init_shufflenet`)."""
        init_shufflenet(self)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``(B, 3, H, W)`` -> tuple of the ``out_indices`` stage outputs."""
        return self.forward_stages(self.maxpool(self.conv1(x)))


class ShuffleNetV2(ShuffleNetBase):
    """ShuffleNetV2: stem, three stages of 4, 8 and 4 units, and a 1x1 conv.

    Args:
        widen_factor: 0.5, 1.0, 1.5 or 2.0 (the paper's widths). Default 1.0.
        out_indices: stages whose output is returned, in ``[0, 4)``. Default (3,).
        frozen_stages, norm_cfg, act_cfg, norm_eval, with_cp, init_cfg: as :class:`ShuffleNetBase`.
    """

    example_config = {"widen_factor": 0.5}  # the smallest instance (posekit plugins --check)

    def __init__(
        self,
        widen_factor: Literal[0.5, 1.0, 1.5, 2.0] = 1.0,
        out_indices: tuple[int, ...] = (3,),
        frozen_stages: int = -1,
        norm_cfg: NormConfig = BN,
        act_cfg: ActConfig = RELU,
        norm_eval: bool = False,
        with_cp: bool = False,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        super().__init__(len(STAGE_BLOCKS) + 1, out_indices, frozen_stages, norm_eval, init_cfg)
        channels = CHANNELS[widen_factor]

        in_ch = 24
        self._stem(in_ch, norm_cfg, act_cfg)
        for out_ch, num_blocks in zip(channels, STAGE_BLOCKS, strict=False):
            units = []
            for j in range(num_blocks):
                units.append(ShuffleUnit(in_ch, out_ch, 2 if j == 0 else 1, norm_cfg, act_cfg, with_cp))
                in_ch = out_ch
            self.layers.append(nn.Sequential(*units))
        self.layers.append(ConvModule(in_ch, channels[-1], 1, norm_cfg=norm_cfg, act_cfg=act_cfg))
        self.init_weights()
        self._freeze_stages()


def init_shufflenet(model: nn.Module) -> None:
    """Norms 1 (bias 1e-4); convs N(0, 0.01^2) in the stem, N(0, (1 / in-channels-per-group)^2) elsewhere."""
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            normal_init(m, std=0.01 if "conv1" in name else 1.0 / m.weight.shape[1])
        elif is_norm(m):
            constant_init(m, 1.0, bias=1e-4)
