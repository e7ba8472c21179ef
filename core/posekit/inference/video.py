"""Video helpers: IoU tracking, boxes carried from keypoints, One-Euro smoothing (image pixels, seconds)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from posekit.inference.results import PoseInstance


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``(N, M)`` of xyxy boxes ``a (N, 4)`` and ``b (M, 4)``."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=-1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


class IouTracker:
    """Give each person a ``track_id``: greedy highest-IoU matching (at least ``iou_thr``) with the previous
    frame's boxes; an unmatched person starts a new id."""

    def __init__(self, iou_thr: float = 0.3) -> None:
        self.iou_thr = iou_thr
        self.prev_boxes = np.zeros((0, 4), np.float32)
        self.prev_ids: list[int] = []
        self.next_id = 0

    def __call__(self, instances: Sequence[PoseInstance]) -> None:
        """Set ``track_id`` on ``instances`` (in place)."""
        boxes = np.array([p.bbox for p in instances], np.float32).reshape(-1, 4)
        iou = box_iou(boxes, self.prev_boxes)
        ids: list[int | None] = [None] * len(instances)
        while iou.size and iou.max() >= self.iou_thr:
            i, j = np.unravel_index(int(np.argmax(iou)), iou.shape)
            ids[i] = self.prev_ids[j]
            iou[i, :] = -1
            iou[:, j] = -1
        for i, p in enumerate(instances):
            if ids[i] is None:
                ids[i] = self.next_id
                self.next_id += 1
            p.track_id = ids[i]
        self.prev_boxes = boxes
        self.prev_ids = [int(i) for i in ids if i is not None]


def boxes_from_keypoints(
    instances: Sequence[PoseInstance], kpt_thr: float = 0.3, scale: float = 1.2, min_keypoints: int = 3
) -> np.ndarray:
    """Person boxes ``(M, 5)`` (xyxy + mean score) spanning the keypoints above ``kpt_thr``, grown ``scale``
    times about their center; people with fewer than ``min_keypoints`` such keypoints are dropped."""
    if not instances:
        return np.zeros((0, 5), np.float32)
    kpts = np.stack([p.keypoints[:, :2] for p in instances]).astype(np.float32)
    scores = np.stack([p.keypoint_scores for p in instances]).astype(np.float32)
    valid = scores > kpt_thr
    keep = valid.sum(axis=1) >= min_keypoints
    kpts, scores, valid = kpts[keep], scores[keep], valid[keep]
    lo = np.where(valid[..., None], kpts, np.inf).min(axis=1)
    hi = np.where(valid[..., None], kpts, -np.inf).max(axis=1)
    center, half = (lo + hi) / 2, (hi - lo) / 2 * scale
    mean_score = (scores * valid).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
    return np.concatenate([center - half, center + half, mean_score[:, None]], axis=1).astype(np.float32)


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    r = 2 * math.pi * cutoff * dt
    return r / (r + 1)


class OneEuroFilter:
    """The One-Euro filter (Casiez et al., CHI 2012), element-wise: cutoff ``min_cutoff + beta * |dx/dt|``.

    Args:
        min_cutoff: cutoff frequency (Hz) at rest; lower is smoother.
        beta: speed coefficient (per pixel/s); higher follows fast motion more closely.
        d_cutoff: cutoff frequency (Hz) of the speed estimate.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.007, d_cutoff: float = 1.0) -> None:
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self.x_prev: np.ndarray | None = None
        self.dx_prev: np.ndarray | None = None
        self.t_prev = 0.0

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """The filtered value of ``x`` (any shape, fixed across calls) observed at time ``t`` (seconds)."""
        if self.x_prev is None or self.dx_prev is None or t <= self.t_prev:
            self.x_prev, self.dx_prev, self.t_prev = x.astype(np.float64), np.zeros(x.shape), t
            return x
        dt = t - self.t_prev
        dx = (x - self.x_prev) / dt
        a_d = _alpha(self.d_cutoff, dt)
        dx_hat = a_d * dx + (1 - a_d) * self.dx_prev
        a = _alpha(self.min_cutoff + self.beta * np.abs(dx_hat), dt)
        x_hat = a * x + (1 - a) * self.x_prev
        self.x_prev, self.dx_prev, self.t_prev = x_hat, dx_hat, t
        return x_hat.astype(x.dtype)


class PoseSmoother:
    """One :class:`OneEuroFilter` (same arguments) per track, applied to each person's keypoints in place."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.007, d_cutoff: float = 1.0) -> None:
        self.params = (min_cutoff, beta, d_cutoff)
        self.filters: dict[int, OneEuroFilter] = {}

    def __call__(self, instances: Sequence[PoseInstance], t: float) -> None:
        """Smooth ``instances`` (which carry ``track_id``) seen at time ``t``; forget vanished tracks."""
        seen = {p.track_id for p in instances}
        self.filters = {k: f for k, f in self.filters.items() if k in seen}
        for p in instances:
            if p.track_id is None:
                continue
            f = self.filters.setdefault(p.track_id, OneEuroFilter(*self.params))
            p.keypoints = f(p.keypoints, t)
