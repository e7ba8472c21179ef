"""Gaussian blurs of heatmaps that rescale to the original maxima (MMPose's)."""

from __future__ import annotations

import cv2
import numpy as np


def _blur_raw(heatmaps: np.ndarray, kernel: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero-padded Gaussian blur of every map, and each map's rescale factor ``max(before) / max(after)``.

    All maps go through one ``cv2.GaussianBlur`` call (zero border): they are stacked vertically with
    ``kernel // 2`` zero rows after each, which gives every kept pixel exactly the neighbourhood it
    has in MMPose's per-map zero-padded blur. Returns ``blurred (..., H, W)`` float32 (not rescaled)
    and ``scale (..., 1, 1)`` float32; sigma follows cv2's rule for the odd ``kernel``.
    """
    if kernel % 2 != 1:
        raise ValueError(f"blur kernel size must be odd, got {kernel}")
    lead, (height, width) = heatmaps.shape[:-2], heatmaps.shape[-2:]
    maps = heatmaps.reshape(-1, height, width)
    canvas = np.zeros((maps.shape[0], height + kernel // 2, width), dtype=np.float32)
    canvas[:, :height] = maps
    blurred = cv2.GaussianBlur(canvas.reshape(-1, width), (kernel, kernel), 0, borderType=cv2.BORDER_CONSTANT)
    blurred = blurred.reshape(maps.shape[0], -1)[:, : height * width]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = maps.reshape(len(maps), -1).max(axis=1).astype(np.float32) / blurred.max(axis=1)
    return blurred.reshape(heatmaps.shape), scale.reshape(*lead, 1, 1)


def gaussian_blur(heatmaps: np.ndarray, kernel: int = 11) -> np.ndarray:
    """Blur each map ``(..., H, W)`` with a zero-padded Gaussian and rescale it to its original maximum (DarkPose).

    Returns a new float32 array (MMPose's works in place); kernel 11 matches sigma 2, 17 sigma 3.
    """
    blurred, scale = _blur_raw(heatmaps, kernel)
    return blurred * scale
