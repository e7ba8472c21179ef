"""Datasets: annotation files in, :class:`~posekit.structures.PoseSample` out (images load lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from posekit._lazy import lazy_attributes

if TYPE_CHECKING:
    from posekit.datasets._io import AnnotationFileNotFoundError, check_file, join_root
    from posekit.datasets.base import BaseDataset, FilterCfg

_LAZY = {
    "AnnotationFileNotFoundError": "posekit.datasets._io",
    "check_file": "posekit.datasets._io",
    "join_root": "posekit.datasets._io",
    "BaseDataset": "posekit.datasets.base",
    "FilterCfg": "posekit.datasets.base",
}

__all__ = [
    "AnnotationFileNotFoundError",
    "BaseDataset",
    "FilterCfg",
    "check_file",
    "join_root",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
