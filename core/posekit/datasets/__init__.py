"""Datasets: annotation files in, :class:`~posekit.structures.PoseSample` out (images load lazily).

- :class:`CocoDataset`: any COCO-format keypoint file (COCO, CrowdPose, AP-10K, OneHand10K,
  WFLW, PoseTrack18, ...), top-down or bottom-up, or detection boxes for evaluation;
- :class:`CocoWholeBodyDataset`: COCO-WholeBody's 133 keypoints;
- :class:`MpiiDataset`: MPII in MMPose's json layout;
- :class:`Human36mDataset`: Human3.6M windows for 2D-to-3D lifting.

Classes are imported on first access (they pull in torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from posekit._lazy import lazy_attributes

if TYPE_CHECKING:
    from posekit.datasets._io import AnnotationFileNotFoundError
    from posekit.datasets.base import BaseDataset, FilterCfg
    from posekit.datasets.coco import CocoDataset, CocoWholeBodyDataset
    from posekit.datasets.h36m import Human36mDataset
    from posekit.datasets.mpii import MpiiDataset

_LAZY = {
    "AnnotationFileNotFoundError": "posekit.datasets._io",
    "BaseDataset": "posekit.datasets.base",
    "FilterCfg": "posekit.datasets.base",
    "CocoDataset": "posekit.datasets.coco",
    "CocoWholeBodyDataset": "posekit.datasets.coco",
    "MpiiDataset": "posekit.datasets.mpii",
    "Human36mDataset": "posekit.datasets.h36m",
}

__all__ = [
    "AnnotationFileNotFoundError",
    "BaseDataset",
    "CocoDataset",
    "CocoWholeBodyDataset",
    "FilterCfg",
    "Human36mDataset",
    "MpiiDataset",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
