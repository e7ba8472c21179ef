"""MegviiHeatmap: keypoints as blurred one-hot heatmaps scaled to 255 (CPN / MSPN).

Dimensions: N instances (1 for this top-down codec), K keypoints, B samples of a batch;
input image size ``[w, h]``, heatmap size ``[W, H]``.

Encoded (``encode``):

- ``heatmaps`` (K, H, W) float32: a one-hot map blurred by a ``kernel_size`` Gaussian (cv2,
  reflect-101 border) and scaled so the keypoint's pixel is 255;
- ``keypoint_weights`` (N, K): per-keypoint loss weights.
"""

from __future__ import annotations

import cv2
import numpy as np

from posekit.codec_utils import gaussian_blur, get_heatmap_maximum
from posekit_heatmap._base import HeatmapCodecBase


class MegviiHeatmap(HeatmapCodecBase):
    """Represent keypoints as heatmaps via the "Megvii" approach (`MSPN`_ 2019, `CPN`_ 2018).

    Args:
        input_size: input image size ``(w, h)`` in pixels.
        heatmap_size: heatmap size ``(W, H)`` in pixels.
        kernel_size: odd size of the Gaussian kernel that blurs the one-hot map (cv2 picks sigma
            ``0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8``); decoding blurs with it too.

    .. _`MSPN`: https://arxiv.org/abs/1901.00148
    .. _`CPN`: https://arxiv.org/abs/1711.07319
    """

    example_config = {"input_size": (192, 256), "heatmap_size": (48, 64), "kernel_size": 11}  # posekit plugins --check

    label_mapping_table = {"keypoint_weights": "keypoint_weights"}
    field_mapping_table = {"heatmaps": "heatmaps"}

    def __init__(self, input_size: tuple[int, int], heatmap_size: tuple[int, int], kernel_size: int) -> None:
        self._set_geometry(input_size, heatmap_size, ("kernel_size", kernel_size))
        self.kernel_size = kernel_size
        width, height = self.heatmap_size
        # row p: the cv2-blurred response of a one-hot at p, along x and along y
        self._response_x = cv2.GaussianBlur(np.eye(width, dtype=np.float32), (kernel_size, 1), 0)
        self._response_y = cv2.GaussianBlur(np.eye(height, dtype=np.float32), (kernel_size, 1), 0)

    def _encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        width, height = self.heatmap_size
        center = (keypoints[0] / self.scale_factor).astype(np.int64)  # (K, 2)
        labelled = keypoints_visible[0] >= 0.5
        inside = (center[:, 0] >= 0) & (center[:, 0] < width) & (center[:, 1] >= 0) & (center[:, 1] < height)
        weights = keypoints_visible.copy()
        weights[0, labelled & ~inside] = 0
        draw = labelled & inside
        cx = np.clip(center[:, 0], 0, width - 1)
        cy = np.clip(center[:, 1], 0, height - 1)
        gx = self._response_x[cx] * draw[:, None]  # (K, W)
        gy = self._response_y[cy]  # (K, H)
        peak = gx[np.arange(len(cx)), cx] * gy[np.arange(len(cy)), cy]
        peak[~draw] = 1
        heatmaps = np.einsum("kh,kw->khw", gy, gx) / peak[:, None, None] * np.float32(255)
        return heatmaps, weights

    def _decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Blurred maxima shifted a quarter pixel towards the higher neighbour, plus half a pixel."""
        width, height = self.heatmap_size
        blurred = gaussian_blur(heatmaps, self.kernel_size)
        keypoints, scores = get_heatmap_maximum(blurred)
        maps = blurred.reshape(-1, height, width)
        ch = np.arange(maps.shape[0]).reshape(keypoints.shape[:-1])
        px = keypoints[..., 0].astype(int)
        py = keypoints[..., 1].astype(int)
        inside = (px > 1) & (px < width - 1) & (py > 1) & (py < height - 1)
        xc, yc = np.clip(px, 1, width - 2), np.clip(py, 1, height - 2)
        diff = np.stack(
            (maps[ch, yc, xc + 1] - maps[ch, yc, xc - 1], maps[ch, yc + 1, xc] - maps[ch, yc - 1, xc]), axis=-1
        )
        keypoints = keypoints + np.where(inside[..., None], np.sign(diff) * np.float32(0.25) + np.float32(0.5), 0)
        return keypoints.astype(np.float32) * self.scale_factor, scores / np.float32(255.0) + np.float32(0.5)
