"""IntegralRegressionLabel: normalized coordinates plus normalized heatmaps (DSNT).

Dimensions: N instances (1 for this top-down codec), K keypoints; input image size ``[w, h]``,
heatmap size ``[W, H]``.

Encoded (``encode``):

- ``keypoint_labels`` (N, K, 2) float32: ``(x / w, y / h)``;
- ``heatmaps`` (K, H, W) float32: MSRA Gaussian maps, each summing to 1 when ``normalize``;
- ``keypoint_weights`` (N, K) float32.
"""

from __future__ import annotations

import numpy as np

from posekit.codec_utils import (
    check_keypoints,
    generate_gaussian_heatmaps,
    generate_unbiased_gaussian_heatmaps,
)
from posekit.errors import ConfigError
from posekit.protocols import BaseKeypointCodec
from posekit_regression.regression_label import RegressionLabel


class IntegralRegressionLabel(BaseKeypointCodec):
    """Generate keypoint coordinates and normalized heatmaps (`DSNT`_, Nibali et al. 2018).

    Args:
        input_size: input image size ``(w, h)`` in pixels.
        heatmap_size: heatmap size ``(W, H)`` in pixels.
        sigma: Gaussian sigma in heatmap pixels.
        unbiased: DarkPose's unbiased Gaussian (sub-pixel centre, no window). Defaults to False.
        blur_kernel_size: kept for MMPose config compatibility (decoding reads the coordinates).
            Defaults to 11.
        normalize: make each heatmap sum to 1. Defaults to True.

    .. _`DSNT`: https://arxiv.org/abs/1801.07372
    """

    example_config = {"input_size": (256, 256), "heatmap_size": (64, 64), "sigma": 2.0}  # posekit plugins --check

    label_mapping_table = {"keypoint_labels": "keypoint_labels", "keypoint_weights": "keypoint_weights"}
    field_mapping_table = {"heatmaps": "heatmaps"}

    def __init__(
        self,
        input_size: tuple[int, int],
        heatmap_size: tuple[int, int],
        sigma: float,
        unbiased: bool = False,
        blur_kernel_size: int = 11,
        normalize: bool = True,
    ) -> None:
        if blur_kernel_size % 2 != 1:
            raise ConfigError(f"IntegralRegressionLabel: blur_kernel_size must be odd, got {blur_kernel_size}")
        self.input_size = tuple(input_size)
        self.heatmap_size = tuple(heatmap_size)
        self.sigma = sigma
        self.unbiased = unbiased
        self.blur_kernel_size = blur_kernel_size
        self.normalize = normalize
        self.scale_factor = (np.array(input_size) / heatmap_size).astype(np.float32)
        self.keypoint_codec = RegressionLabel(input_size)

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Encode one instance's keypoints to regression labels and heatmaps.

        Args:
            keypoints: ``(1, K, 2)`` in input image space.
            keypoints_visible: ``(1, K)`` visibilities; all visible when None.

        Returns:
            ``keypoint_labels`` (1, K, 2), ``heatmaps`` (K, H, W) and ``keypoint_weights`` (1, K).
        """
        keypoints_visible = check_keypoints(keypoints, keypoints_visible, 1)
        generate = generate_unbiased_gaussian_heatmaps if self.unbiased else generate_gaussian_heatmaps
        heatmaps, weights = generate(self.heatmap_size, keypoints / self.scale_factor, keypoints_visible, self.sigma)
        labels = self.keypoint_codec.encode(keypoints, weights)
        if self.normalize:
            heatmaps = heatmaps / (heatmaps.sum(axis=(-1, -2)).reshape(-1, 1, 1) + 1e-24)
        return {
            "keypoint_labels": labels["keypoint_labels"],
            "heatmaps": heatmaps,
            "keypoint_weights": labels["keypoint_weights"],
        }

    def decode(self, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Decode normalized coordinates ``(N, K, 2)`` (or ``(N, K, 4)`` with sigmas) to input space.

        Returns:
            ``keypoints (N, K, 2)`` float64 and ``scores (N, K)``, as :class:`RegressionLabel`.
        """
        return self.keypoint_codec.decode(encoded)

    def batch_decode(self, batch_encoded: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Decode a batch ``(B, N, K, 2|4)`` at once; one ``decode`` result per sample."""
        return self.keypoint_codec.batch_decode(batch_encoded)

    def decode_targets(self, encoded: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Decode ``encode``'s own ``keypoint_labels``: ``keypoints (1, K, 2)``, ``scores (1, K)``."""
        return self.decode(encoded["keypoint_labels"])
