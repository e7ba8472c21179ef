"""OKS non-maximum suppression of one image's people (``mmpose.evaluation.functional.nms``, 1.3.2).

Dimension legend: N instances, K keypoints. ``CocoMetric`` and ``PoseTrack18Metric`` run it on
top-down results (``nms_mode``: ``oks_nms``, ``soft_oks_nms``) before COCO evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from posekit.errors import DataError


def oks_matrix(
    keypoints: np.ndarray, areas: np.ndarray, sigmas: Sequence[float] | np.ndarray, vis_thr: float | None = None
) -> np.ndarray:
    """Pairwise object keypoint similarity ``(N, N)`` float32 between instances of one image.

    The scale of a pair is the mean of its two areas (MMPose's ``oks_iou``).

    Args:
        keypoints: (N, K, 2) keypoints, or (N, K, 3) with keypoint scores in the last column.
        areas: (N,) instance areas (pixels squared).
        sigmas: (K,) per-keypoint OKS sigmas.
        vis_thr: when set, only keypoints scored above it in both instances count (needs
            the score column); default None (all keypoints).
    """
    keypoints = np.asarray(keypoints)
    areas = np.asarray(areas)
    sigmas = np.asarray(sigmas)
    if keypoints.ndim != 3 or keypoints.shape[-1] not in (2, 3):
        raise DataError(f"keypoints must have shape (N, K, 2) or (N, K, 3), got {keypoints.shape}")
    n, k = keypoints.shape[:2]
    if areas.shape != (n,):
        raise DataError(f"areas must have shape (N,) = ({n},), got {areas.shape}")
    if sigmas.shape != (k,):
        raise DataError(f"sigmas must have shape (K,) = ({k},) to match the keypoints, got {sigmas.shape}")
    variances = (sigmas * 2) ** 2
    delta = keypoints[:, None, :, :2] - keypoints[None, :, :, :2]
    scale = (areas[:, None] + areas[None, :]) / 2 + np.spacing(1)
    e = (delta[..., 0] ** 2 + delta[..., 1] ** 2) / variances / scale[..., None] / 2
    if vis_thr is None:
        return (np.sum(np.exp(-e), axis=-1) / k).astype(np.float32)
    if keypoints.shape[-1] != 3:
        raise DataError("vis_thr needs keypoint scores: pass keypoints of shape (N, K, 3)")
    visible = keypoints[..., 2] > vis_thr
    both = visible[:, None, :] & visible[None, :, :]
    count = both.sum(axis=-1)
    total = np.sum(np.exp(-e) * both, axis=-1)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0).astype(np.float32)


def _check_scores(scores: np.ndarray, n: int) -> None:
    if scores.shape != (n,):
        raise DataError(f"scores must have shape (N,) = ({n},), got {scores.shape}")


def oks_nms(
    keypoints: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    thr: float,
    sigmas: Sequence[float] | np.ndarray,
    vis_thr: float | None = None,
) -> np.ndarray:
    """Greedy OKS non-maximum suppression within one image.

    Keeps the best-scored instance, drops every other whose OKS with it exceeds ``thr``, repeats.

    Args:
        keypoints: (N, K, 2), or (N, K, 3) with keypoint scores (needed with ``vis_thr``).
        scores: (N,) instance scores.
        areas: (N,) instance areas.
        thr: OKS above which an instance is suppressed (MMPose's ``nms_thr``, 0.9).
        sigmas: (K,) OKS sigmas.
        vis_thr: keypoint-score threshold for the OKS; default None.

    Returns:
        Indices of the kept instances, best score first.
    """
    scores = np.asarray(scores)
    oks = oks_matrix(keypoints, areas, sigmas, vis_thr)
    _check_scores(scores, len(oks))
    order = scores.argsort()[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        order = order[1:][oks[i, order[1:]] <= thr]
    return np.asarray(keep, dtype=np.intp)


def soft_oks_nms(
    keypoints: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    thr: float,
    sigmas: Sequence[float] | np.ndarray,
    max_dets: int = 20,
    vis_thr: float | None = None,
) -> np.ndarray:
    """Soft OKS-NMS: instead of dropping overlaps, decay their scores by ``exp(-oks**2 / thr)``.

    Args:
        keypoints: (N, K, 2), or (N, K, 3) with keypoint scores (needed with ``vis_thr``).
        scores: (N,) instance scores.
        areas: (N,) instance areas.
        thr: Gaussian decay parameter.
        sigmas: (K,) OKS sigmas.
        max_dets: keep at most this many instances; default 20.
        vis_thr: keypoint-score threshold for the OKS; default None.

    Returns:
        Indices of the kept instances in the order they were selected. The caller's scores
        are not changed (as in MMPose, the decayed scores only order the selection).
    """
    scores = np.asarray(scores)
    oks = oks_matrix(keypoints, areas, sigmas, vis_thr)
    _check_scores(scores, len(oks))
    order = scores.argsort()[::-1]
    scores = scores[order]
    keep = []
    while order.size and len(keep) < max_dets:
        i = order[0]
        decayed = scores[1:] * np.exp(-(oks[i, order[1:]] ** 2) / thr)
        resort = decayed.argsort()[::-1]
        order = order[1:][resort]
        scores = decayed[resort]
        keep.append(i)
    return np.asarray(keep, dtype=np.intp)
