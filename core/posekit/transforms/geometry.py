"""Box, keypoint and affine-warp geometry, with MMPose's formulas and float behaviour.

Dimensions: N instances, K keypoints, D coordinate dims. Boxes are ``xyxy``; a box's
``center`` is ``(x, y)`` and its ``scale`` is ``(w, h)`` in pixels (MMPose 1.x, no /200).
The warp matrices are bit-identical to MMPose 1.3.2 run with numpy 1.26 (whose scalar
promotion rules computed some terms in float64: they are spelled out here).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

FLIP_DIRECTIONS = ("horizontal", "vertical", "diagonal")


def bbox_xyxy2cs(bbox: np.ndarray, padding: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(..., 4)`` xyxy -> centers ``(..., 2)`` and scales ``(..., 2)`` (w, h) times ``padding``."""
    scale = (bbox[..., 2:] - bbox[..., :2]) * padding
    center = (bbox[..., 2:] + bbox[..., :2]) * 0.5
    return center, scale


def bbox_xywh2xyxy(bbox: np.ndarray) -> np.ndarray:
    """Boxes ``(..., 4)`` x, y, w, h -> x1, y1, x2, y2."""
    out = bbox.copy()
    out[..., 2:] += out[..., :2]
    return out


def bbox_cs2xyxy(center: np.ndarray, scale: np.ndarray, padding: float = 1.0) -> np.ndarray:
    """Centers ``(..., 2)`` and scales ``(..., 2)`` -> boxes ``(..., 4)`` xyxy (``scale / padding`` wide)."""
    wh = scale / padding
    xy = center - 0.5 * wh
    return np.concatenate([xy, xy + wh], axis=-1)


def flip_bbox(bbox: np.ndarray, image_size: tuple[int, int], bbox_format: str, direction: str) -> np.ndarray:
    """Flip boxes ``(..., 4)`` (``xyxy``/``xywh``) or ``(..., 2)`` (``center``) in a (w, h) image: ``w - 1 - x``."""
    if direction not in FLIP_DIRECTIONS:
        raise ValueError(f"flip direction must be one of {FLIP_DIRECTIONS}, got {direction!r}")
    w, h = image_size
    out = bbox.copy()
    if bbox_format in ("xywh", "center"):
        if direction in ("horizontal", "diagonal"):
            out[..., 0] = w - bbox[..., 0] - 1
        if direction in ("vertical", "diagonal"):
            out[..., 1] = h - bbox[..., 1] - 1
    elif bbox_format == "xyxy":
        if direction in ("horizontal", "diagonal"):
            out[..., 0::2] = w - bbox[..., 2::-2] - 1
        if direction in ("vertical", "diagonal"):
            out[..., 1::2] = h - bbox[..., 3::-2] - 1
    else:
        raise ValueError(f"bbox_format must be 'xyxy', 'xywh' or 'center', got {bbox_format!r}")
    return out


