"""FeatureMapProcessor: select, concatenate and rescale feature maps (as MMPose's)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from posekit.protocols import BaseNeck


class FeatureMapProcessor(BaseNeck):
    """Select feature maps, optionally resize them to the first one's size and concatenate.

    ``select_index`` None keeps all; ``scale_factor`` resizes the result(s) bilinearly (1.0: none).
    """

    example_config = {"select_index": (0,)}  # a small working instance and its input (posekit plugins --check)
    example_inputs = {"feat_shapes": [(8, 4, 4), (16, 2, 2)]}

    def __init__(
        self,
        select_index: int | tuple[int, ...] | None = None,
        concat: bool = False,
        scale_factor: float = 1.0,
        apply_relu: bool = False,
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(select_index, int):
            select_index = (select_index,)
        self.select_index = select_index
        self.concat = concat
        if scale_factor <= 0:
            raise ValueError(f"scale_factor must be positive, got {scale_factor}")
        self.scale_factor = scale_factor
        self.apply_relu = apply_relu
        self.align_corners = align_corners

    def _resize(self, x: Tensor, size: tuple[int, ...] | None = None, scale: float | None = None) -> Tensor:
        return F.interpolate(x, size=size, scale_factor=scale, mode="bilinear", align_corners=self.align_corners)

    def forward(self, feats: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """``feats``: maps ``(B, C_i, H_i, W_i)``; returns the processed tuple."""
        if self.select_index is not None:
            feats = tuple(feats[i] for i in self.select_index)
        if self.concat:
            size = feats[0].shape[-2:]
            feats = (torch.cat([feats[0], *(self._resize(f, size=tuple(size)) for f in feats[1:])], dim=1),)
        if self.apply_relu:
            feats = tuple(F.relu(f) for f in feats)
        if self.scale_factor != 1.0:
            feats = tuple(self._resize(f, scale=self.scale_factor) for f in feats)
        return tuple(feats)
