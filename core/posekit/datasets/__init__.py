"""Datasets: annotation files in, :class:`~posekit.structures.PoseSample` out (images load lazily).

- :class:`CocoDataset`: any COCO-format keypoint file (COCO, CrowdPose, AP-10K, OneHand10K,
  WFLW, PoseTrack18, ...), top-down or bottom-up, or detection boxes for evaluation;
- :class:`CocoWholeBodyDataset`: COCO-WholeBody's 133 keypoints;
- :class:`MpiiDataset`: MPII in MMPose's json layout.

Classes are imported on first access (they pull in torch). The file readers a plugin's dataset
needs (``join_root``, ``load_array``, ``load_npz``, ``load_plain_pickle``: errors name the file)
are public here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from posekit._lazy import lazy_attributes

if TYPE_CHECKING:
    from posekit.datasets._io import (
        AnnotationFileNotFoundError,
        join_root,
        load_array,
        load_npz,
        load_plain_pickle,
    )
    from posekit.datasets.base import BaseDataset, FilterCfg
    from posekit.datasets.coco import CocoDataset, CocoWholeBodyDataset
    from posekit.datasets.mpii import MpiiDataset

_LAZY = {
    "AnnotationFileNotFoundError": "posekit.datasets._io",
    "join_root": "posekit.datasets._io",
    "load_array": "posekit.datasets._io",
    "load_npz": "posekit.datasets._io",
    "load_plain_pickle": "posekit.datasets._io",
    "BaseDataset": "posekit.datasets.base",
    "FilterCfg": "posekit.datasets.base",
    "CocoDataset": "posekit.datasets.coco",
    "CocoWholeBodyDataset": "posekit.datasets.coco",
    "MpiiDataset": "posekit.datasets.mpii",
}

__all__ = [
    "AnnotationFileNotFoundError",
    "BaseDataset",
    "CocoDataset",
    "CocoWholeBodyDataset",
    "FilterCfg",
    "MpiiDataset",
    "join_root",
    "load_array",
    "load_npz",
    "load_plain_pickle",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
