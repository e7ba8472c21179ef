"""Evaluation metrics: the :class:`BaseMetric` protocol and the numpy functions of :mod:`posekit.metrics.functional`."""

from __future__ import annotations

from posekit._lazy import lazy_attributes

_LAZY: dict[str, str] = {
    "BaseMetric": "posekit.metrics.base",
}

__all__ = list(_LAZY)


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
