"""GlobalAveragePooling: each feature map ``(B, C, H, W)`` to a vector ``(B, C)``."""

from __future__ import annotations

from torch import Tensor

from posekit.protocols import BaseNeck


class GlobalAveragePooling(BaseNeck):
    """Average every feature map over its spatial (or temporal) dimensions: ``(B, C, ...) -> (B, C)``."""

    example_inputs = {"feat_shapes": [(8, 4, 4)]}  # features for posekit plugins --check

    def __init__(self) -> None:
        super().__init__()

    def forward(self, feats: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        return tuple(f.flatten(2).mean(dim=2) for f in feats)
