"""Drawing poses: skeletons on images (OpenCV).

Colours come from the keypoint definition (MMPose's ``dataset_meta``, RGB); radii and line
widths scale with the image size. N people, K keypoints, L skeleton links.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

DEFAULT_KPT_COLOR = (255, 128, 0)  # RGB, MMPose's default
DEFAULT_LINK_COLOR = (96, 96, 255)


def palette(meta: Mapping[str, Any], key: str, count: int, default: tuple[int, int, int]) -> np.ndarray:
    """``(count, 3)`` BGR uint8 colours from ``meta[key]`` (RGB), padded with ``default``."""
    colors = np.asarray(meta.get(key, ()), dtype=np.int64).reshape(-1, 3)
    if len(colors) < count:
        colors = np.concatenate([colors, np.tile(np.asarray(default), (count - len(colors), 1))])
    return colors[:count, ::-1].astype(np.uint8)


def draw_poses(
    img: np.ndarray,
    keypoints: np.ndarray,
    keypoint_scores: np.ndarray,
    dataset_meta: Mapping[str, Any],
    kpt_thr: float = 0.3,
    bboxes: np.ndarray | None = None,
    radius: int | None = None,
    thickness: int | None = None,
) -> np.ndarray:
    """Draw people on a copy of ``img``; returns the drawn image.

    ``img (H, W, 3)`` uint8 BGR; ``keypoints (N, K, 2)`` in image pixels, those (and links) scoring at
    or below ``kpt_thr`` not drawn; ``bboxes (N, 4)`` xyxy. ``radius``/``thickness`` default to 3/2 px
    at 640 px, scaled with the image.
    """
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"img: expected an (H, W, 3) BGR image, got shape {img.shape}")
    keypoints = np.asarray(keypoints, dtype=np.float32).reshape(-1, *np.shape(keypoints)[-2:])[..., :2]
    keypoint_scores = np.asarray(keypoint_scores, dtype=np.float32).reshape(keypoints.shape[:2])
    out = img.copy()
    s = max(img.shape[:2]) / 640.0  # drawing scale: 1.0 for a 640-pixel long side
    radius = radius if radius is not None else max(1, round(3 * s))
    thickness = thickness if thickness is not None else max(1, round(2 * s))
    n, k = keypoints.shape[:2]
    if bboxes is not None and len(bboxes):
        for x1, y1, x2, y2 in np.round(np.asarray(bboxes, np.float64)[:, :4]).astype(np.int64):
            cv2.rectangle(out, (int(x1), int(y1)), (int(x2), int(y2)), (0, 255, 0), max(1, thickness // 2), cv2.LINE_AA)
    if n == 0:
        return out
    links = np.asarray(meta_links(dataset_meta), dtype=np.int64).reshape(-1, 2)
    links = links[(links < k).all(axis=1)]
    visible = keypoint_scores > kpt_thr
    pts = np.round(keypoints * 16).astype(np.int32)  # 4 fractional bits for sub-pixel drawing
    if len(links):
        link_colors = palette(dataset_meta, "skeleton_link_colors", len(links), DEFAULT_LINK_COLOR)
        shown = visible[:, links[:, 0]] & visible[:, links[:, 1]]  # (N, L)
        for color in np.unique(link_colors, axis=0):
            sel = (link_colors == color).all(axis=1)
            segments = pts[:, links[sel]][shown[:, sel]]  # (M, 2, 2)
            if len(segments):
                cv2.polylines(out, list(segments), False, color.tolist(), thickness, cv2.LINE_AA, shift=4)
    kpt_colors = palette(dataset_meta, "keypoint_colors", k, DEFAULT_KPT_COLOR)
    for person, kpt in zip(*np.nonzero(visible), strict=True):
        cv2.circle(out, tuple(pts[person, kpt].tolist()), radius * 16, kpt_colors[kpt].tolist(), -1, cv2.LINE_AA, 4)
    return out


def meta_links(dataset_meta: Mapping[str, Any]) -> list[tuple[int, int]]:
    """The skeleton links ``(L, 2)`` of a ``dataset_meta`` dict as index pairs."""
    return [(int(a), int(b)) for a, b in dataset_meta.get("skeleton_links", ())]
