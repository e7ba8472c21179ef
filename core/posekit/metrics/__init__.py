"""Evaluation metrics: COCO keypoint AP/AR, PCK / AUC / EPE / NME.

The metric classes (registered under ``posekit.metrics``) follow MMPose's names, arguments
and numbers; :mod:`posekit.metrics.functional` holds the pure numpy functions they use.
Names are imported on first access, so ``import posekit.metrics`` stays cheap.
"""

from __future__ import annotations

from posekit._lazy import lazy_attributes

_LAZY: dict[str, str] = {
    "BaseMetric": "posekit.metrics.base",
    "CocoMetric": "posekit.metrics.coco_metric",
    "evaluate_results_file": "posekit.metrics.coco_metric",
    "PCKAccuracy": "posekit.metrics.keypoint_metrics",
    "AUC": "posekit.metrics.keypoint_metrics",
    "EPE": "posekit.metrics.keypoint_metrics",
    "NME": "posekit.metrics.keypoint_metrics",
}

__all__ = list(_LAZY)


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
