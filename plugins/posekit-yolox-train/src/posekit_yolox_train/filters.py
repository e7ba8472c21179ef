"""``FilterAnnotations``: drop instances with too small a box or area, or too few visible keypoints (MMPose's)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from posekit.structures import PoseSample
from posekit.transforms.base import BaseTransform


class FilterAnnotations(BaseTransform):
    """Keep the instances passing every enabled test; every per-instance field is filtered alike.

    Tests: a box wider and taller than ``min_gt_bbox_wh`` (``by_box``), an area of at least
    ``min_gt_area`` (``by_area``), at least ``min_kpt_vis`` visible keypoints (``by_kpt``).
    When no instance passes, the sample is dropped (None) if ``keep_empty``, else kept with
    no instance — MMPose's behaviour, whose switch reads the other way round.

    Args:
        min_gt_bbox_wh: minimum (w, h) of a box, exclusive (default (1, 1)).
        min_gt_area: minimum area (default 1).
        min_kpt_vis: minimum number of visible keypoints (default 1).
        by_box: test the boxes (default False).
        by_area: test the areas (default False).
        by_kpt: test the keypoints (default True).
        keep_empty: drop a sample left with no instance (default True).
    """

    train_only = True
    example_config: ClassVar[dict[str, Any]] = {"by_box": True, "by_kpt": True, "keep_empty": False}

    def __init__(
        self,
        min_gt_bbox_wh: tuple[float, float] = (1, 1),
        min_gt_area: float = 1,
        min_kpt_vis: int = 1,
        by_box: bool = False,
        by_area: bool = False,
        by_kpt: bool = True,
        keep_empty: bool = True,
    ) -> None:
        if not (by_box or by_area or by_kpt):
            raise ValueError("FilterAnnotations: enable at least one of by_box, by_area, by_kpt")
        self.min_gt_bbox_wh = min_gt_bbox_wh
        self.min_gt_area = min_gt_area
        self.min_kpt_vis = min_kpt_vis
        self.by_box = by_box
        self.by_area = by_area
        self.by_kpt = by_kpt
        self.keep_empty = keep_empty

    def __call__(self, sample: PoseSample) -> PoseSample | None:
        n = sample.num_instances
        if n == 0:
            return sample
        keep = np.ones(n, dtype=bool)
        if self.by_box and len(sample.bbox) == n:
            b = sample.bbox
            keep &= (b[:, 2] - b[:, 0] > self.min_gt_bbox_wh[0]) & (b[:, 3] - b[:, 1] > self.min_gt_bbox_wh[1])
        if self.by_area and len(sample.area) == n:
            keep &= sample.area >= self.min_gt_area
        if self.by_kpt:
            visible = sample.keypoints_visible
            visible = visible[..., 0] if visible.ndim == 3 else visible
            keep &= visible.sum(axis=1) >= self.min_kpt_vis
        if not keep.any() and self.keep_empty:
            return None
        sample.select_instances(keep)
        return sample
