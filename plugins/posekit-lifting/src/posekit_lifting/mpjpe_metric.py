"""MPJPE: mean per-joint position error of 3D (lifted) poses, with optional alignment."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from posekit.errors import ConfigError, DataError
from posekit.metrics.base import BaseMetric, check_finite, check_shape, describe
from posekit.metrics.functional import check_keypoints

if TYPE_CHECKING:
    from posekit.structures import PoseResult

__all__ = ["MPJPE"]

Mode = Literal["mpjpe", "p-mpjpe", "n-mpjpe"]


def _subject_action(img_path: str) -> tuple[str, str] | None:
    """``('S9_Directions_1', 'Directions')`` from a Human3.6M frame name ``S9_Directions_1.54138969_000001.jpg``."""
    name = os.path.basename(img_path)
    if "_" not in name or "." not in name:
        return None
    action = name.split("_", 1)[1].split(".", 1)[0]
    return name.split(".")[0], action.split("_")[0]


def _rigid_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Similarity-transform (rotation, scale, translation) each ``pred[n]`` onto ``gt[n]`` (Procrustes).

    Shapes (N, K, 3) in, (N, K, 3) out; all keypoints take part, as in MMPose.
    """
    source = pred.transpose(0, 2, 1)
    target = gt.transpose(0, 2, 1)
    mu1 = source.mean(axis=2, keepdims=True)
    mu2 = target.mean(axis=2, keepdims=True)
    x1 = source - mu1
    x2 = target - mu2
    var1 = np.sum(x1**2, axis=(1, 2))
    k = x1 @ x2.transpose(0, 2, 1)
    u, _, vh = np.linalg.svd(k)
    v = vh.transpose(0, 2, 1)
    z = np.tile(np.eye(3), (len(pred), 1, 1))
    z[:, -1, -1] *= np.sign(np.linalg.det(u @ v.transpose(0, 2, 1)))
    r = v @ (z @ u.transpose(0, 2, 1))
    scale = np.trace(r @ k, axis1=1, axis2=2) / var1
    t = mu2 - scale[:, None, None] * (r @ mu1)
    return (scale[:, None, None] * (r @ source) + t).transpose(0, 2, 1)


def keypoint_mpjpe(
    pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, alignment: Literal["none", "scale", "procrustes"] = "none"
) -> float:
    """Mean per-joint position error (input units, usually millimetres).

    Args:
        pred: (N, K, C) predicted keypoints (C = 3 for Procrustes alignment).
        gt: (N, K, C) ground-truth keypoints.
        mask: (N, K) bool, which keypoints count; at least one must be True.
        alignment: ``'none'`` (MPJPE), ``'scale'`` (N-MPJPE: least-squares scale of ``pred``
            onto ``gt``) or ``'procrustes'`` (P-MPJPE: similarity transform); default ``'none'``.
    """
    pred, gt, mask = map(np.asarray, (pred, gt, mask))
    check_keypoints(pred, gt, mask, dims=(2, 3) if alignment != "procrustes" else (3,))
    mask = mask.astype(bool)
    if not mask.any():
        raise DataError("mask selects no keypoint: MPJPE needs at least one valid keypoint")
    if alignment == "procrustes":
        pred = _rigid_align(pred, gt)
    elif alignment == "scale":
        scale = np.einsum("nkc,nkc->n", pred, gt) / np.einsum("nkc,nkc->n", pred, pred)
        pred = pred * scale[:, None, None]
    elif alignment != "none":
        raise DataError(f"alignment must be one of 'none', 'scale', 'procrustes', got {alignment!r}")
    return float(np.linalg.norm(pred - gt, ord=2, axis=-1)[mask].mean())


class MPJPE(BaseMetric):
    """Mean per-joint position error of ``keypoints`` (N, K, 3) against ``sample.lifting_target`` (N, K, 3).

    Units are those of the target (millimetres for Human3.6M). Reports ``MPJPE``, ``P-MPJPE``
    or ``N-MPJPE`` (by ``mode``), and the same per action category when the samples' image
    names follow Human3.6M's ``S<subject>_<Action>_<n>.<camera>_<frame>.jpg``.

    Args:
        mode: ``'mpjpe'`` (no alignment), ``'p-mpjpe'`` (Procrustes: rotation, scale and
            translation fitted per pose) or ``'n-mpjpe'`` (scale fitted per pose); default ``'mpjpe'``.
        skip_list: ``S<subject>_<Action>`` names to leave out (e.g. damaged sequences); default none.
        prefix: metric-name prefix; default none.
    """

    ALIGNMENT: dict[str, Literal["none", "scale", "procrustes"]] = {
        "mpjpe": "none",
        "p-mpjpe": "procrustes",
        "n-mpjpe": "scale",
    }

    def __init__(self, mode: Mode = "mpjpe", skip_list: tuple[str, ...] = (), prefix: str | None = None) -> None:
        super().__init__(prefix=prefix)
        if mode not in self.ALIGNMENT:
            raise ConfigError(f"MPJPE: mode must be one of {tuple(self.ALIGNMENT)}, got {mode!r}")
        self.mode = mode
        self.skip_list = tuple(skip_list)

    def process(self, results: Sequence[PoseResult]) -> None:
        """Keep each result's poses, leaving out the sequences of ``skip_list``."""
        kept = []
        for result in results:
            names = _subject_action(result.sample.img_path)
            if names is None or names[0] not in self.skip_list:
                kept.append(result)
        super().process(kept)

    def _record(self, result: PoseResult, index: int) -> dict[str, Any]:
        sample = result.sample
        where = f"MPJPE.process: {describe(index, sample)}"
        if sample.lifting_target is None:
            raise ConfigError(f"{where}: MPJPE needs the 3D ground truth sample.lifting_target (N, K, 3)")
        gt = np.asarray(sample.lifting_target)
        check_shape("sample.lifting_target", gt, (None, None, 3), where)
        pred = np.asarray(result.keypoints)
        if pred.ndim == 4:  # (1, T, K, 3) from a video lifter
            pred = pred[0]
        check_shape("keypoints", pred, gt.shape, where, " (that of sample.lifting_target)")
        check_finite("keypoints", pred, where)
        if sample.lifting_target_visible is None:
            mask = np.ones(gt.shape[:2], dtype=bool)
        else:
            mask = np.asarray(sample.lifting_target_visible).astype(bool).reshape(len(gt), -1)
            check_shape("sample.lifting_target_visible", mask, gt.shape[:2], where)
        names = _subject_action(sample.img_path)
        return {"pred": pred, "gt": gt, "mask": mask, "action": names[1] if names else None}

    def compute_metrics(self, records: list[dict[str, Any]]) -> dict[str, float]:
        pred = np.concatenate([r["pred"] for r in records])
        gt = np.concatenate([r["gt"] for r in records])
        mask = np.concatenate([r["mask"] for r in records])
        alignment = self.ALIGNMENT[self.mode]
        name = self.mode.upper()
        metrics = {name: keypoint_mpjpe(pred, gt, mask, alignment)}
        rows: dict[str, list[int]] = defaultdict(list)
        start = 0
        for r in records:
            if r["action"] is not None:
                rows[r["action"]].extend(range(start, start + len(r["pred"])))
            start += len(r["pred"])
        for action, index in rows.items():
            metrics[f"{name}_{action}"] = keypoint_mpjpe(pred[index], gt[index], mask[index], alignment)
        return metrics
