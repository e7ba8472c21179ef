"""Evaluation metrics: the :class:`BaseMetric` protocol and pure numpy functions.

Metric classes are plugins registered under ``posekit.metrics`` (COCO keypoint AP/AR and
PCK / AUC / EPE / NME ship with posekit-datasets) and are built by name; :mod:`posekit.metrics.functional`
holds the numpy functions they use (PCK, AUC, EPE, NME, OKS and its NMS).
Names are imported on first access, so ``import posekit.metrics`` stays cheap.
"""

from __future__ import annotations

from posekit._lazy import lazy_attributes

_LAZY: dict[str, str] = {
    "BaseMetric": "posekit.metrics.base",
}

__all__ = list(_LAZY)


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
