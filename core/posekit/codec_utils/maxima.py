"""Maxima of heatmaps."""

from __future__ import annotations

import numpy as np


def get_heatmap_maximum(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``locs (..., 2)`` float32 ``(x, y)`` and ``vals (...)`` of the maxima of ``heatmaps (..., H, W)``.

    ``locs`` is ``-1`` where the maximum is ``<= 0``.
    """
    lead, (height, width) = heatmaps.shape[:-2], heatmaps.shape[-2:]
    flat = heatmaps.reshape(-1, height * width)
    index = np.argmax(flat, axis=1)
    vals = np.take_along_axis(flat, index[:, None], axis=1)[:, 0]
    locs = np.empty((flat.shape[0], 2), dtype=np.float32)
    locs[:, 1], locs[:, 0] = np.divmod(index, width)
    locs[vals <= 0] = -1
    return locs.reshape(*lead, 2), vals.reshape(lead)
