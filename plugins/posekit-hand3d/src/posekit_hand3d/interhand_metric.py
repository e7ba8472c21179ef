"""InterHandMetric: MPJPE (all / single / interacting hands), MRRPE and handedness accuracy, as MMPose.

Predictions are ``PoseResult.keypoints (1, 42, 3)`` (x, y image pixels; z root-relative mm) with
``extra["rel_root_depth"] (1,)`` and ``extra["hand_type"] (1, 2)``; ground truth comes from the
sample as :class:`~posekit_hand3d.interhand_datasets.InterHand3DDataset` fills it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np

from posekit.metrics.base import BaseMetric, describe
from posekit.metrics.functional import keypoint_epe
from posekit.structures import PoseResult
from posekit_hand3d.interhand_datasets import LEFT_ROOT, RIGHT_ROOT, pixel_to_camera

Mode = Literal["MPJPE", "MRRPE", "HandednessAcc"]
_NEEDS = {
    "MPJPE": ("keypoints_cam", "abs_depth", "focal", "principal_pt", "hand_type"),
    "MRRPE": ("keypoints_cam", "abs_depth", "focal", "principal_pt", "hand_type"),
    "HandednessAcc": ("hand_type", "hand_type_valid"),
}


def root_relative(coords: np.ndarray) -> np.ndarray:
    """``(..., 42, 3)`` with each hand's root subtracted from its 21 joints."""
    out = coords.copy()
    out[..., : RIGHT_ROOT + 1, :] -= coords[..., RIGHT_ROOT : RIGHT_ROOT + 1, :]
    out[..., RIGHT_ROOT + 1 :, :] -= coords[..., LEFT_ROOT : LEFT_ROOT + 1, :]
    return out


class InterHandMetric(BaseMetric):
    """MMPose's ``InterHandMetric`` (mm): ``MPJPE_all`` / ``MPJPE_single`` / ``MPJPE_interacting``,
    ``MRRPE`` (error of the left root relative to the right, interacting hands) and ``HandednessAcc``.

    Args:
        modes: which of ``MPJPE``, ``MRRPE``, ``HandednessAcc`` to compute. Default all three.
        prefix: metric name prefix. Default none.
    """

    example_config: ClassVar[dict[str, Any]] = {"modes": ("MPJPE",)}

    def __init__(
        self, modes: tuple[Mode, ...] = ("MPJPE", "MRRPE", "HandednessAcc"), prefix: str | None = None
    ) -> None:
        super().__init__(prefix=prefix)
        if not modes:
            raise ValueError("InterHandMetric: modes must name at least one of MPJPE, MRRPE, HandednessAcc")
        self.modes = tuple(modes)

    def _record(self, result: PoseResult, index: int) -> dict[str, Any]:
        sample, where = result.sample, describe(index, result.sample)
        for mode in self.modes:
            missing = [key for key in _NEEDS[mode] if key not in sample.extra]
            if missing:
                raise KeyError(f"InterHandMetric ({mode}): {where} lacks {missing}; evaluate on InterHand3DDataset")
        if "MRRPE" in self.modes and "rel_root_depth" not in result.extra:
            raise KeyError(f"InterHandMetric (MRRPE): {where} has no predicted rel_root_depth (InternetHead's)")
        if "HandednessAcc" in self.modes and "hand_type" not in result.extra:
            raise KeyError(f"InterHandMetric (HandednessAcc): {where} has no predicted hand_type (InternetHead's)")
        extra = sample.extra
        pred = np.asarray(result.keypoints, np.float32)
        if pred.shape[1:] != (LEFT_ROOT + 1, 3):
            raise ValueError(f"InterHandMetric: {where} keypoints must be (1, 42, 3), got {pred.shape}")
        mask = sample.keypoints_visible.astype(bool).reshape(1, -1)
        gt_type = extra["hand_type"]
        interacting = bool(np.all(gt_type))
        record: dict[str, Any] = {}
        if "MPJPE" in self.modes:
            cam = pred.copy()
            cam[..., : RIGHT_ROOT + 1, 2] += extra["abs_depth"][0]
            cam[..., RIGHT_ROOT + 1 :, 2] += extra["abs_depth"][1]
            cam = pixel_to_camera(cam, extra["focal"], extra["principal_pt"])
            none = np.zeros_like(mask)
            record.update(
                pred=root_relative(cam),
                gt=root_relative(np.asarray(extra["keypoints_cam"], np.float32)),
                mask=mask,
                single=none if interacting else mask,
                interacting=mask if interacting else none,
            )
        if "HandednessAcc" in self.modes:
            record.update(
                pred_type=np.asarray(result.extra["hand_type"]).reshape(1, -1),
                gt_type=np.asarray(gt_type).reshape(1, -1),
                type_mask=np.asarray(extra["hand_type_valid"]).reshape(-1) > 0,
            )
        if "MRRPE" in self.modes:
            vis = sample.keypoints_visible.reshape(-1)
            valid = interacting and bool(vis[RIGHT_ROOT]) and bool(vis[LEFT_ROOT])
            pred_rel = gt_rel = np.zeros((1, 1, 3), np.float32)
            if valid:
                depth = float(extra["abs_depth"][0])
                left, right = pred[..., LEFT_ROOT, :].copy(), pred[..., RIGHT_ROOT, :].copy()
                left[..., 2] += depth + np.asarray(result.extra["rel_root_depth"], np.float32).reshape(-1)
                right[..., 2] += depth
                f, c = extra["focal"], extra["principal_pt"]
                pred_rel = (pixel_to_camera(left, f, c) - pixel_to_camera(right, f, c))[None]
                gt_cam = np.asarray(extra["keypoints_cam"], np.float32)
                gt_rel = (gt_cam[..., LEFT_ROOT, :] - gt_cam[..., RIGHT_ROOT, :])[None]
            record.update(pred_rel=pred_rel, gt_rel=gt_rel, rel_mask=np.array([valid]))
        return record

    def compute_metrics(self, records: Sequence[dict[str, Any]]) -> dict[str, float]:
        """The metrics over every record (MMPose's names; NaN where no sample qualifies)."""

        def cat(key: str) -> np.ndarray:
            return np.concatenate([r[key] for r in records])

        def epe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
            return keypoint_epe(pred, gt, mask) if mask.any() else float("nan")

        metrics: dict[str, float] = {}
        if "MPJPE" in self.modes:
            pred, gt = cat("pred"), cat("gt")
            metrics["MPJPE_all"] = epe(pred, gt, cat("mask"))
            metrics["MPJPE_single"] = epe(pred, gt, cat("single"))
            metrics["MPJPE_interacting"] = epe(pred, gt, cat("interacting"))
        if "HandednessAcc" in self.modes:
            right = (cat("pred_type") == cat("gt_type")).all(axis=-1)[cat("type_mask")]
            metrics["HandednessAcc"] = float(np.mean(right)) if right.size else float("nan")
        if "MRRPE" in self.modes:
            metrics["MRRPE"] = epe(cat("pred_rel"), cat("gt_rel"), np.array([r["rel_mask"] for r in records]))
        return metrics