def flip_keypoints(
    keypoints: np.ndarray,
    keypoints_visible: np.ndarray | None,
    image_size: tuple[int, int],
    flip_indices: Sequence[int],
    direction: str = "horizontal",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Flip keypoints ``(..., K, D)`` in an image of ``image_size`` (w, h), as MMPose.

    Horizontal and vertical flips swap symmetric keypoints by ``flip_indices`` (the
    visibility ``(..., K)`` too); a diagonal flip (a 180 degree rotation) does not.
    """
    if direction not in FLIP_DIRECTIONS:
        raise ValueError(f"flip direction must be one of {FLIP_DIRECTIONS}, got {direction!r}")
    k = keypoints.shape[-2]
    if direction != "diagonal":
        if len(flip_indices) != k:
            raise ValueError(f"flip_indices has {len(flip_indices)} entries but keypoints have K={k}")
        keypoints = keypoints[..., flip_indices, :]
        if keypoints_visible is not None:
            keypoints_visible = keypoints_visible[..., flip_indices]
    else:
        keypoints = keypoints.copy()
    w, h = image_size
    if direction in ("horizontal", "diagonal"):
        keypoints[..., 0] = w - 1 - keypoints[..., 0]
    if direction in ("vertical", "diagonal"):
        keypoints[..., 1] = h - 1 - keypoints[..., 1]
    return keypoints, keypoints_visible


def fix_aspect_ratio(bbox_scale: np.ndarray, aspect_ratio: float) -> np.ndarray:
    """Grow scales ``(N, 2)`` (w, h) to the aspect ratio ``w / h`` (MMPose's ``_fix_aspect_ratio``)."""
    w, h = bbox_scale[:, :1], bbox_scale[:, 1:]
    return np.where(w > h * aspect_ratio, np.hstack([w, w / aspect_ratio]), np.hstack([h * aspect_ratio, h]))


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``b`` plus ``a - b`` rotated 90 degrees anticlockwise (in ``a``'s dtype)."""
    d = a - b
    return b + np.array([-d[1], d[0]], dtype=d.dtype)


def get_warp_matrix(
    center: np.ndarray,
    scale: np.ndarray,
    rot: float,
    output_size: tuple[float, float],
    shift: tuple[float, float] = (0.0, 0.0),
    inv: bool = False,
    fix_aspect_ratio: bool = True,
) -> np.ndarray:
    """The ``(2, 3)`` float64 affine matrix mapping the box (center, scale (w, h), rot degrees) to ``output_size``.

    Three point pairs (the center, the middle of the left edge, and a third point at a
    right angle, or the middle of the top edge when ``fix_aspect_ratio`` is False) through
    ``cv2.getAffineTransform``, exactly as MMPose's ``get_warp_matrix``; ``inv=True`` maps
    output pixels back to the image.
    """
    shift_arr = np.asarray(shift, dtype=np.float64)
    dst_w, dst_h = output_size
    rot_rad = np.deg2rad(rot)
    sn, cs = np.sin(rot_rad), np.cos(rot_rad)
    rot_mat = np.array([[cs, -sn], [sn, cs]])
    # numpy 1.x promoted these scalar products to float64
    src_dir = rot_mat @ np.array([-0.5 * float(scale[0]), 0.0])
    dst_mid = np.array([dst_w * 0.5, dst_h * 0.5])
    src = np.zeros((3, 2), dtype=np.float32)
    src[0] = center + scale * shift_arr
    src[1] = center + src_dir + scale * shift_arr
    dst = np.zeros((3, 2), dtype=np.float32)
    dst[0] = dst_mid
    dst[1] = dst_mid + np.array([dst_w * -0.5, 0.0])
    if fix_aspect_ratio:
        src[2] = _third_point(src[0], src[1])
        dst[2] = _third_point(dst[0], dst[1])
    else:
        src[2] = center + rot_mat @ np.array([0.0, -0.5 * float(scale[1])]) + scale * shift_arr
        dst[2] = dst_mid + np.array([0.0, dst_h * -0.5])
    return cv2.getAffineTransform(dst, src) if inv else cv2.getAffineTransform(src, dst)


def get_udp_warp_matrix(center: np.ndarray, scale: np.ndarray, rot: float, output_size: tuple[int, int]) -> np.ndarray:
    """The ``(2, 3)`` float32 unbiased (UDP, CVPR 2020) affine matrix of MMPose's ``get_udp_warp_matrix``.

    Terms are computed in float64 and stored in float32, as MMPose did under numpy 1.x.
    """
    in_w, in_h = float(center[0] * 2), float(center[1] * 2)
    sw, sh = float(scale[0]), float(scale[1])
    rot_rad = float(np.deg2rad(rot))
    cs, sn = math.cos(rot_rad), math.sin(rot_rad)
    scale_x = (output_size[0] - 1) / sw
    scale_y = (output_size[1] - 1) / sh
    warp_mat = np.zeros((2, 3), dtype=np.float32)
    warp_mat[0, 0] = cs * scale_x
    warp_mat[0, 1] = -sn * scale_x
    warp_mat[0, 2] = scale_x * (-0.5 * in_w * cs + 0.5 * in_h * sn + 0.5 * sw)
    warp_mat[1, 0] = sn * scale_y
    warp_mat[1, 1] = cs * scale_y
    warp_mat[1, 2] = scale_y * (-0.5 * in_w * sn - 0.5 * in_h * cs + 0.5 * sh)
    return warp_mat


def transform_points(points: np.ndarray, warp_mat: np.ndarray) -> np.ndarray:
    """Apply a ``(2, 3)`` affine (or ``(3, 3)`` perspective) matrix to points ``(..., 2)``.

    Uses ``cv2.transform`` in the points' dtype, as MMPose, so the numbers match.
    """
    shape = points.shape
    pts = np.ascontiguousarray(points.reshape(1, -1, 2))
    if pts.shape[1] == 0:
        return points.copy()
    if pts.dtype not in (np.float32, np.float64):
        pts = pts.astype(np.float32)
    out = cv2.transform(pts, warp_mat)
    if out.shape[-1] == 3:
        out = out[..., :2] / out[..., 2:3]
    return out.reshape(shape).astype(points.dtype, copy=False)


def compose_warp(warp_mat: np.ndarray | None, step: np.ndarray) -> np.ndarray:
    """``warp_mat`` (``(2, 3)`` affine, ``(3, 3)`` perspective, or None: the identity) then the affine ``step``
    ``(2, 3)``: the float32 matrix of the same shape (``(2, 3)`` from None) mapping through both."""
    step = np.asarray(step, dtype=np.float64)
    if warp_mat is None:
        return step.astype(np.float32)
    square = warp_mat.shape[0] == 3
    full = np.vstack([step, [0.0, 0.0, 1.0]]) @ (warp_mat if square else np.vstack([warp_mat, [0.0, 0.0, 1.0]]))
    return (full if square else full[:2]).astype(np.float32)


_AB_SCALE = 1024  # OpenCV's warpAffine steps a source coordinate in 1/1024 pixel


def warp_affine_maps(warp_mat: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point ``cv2.remap`` maps of OpenCV 4.x's bilinear ``warpAffine`` for output ``size`` (w, h).

    Returns ``map1`` (h, w, 2) int16 source pixels and ``map2`` (h, w) uint16 1/32-pixel
    fractions. OpenCV 4.x inverts the matrix, rounds each row start and column step to
    1/1024 pixel, adds them, and truncates ``(sum + 16) >> 5`` to 1/32 pixel. Here the
    sums plus half a step are formed exactly in float32 (multiples of 1/2048, exact within
    8192 pixels of the origin) and ``cv2.convertMaps`` rounds them to 1/32: never a tie, so
    the same integers.
    """
    w, h = size
    m = np.asarray(warp_mat, dtype=np.float64)
    det = m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    det = 1.0 / det if det != 0 else 0.0
    a11, a12, a21, a22 = m[1, 1] * det, -m[0, 1] * det, -m[1, 0] * det, m[0, 0] * det
    b1 = -a11 * m[0, 2] - a12 * m[1, 2]
    b2 = -a21 * m[0, 2] - a22 * m[1, 2]
    xs = np.arange(w, dtype=np.float64)
    ys = np.arange(h, dtype=np.float64)
    s = _AB_SCALE

    def axis(row_coef: float, offset: float, col_coef: float) -> np.ndarray:
        start = ((np.rint((row_coef * ys + offset) * s) + 0.5) / s).astype(np.float32)
        step = (np.rint(col_coef * xs * s) / s).astype(np.float32)
        return np.add.outer(start, step)

    # convertMaps saturates far-away pixels to int16, as warpAffine did
    return cv2.convertMaps(axis(a12, b1, a11), axis(a22, b2, a21), cv2.CV_16SC2)


def warp_affine(
    img: np.ndarray, warp_mat: np.ndarray, size: tuple[int, int], border_value: tuple[float, ...] | float = 0
) -> np.ndarray:
    """Bilinear affine warp of ``img`` to ``size`` (w, h), bit-identical to OpenCV 4.x ``warpAffine``.

    MMPose ran ``cv2.warpAffine(..., flags=cv2.INTER_LINEAR)`` on OpenCV 4.x, whose
    fixed-point sampling (1/32 pixel) OpenCV 4.11+ replaced with float sampling; this
    reproduces the former on any OpenCV version via ``cv2.remap`` with fixed-point maps.
    """
    map1, map2 = warp_affine_maps(warp_mat, size)
    return cv2.remap(img, map1, map2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)
