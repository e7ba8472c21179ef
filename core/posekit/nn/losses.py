"""What keypoint losses share: MMPose's ``use_target_weight`` / ``loss_weight`` and weight broadcasting.

Dimensions: N instances, K keypoints, then any trailing dims (D coordinates, H x W maps);
keypoint weights ``(N, K)`` or ``(N, K, 1)`` broadcast over the trailing dims.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def expand_target_weight(name: str, target: Tensor, target_weight: Tensor | None) -> Tensor:
    """``target_weight`` ``(N, K)``/``(N, K, 1)`` with unit axes added to broadcast against ``target (N, K, ...)``."""
    if target_weight is None:
        raise ValueError(f"{name}: target_weight is required with use_target_weight=True")
    weight = target_weight.reshape(*target_weight.shape, *(1,) * (target.ndim - target_weight.ndim))
    try:
        fits = torch.broadcast_shapes(weight.shape, target.shape) == target.shape
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(
            f"{name}: target_weight of shape {tuple(target_weight.shape)} does not broadcast against the target "
            f"{tuple(target.shape)}; expected (N, K) or (N, K, 1)"
        )
    return weight


class WeightedKeypointLoss(nn.Module):
    """A keypoint loss with MMPose's ``use_target_weight`` and ``loss_weight``; ``forward`` is the subclass's."""

    def __init__(self, use_target_weight: bool = False, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight
        self.loss_weight = loss_weight

    def target_weight(self, target: Tensor, target_weight: Tensor | None) -> Tensor:
        """:func:`expand_target_weight` under this loss's name."""
        return expand_target_weight(type(self).__name__, target, target_weight)
