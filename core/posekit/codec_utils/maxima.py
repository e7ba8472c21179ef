"""Maxima of heatmaps.

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
