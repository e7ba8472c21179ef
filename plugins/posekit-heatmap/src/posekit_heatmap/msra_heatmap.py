"""MSRAHeatmap: keypoints as Gaussian heatmaps (SimpleBaseline), optionally DarkPose-unbiased.

Dimensions: N instances (1 for this top-down codec), K keypoints, B samples of a batch;
input image size ``[w, h]``, heatmap size ``[W, H]``.

Encoded (``encode``):

- ``heatmaps`` (K, H, W) float32: Gaussian targets in heatmap space;
- ``keypoint_weights`` (N, K): per-keypoint loss weights.
"""

from __future__ import annotations

import numpy as np

from posekit.codec_utils import (
    generate_gaussian_heatmaps,
    generate_unbiased_gaussian_heatmaps,
    get_heatmap_maximum,
    refine_keypoints,
    refine_keypoints_dark,
)
from posekit_heatmap._base import HeatmapCodecBase


class MSRAHeatmap(HeatmapCodecBase):
    """Represent keypoints as heatmaps via the "MSRA" approach (`Simple Baselines`_, Xiao et al. 2018).

    Args:
        input_size: input image size ``(w, h)`` in pixels.
        heatmap_size: heatmap size ``(W, H)`` in pixels.
        sigma: sigma of the Gaussian, in heatmap pixels.
        unbiased: use DarkPose's unbiased encoding (Gaussian at the sub-pixel location, no window)
            and distribution-aware decoding. Defaults to False.
        blur_kernel_size: odd kernel size of DarkPose's heatmap blur when decoding; it should match
            sigma by ``sigma = 0.3 * ((ks - 1) * 0.5 - 1) + 0.8`` (11 for sigma 2). Defaults to 11.

    .. _`Simple Baselines`: https://arxiv.org/abs/1804.06208
    """

    example_config = {"input_size": (192, 256), "heatmap_size": (48, 64), "sigma": 2.0}  # posekit plugins --check

    label_mapping_table = {"keypoint_weights": "keypoint_weights"}
    field_mapping_table = {"heatmaps": "heatmaps"}

    def __init__(
        self,
        input_size: tuple[int, int],
        heatmap_size: tuple[int, int],
        sigma: float,
        unbiased: bool = False,
        blur_kernel_size: int = 11,
    ) -> None:
        self._set_geometry(input_size, heatmap_size, ("blur_kernel_size", blur_kernel_size))
        self.sigma = sigma
        self.unbiased = unbiased
        self.blur_kernel_size = blur_kernel_size

    def _encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        generate = generate_unbiased_gaussian_heatmaps if self.unbiased else generate_gaussian_heatmaps
        return generate(self.heatmap_size, keypoints / self.scale_factor, keypoints_visible, self.sigma)

    def _decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(B, K, H, W)`` -> ``keypoints (B, K, 2)`` in input space, ``scores (B, K)``."""
        keypoints, scores = get_heatmap_maximum(heatmaps)
        if self.unbiased:
            keypoints = refine_keypoints_dark(keypoints, heatmaps, blur_kernel_size=self.blur_kernel_size)
        else:
            keypoints = refine_keypoints(keypoints, heatmaps)
        return keypoints * self.scale_factor, scores
