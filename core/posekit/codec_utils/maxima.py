"""Maxima of heatmaps, and heatmap NMS.

Dimensions (N, K, [W, H], L) and keypoint spaces as in :mod:`posekit.codec_utils`.
"""

from __future__ import annotations

import numpy as np


def get_heatmap_maximum(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Location and value of each heatmap's maximum.

    Args:
        heatmaps: ``(..., H, W)``, e.g. ``(K, H, W)`` or ``(B, K, H, W)``.

    Returns:
        ``locs (..., 2)`` float32 ``(x, y)`` in heatmap pixels (``-1`` where the maximum is
        ``<= 0``) and ``vals (...)``.
    """
    lead, (height, width) = heatmaps.shape[:-2], heatmaps.shape[-2:]
    flat = heatmaps.reshape(-1, height * width)
    index = np.argmax(flat, axis=1)
    vals = np.take_along_axis(flat, index[:, None], axis=1)[:, 0]
    locs = np.empty((flat.shape[0], 2), dtype=np.float32)
    locs[:, 1], locs[:, 0] = np.divmod(index, width)
    locs[vals <= 0] = -1
    return locs.reshape(*lead, 2), vals.reshape(lead)


def batch_heatmap_nms(batch_heatmaps: np.ndarray, kernel_size: int = 5) -> np.ndarray:
    """Zero every pixel that is not the maximum of its ``kernel_size`` window (MMPose's ``batch_heatmap_nms``).

    Same numbers as MMPose's ``max_pool2d`` (padding ``-inf``) and equality mask, in numpy.

    Args:
        batch_heatmaps: ``(..., H, W)``, e.g. ``(B, K, H, W)``.
        kernel_size: odd window size in heatmap pixels.

    Returns:
        the heatmaps with non-maxima set to zero, same shape and dtype.
    """
    if kernel_size % 2 != 1 or kernel_size < 1:
        raise ValueError(f"kernel_size: expected an odd positive integer, got {kernel_size}")
    pad = (kernel_size - 1) // 2
    maximum = batch_heatmaps
    for axis in (batch_heatmaps.ndim - 1, batch_heatmaps.ndim - 2):  # the window max is separable
        widths = [(0, 0)] * batch_heatmaps.ndim
        widths[axis] = (pad, pad)
        padded = np.pad(maximum, widths, constant_values=-np.inf)
        maximum = np.lib.stride_tricks.sliding_window_view(padded, kernel_size, axis=axis).max(axis=-1)
    return batch_heatmaps * (batch_heatmaps == maximum)
