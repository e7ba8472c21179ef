"""Vectorized evaluation functions: ``pred``/``gt`` ``(N, K, D)``, ``mask (N, K)`` bool, in one space.

The numbers follow ``mmpose.evaluation.functional`` (1.3.2): distances are kept in float32 as
MMPose keeps them, so a float32 input gives MMPose's result to rounding.
"""

from __future__ import annotations

import numpy as np

from posekit.errors import DataError

__all__ = [
    "keypoint_auc",
    "keypoint_epe",
    "keypoint_nme",
    "keypoint_pck_accuracy",
]


def check_keypoints(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, dims: tuple[int, ...] = (2, 3)) -> None:
    """Raise a :class:`DataError` naming the argument whose shape does not fit ``pred (N, K, D)``."""
    if pred.ndim != 3 or pred.shape[-1] not in dims:
        raise DataError(f"pred must have shape (N, K, D) with D in {dims}, got {pred.shape}")
    if gt.shape != pred.shape:
        raise DataError(f"gt must have the shape of pred {pred.shape}, got {gt.shape}")
    if mask.shape != pred.shape[:2]:
        raise DataError(f"mask must have shape (N, K) = {pred.shape[:2]}, got {mask.shape}")


def _check_norm(name: str, norm: np.ndarray, n: int) -> None:
    if norm.shape != (n, 2):
        raise DataError(f"{name} must have shape (N, 2) = ({n}, 2), got {norm.shape}")


def _distances(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, norm_factor: np.ndarray) -> np.ndarray:
    """Normalised distances ``(K, N)`` float32; -1 marks an invalid pair.

    A pair is invalid when its mask is False or when its instance has a zero normalisation
    factor; a negative factor is replaced by 1e6 (MMPose's ``_calc_distances``).
    """
    valid = mask.astype(bool) & ~(norm_factor == 0).any(axis=1)[:, None]
    norm = np.where(norm_factor <= 0, np.asarray(1e6, norm_factor.dtype), norm_factor)
    distances = np.full(pred.shape[:2], -1, dtype=np.float32)
    distances[valid] = np.linalg.norm(((pred - gt) / norm[:, None, :])[valid], axis=-1)
    return distances.T


def _mean_valid(distances: np.ndarray) -> float:
    """Mean of the valid entries of ``distances`` (float32 sum, as MMPose), 0 when none."""
    valid = distances[distances != -1]
    return float(valid.sum()) / max(1, valid.size)


def _pck_per_keypoint(distances: np.ndarray, thrs: np.ndarray) -> np.ndarray:
    """Per-threshold, per-keypoint accuracy ``(T, K)``; -1 for a keypoint with no valid pair."""
    valid = distances != -1
    num_valid = valid.sum(axis=1)
    hits = ((distances[None] < thrs.astype(distances.dtype)[:, None, None]) & valid[None]).sum(axis=2)
    return np.where(num_valid > 0, hits / np.maximum(num_valid, 1), -1.0)


def _average_valid(acc: np.ndarray) -> tuple[float, int]:
    valid = acc[acc >= 0]
    return (float(valid.mean()) if valid.size else 0.0), int(valid.size)


def keypoint_pck_accuracy(
    pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, thr: float, norm_factor: np.ndarray
) -> tuple[np.ndarray, float, int]:
    """PCK: the fraction of keypoints whose normalised distance to the ground truth is below ``thr``.

    ``norm_factor (N, 2)`` normalises x and y per instance (a zero factor skips it). Returns
    ``(acc (K,), avg_acc, cnt)``: per-keypoint accuracy (-1 for a keypoint with no valid
    instance), the mean over the valid keypoints (0 when none) and their number.
    """
    pred, gt, mask, norm_factor = map(np.asarray, (pred, gt, mask, norm_factor))
    check_keypoints(pred, gt, mask)
    _check_norm("norm_factor", norm_factor, pred.shape[0])
    acc = _pck_per_keypoint(_distances(pred, gt, mask, norm_factor), np.asarray([thr]))[0]
    avg_acc, cnt = _average_valid(acc)
    return acc, avg_acc, cnt


def keypoint_auc(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, norm_factor: float, num_thrs: int = 20) -> float:
    """Area under the PCK curve over thresholds ``0, 1/num_thrs, ..., (num_thrs-1)/num_thrs``.

    ``norm_factor`` (pixels) normalises every instance and axis (MMPose: 30).
    """
    pred, gt, mask = map(np.asarray, (pred, gt, mask))
    check_keypoints(pred, gt, mask)
    norm = np.full((pred.shape[0], 2), norm_factor, dtype=np.float64)
    thrs = np.arange(num_thrs) / num_thrs
    acc = _pck_per_keypoint(_distances(pred, gt, mask, norm), thrs)
    avg_accs = np.array([_average_valid(a)[0] for a in acc])
    return float(np.sum(1.0 / num_thrs * avg_accs))


def keypoint_epe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    """End-point error: the mean Euclidean distance over the masked keypoints (input units)."""
    pred, gt, mask = map(np.asarray, (pred, gt, mask))
    check_keypoints(pred, gt, mask)
    ones = np.ones((pred.shape[0], pred.shape[2]), dtype=np.float32)
    return _mean_valid(_distances(pred, gt, mask, ones))


def keypoint_nme(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, normalize_factor: np.ndarray) -> float:
    """Normalised mean error: the mean distance divided by ``normalize_factor (N, 2)`` per instance.

    An instance with a zero factor is skipped.
    """
    pred, gt, mask, normalize_factor = map(np.asarray, (pred, gt, mask, normalize_factor))
    check_keypoints(pred, gt, mask)
    _check_norm("normalize_factor", normalize_factor, pred.shape[0])
    return _mean_valid(_distances(pred, gt, mask, normalize_factor))
