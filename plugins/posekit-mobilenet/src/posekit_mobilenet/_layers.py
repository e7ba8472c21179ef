"""What the mobile backbones share: channel rounding, staged freezing and the default init.

Each backbone is a stem ``conv1`` followed by stages; ``frozen_stages`` freezes the stem (0)
and the first n stages, ``norm_eval`` keeps every BatchNorm's statistics fixed while training.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import (
    ActConfig,
    NormConfig,
    PretrainedInit,
    batchnorms_eval,
    freeze,
    init_backbone,
    kaiming_init,
    load_pretrained,
    run_stages,
)
from posekit.protocols import BaseBackbone

BN = NormConfig(type="BN")
RELU = ActConfig(type="ReLU")


def make_divisible(value: float, divisor: int, min_value: int | None = None, min_ratio: float = 0.9) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``min_value``, default ``divisor``),
    one step up when rounding lost more than ``1 - min_ratio`` of it (MMPose's channel rounding)."""
    rounded = max(min_value or divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < min_ratio * value else rounded


def check_indices(name: str, out_indices: Sequence[int], frozen_stages: int, num_stages: int) -> None:
    """``out_indices`` in ``[0, num_stages)`` and ``frozen_stages`` in ``[-1, num_stages)``, else a ConfigError."""
    if not out_indices or any(not 0 <= i < num_stages for i in out_indices):
        raise ConfigError(f"{name}: out_indices {tuple(out_indices)} must be stage indices in [0, {num_stages})")
    if not -1 <= frozen_stages < num_stages:
        raise ConfigError(f"{name}: frozen_stages must be in [-1, {num_stages}), got {frozen_stages}")


class StagedBackbone(BaseBackbone):
    """A stem ``conv1`` and stages (from :meth:`stages`), frozen and ``norm_eval``-ed as MMPose's mobile nets."""

    conv1: nn.Module

    def __init__(
        self,
        num_stages: int,
        out_indices: Sequence[int],
        frozen_stages: int,
        norm_eval: bool,
        init_cfg: PretrainedInit | None,
    ) -> None:
        super().__init__()
        check_indices(type(self).__name__, out_indices, frozen_stages, num_stages)
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.init_cfg = init_cfg

    def stages(self) -> list[nn.Module]:
        """The stages in order (stage i+1 is frozen by ``frozen_stages >= i + 1``)."""
        raise NotImplementedError

    def init_layers(self) -> None:
        """Kaiming-normal convs and unit norms (MMPose's default; ShuffleNet and ViPNAS override it)."""
        init_backbone(self, kaiming_init)

    def init_weights(self) -> None:
        """:meth:`init_layers`, then the ``init_cfg`` checkpoint if there is one."""
        self.init_layers()
        if self.init_cfg is not None:
            load_pretrained(self, self.init_cfg)

    def forward_stages(self, x: Tensor) -> tuple[Tensor, ...]:
        """Run the stages on the stem's output ``x``; the tuple of the ``out_indices`` stage outputs."""
        return run_stages(x, self.stages(), self.out_indices)

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            freeze(self.conv1)
        freeze(*self.stages()[: max(self.frozen_stages, 0)])

    def train(self, mode: bool = True) -> StagedBackbone:
        """Set training mode, keeping frozen stages (and, with ``norm_eval``, BatchNorms) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            batchnorms_eval(self)
        return self
