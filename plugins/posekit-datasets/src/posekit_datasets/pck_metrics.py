"""MMPose's dataset-specific PCK reports: ``MpiiPCKAccuracy`` (PCKh per joint group) and ``JhmdbPCKAccuracy``.

Both are the core's :class:`~posekit.metrics.PCKAccuracy` (same records and checks) with MMPose's
per-joint-group summaries of the per-keypoint PCK, in percent for MPII and fractions for JHMDB.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from posekit.errors import DataError
from posekit.metrics.functional import keypoint_pck_accuracy
from posekit_datasets.keypoint_metrics import NormItem, PCKAccuracy

#: joint groups as (name, left index, right index) in MPII's 16-keypoint order (left == right: one joint)
MPII_GROUPS: tuple[tuple[str, int, int], ...] = (
    ("Head", 9, 9),
    ("Shoulder", 13, 12),
    ("Elbow", 14, 11),
    ("Wrist", 15, 10),
    ("Hip", 3, 2),
    ("Knee", 4, 1),
    ("Ankle", 5, 0),
)
#: joint groups in JHMDB's 15-keypoint order
JHMDB_GROUPS: tuple[tuple[str, int, int], ...] = (
    ("Head", 2, 2),
    ("Sho", 3, 4),
    ("Elb", 7, 8),
    ("Wri", 11, 12),
    ("Hip", 5, 6),
    ("Knee", 9, 10),
    ("Ank", 13, 14),
)


def _check_k(name: str, k: int, expected: int) -> None:
    if k != expected:
        raise DataError(f"{name}: its joint groups are those of a {expected}-keypoint layout; the results have K={k}")


class MpiiPCKAccuracy(PCKAccuracy):
    """MPII's PCKh (MMPose's ``MpiiPCKAccuracy``): ``Head PCK`` ... ``Ankle PCK``, ``PCK``, ``PCK@0.1`` in percent.

    As MMPose: predictions move by +1 pixel (MPII's 1-based convention) before the distances; ``PCK``
    and ``PCK@0.1`` weight each joint by its visible count, leaving out the pelvis and thorax (6, 7).

    Args:
        thr: PCKh threshold; default 0.5.
        norm_item: ``'head'`` (``sample.extra['head_size']``, default), or others as PCKAccuracy.
        prefix: metric-name prefix; default none.
    """

    def __init__(
        self, thr: float = 0.5, norm_item: NormItem | tuple[NormItem, ...] = "head", prefix: str | None = None
    ) -> None:
        super().__init__(thr=thr, norm_item=norm_item, prefix=prefix)

    def compute_metrics(self, records: list[dict[str, Any]]) -> dict[str, float]:
        pred, gt, mask = (self._stack(records, key) for key in ("pred", "gt", "mask"))
        pred = pred + 1.0
        metrics: dict[str, float] = {}
        for item in self.norm_item:
            size = self._stack(records, item)
            norm = np.stack([size, size], axis=1)
            if item != "head":
                _, pck, _ = keypoint_pck_accuracy(pred, gt, mask, self.thr, norm)
                metrics[self._NAMES[item]] = pck
                continue
            _check_k("MpiiPCKAccuracy", gt.shape[1], 16)
            pckh = 100.0 * keypoint_pck_accuracy(pred, gt, mask, self.thr, norm)[0]
            at_01 = 100.0 * keypoint_pck_accuracy(pred, gt, mask, 0.1, norm)[0]
            counts = mask.sum(axis=0).astype(np.float64)
            counts[6:8] = 0  # pelvis and thorax are left out of the means
            ratio = counts / counts.sum()
            for name, left, right in MPII_GROUPS:
                metrics[f"{name} PCK"] = float(0.5 * (pckh[left] + pckh[right]))
            metrics["PCK"] = float(np.sum(pckh * ratio))
            metrics["PCK@0.1"] = float(np.sum(at_01.astype(np.float32) * ratio))
        return metrics


class JhmdbPCKAccuracy(PCKAccuracy):
    """JHMDB's PCK (MMPose's ``JhmdbPCKAccuracy``): ``Head PCK`` ... ``Ank PCK``, ``PCK``; ``tPCK`` with torso.

    Args:
        thr: threshold; default 0.05.
        norm_item: ``'bbox'`` (default), ``'torso'``, or both.
        prefix: metric-name prefix; default none.
    """

    _SUFFIX: ClassVar[dict[str, str]] = {"bbox": "PCK", "torso": "tPCK", "head": "PCKh"}

    def __init__(
        self, thr: float = 0.05, norm_item: NormItem | tuple[NormItem, ...] = "bbox", prefix: str | None = None
    ) -> None:
        super().__init__(thr=thr, norm_item=norm_item, prefix=prefix)

    def compute_metrics(self, records: list[dict[str, Any]]) -> dict[str, float]:
        pred, gt, mask = (self._stack(records, key) for key in ("pred", "gt", "mask"))
        _check_k("JhmdbPCKAccuracy", gt.shape[1], 15)
        metrics: dict[str, float] = {}
        for item in self.norm_item:
            size = self._stack(records, item)
            per_joint, pck, _ = keypoint_pck_accuracy(pred, gt, mask, self.thr, np.stack([size, size], axis=1))
            suffix = self._SUFFIX[item]
            for name, left, right in JHMDB_GROUPS:
                metrics[f"{name} {suffix}"] = float(0.5 * per_joint[left] + 0.5 * per_joint[right])
            metrics[suffix] = float(pck)
        return metrics
