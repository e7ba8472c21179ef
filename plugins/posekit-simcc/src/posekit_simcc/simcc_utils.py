"""SimCC's numpy and torch helpers: maxima of x / y vectors, DARK refinement along one axis, flips.

The maths follow MMPose 1.x (``mmpose/codecs/utils`` and ``mmpose/models/utils/tta.py``) number for
number. Dimensions: N instances (or B samples), K keypoints, L bins along one axis; keypoints are
in bins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from torch import Tensor


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def get_simcc_maximum(
    simcc_x: np.ndarray, simcc_y: np.ndarray, apply_softmax: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Location and value of the maximum of x / y SimCC vectors.

    The value is the smaller of the two maxima.

    Args:
        simcc_x: ``(..., Lx)``, e.g. ``(N, K, Lx)``.
        simcc_y: ``(..., Ly)`` with the same leading shape.
        apply_softmax: take a softmax over the bins first.

    Returns:
        ``locs (..., 2)`` float32 in bins (``-1`` where the value is ``<= 0``) and ``vals (...)``.
    """
    if apply_softmax:
        simcc_x, simcc_y = _softmax(simcc_x), _softmax(simcc_y)
    lead = simcc_x.shape[:-1]
    flat_x = simcc_x.reshape(-1, simcc_x.shape[-1])
    flat_y = simcc_y.reshape(-1, simcc_y.shape[-1])
    ix = np.argmax(flat_x, axis=1)
    iy = np.argmax(flat_y, axis=1)
    max_x = np.take_along_axis(flat_x, ix[:, None], axis=1)[:, 0]
    max_y = np.take_along_axis(flat_y, iy[:, None], axis=1)[:, 0]
    vals = np.where(max_x > max_y, max_y, max_x)
    locs = np.stack((ix, iy), axis=-1).astype(np.float32)
    locs[vals <= 0] = -1
    return locs.reshape(*lead, 2), vals.reshape(lead)


def _blur1d_raw(simcc: np.ndarray, kernel: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero-padded 1D Gaussian blur of every ``(..., L)`` vector (one ``cv2.GaussianBlur`` call), and
    each vector's rescale factor ``max(before) / max(after)`` ``(..., 1)``."""
    if kernel % 2 != 1:
        raise ValueError(f"blur kernel size must be odd, got {kernel}")
    rows = np.ascontiguousarray(simcc.reshape(-1, simcc.shape[-1]), dtype=np.float32)
    out = cv2.GaussianBlur(rows, (kernel, 1), 0, borderType=cv2.BORDER_CONSTANT)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = simcc.reshape(len(rows), -1).max(axis=1).astype(np.float32) / out.max(axis=1)
    return out.reshape(simcc.shape), scale.reshape(*simcc.shape[:-1], 1)


def refine_simcc_dark(keypoints: np.ndarray, simcc: np.ndarray, blur_kernel_size: int) -> np.ndarray:
    """DarkPose refinement along one SimCC axis (a 1D Newton step on the clipped log-vector).

    Args:
        keypoints: ``(..., K)`` float, one coordinate in bins (the maxima).
        simcc: ``(..., K, L)`` with the same leading shape.
        blur_kernel_size: odd Gaussian kernel size of the modulation blur.

    Returns:
        the refined coordinates (a new array of the keypoints' dtype).
    """
    length = simcc.shape[-1]
    blurred, scale = _blur1d_raw(simcc, blur_kernel_size)
    padded = length + 4
    px = (keypoints + 2.5).astype(np.int64)

    def at(step: int) -> np.ndarray:
        pos = np.clip((px + step) % padded - 2, 0, length - 1)  # MMPose's edge pad of 2, negative wrap
        value = np.take_along_axis(blurred, pos[..., None], axis=-1)[..., 0] * scale[..., 0]
        return np.log(np.clip(value, np.float32(1e-3), np.float32(50.0)))

    dx = 0.5 * (at(1) - at(-1))
    dxx = 1e-9 + 0.25 * (at(2) - 2 * at(0) + at(-2))
    return (keypoints - dx / dxx).astype(keypoints.dtype)


def flip_vectors(x_labels: Tensor, y_labels: Tensor, flip_indices: Sequence[int]) -> tuple[Tensor, Tensor]:
    """Flip SimCC vectors of a horizontally flipped input back (MMPose's ``flip_vectors``).

    Args:
        x_labels: ``(B, K, Lx)``.
        y_labels: ``(B, K, Ly)``.
        flip_indices: keypoint index after the flip.

    Returns:
        ``(x_labels, y_labels)`` with keypoints swapped and x reversed.
    """
    if len(flip_indices) != x_labels.shape[1]:
        raise ValueError(f"flip_indices: expected {x_labels.shape[1]} entries, got {len(flip_indices)}")
    index = list(flip_indices)
    return x_labels[:, index].flip(-1), y_labels[:, index]
