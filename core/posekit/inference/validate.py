"""Person boxes at inference's edge: NaN, inverted, empty or outside boxes refused, partly outside clipped."""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np

from posekit.errors import DataError
from posekit.transforms.geometry import bbox_xywh2xyxy


def check_boxes(boxes: np.ndarray, image_shape: tuple[int, int], where: str) -> np.ndarray:
    """xyxy boxes ``(N, 4)`` in image pixels clipped to the ``(h, w)`` image; NaN/inf, inverted or outside
    boxes are refused, naming their source ``where``."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    h, w = image_shape
    for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        box = f"{where}: box {i} [{x1:g}, {y1:g}, {x2:g}, {y2:g}] (x1, y1, x2, y2)"
        if not np.isfinite([x1, y1, x2, y2]).all():
            raise DataError(f"{box} holds NaN or inf")
        if x2 <= x1 or y2 <= y1:
            raise DataError(f"{box} is inverted or empty: x2 must exceed x1 and y2 exceed y1")
        if x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
            raise DataError(f"{box} lies outside the {w}x{h} image")
    clipped = np.clip(boxes, 0, np.array([w, h, w, h], np.float32))
    if len(boxes) and not np.array_equal(clipped, boxes):
        warnings.warn(f"{where}: boxes reaching outside the {w}x{h} image were clipped to it", stacklevel=3)
    return clipped


def as_bboxes(
    bboxes: Any, image_shape: tuple[int, int], bbox_format: Literal["xyxy", "xywh"] = "xyxy"
) -> tuple[np.ndarray, np.ndarray]:
    """Person boxes ``(N, 4)`` or ``(N, 5)`` (with scores) in image pixels -> xyxy ``(N, 4)`` float32 and
    scores ``(N,)``; None or empty: the whole ``(h, w)`` image (as MMPose's ``inference_topdown``)."""
    if bbox_format not in ("xyxy", "xywh"):
        raise ValueError(f"bbox_format must be 'xyxy' or 'xywh', got {bbox_format!r}")
    if bboxes is None or len(bboxes) == 0:
        h, w = image_shape
        return np.array([[0, 0, w, h]], dtype=np.float32), np.ones(1, np.float32)
    arr = np.asarray(bboxes, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] not in (4, 5):
        raise ValueError(f"bboxes: expected shape (N, 4) or (N, 5) (with scores), got {arr.shape}")
    scores = arr[:, 4].copy() if arr.shape[1] == 5 else np.ones(len(arr), np.float32)
    boxes = np.ascontiguousarray(arr[:, :4])
    if bbox_format == "xywh":
        boxes = bbox_xywh2xyxy(boxes)
    return check_boxes(boxes, image_shape, "bboxes"), scores
