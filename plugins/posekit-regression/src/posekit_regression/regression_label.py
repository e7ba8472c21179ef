"""RegressionLabel: keypoints as coordinates normalized by the input size.

Dimensions: N instances, K keypoints, B samples of a batch; input image size ``[w, h]``.

Encoded (``encode``):

- ``keypoint_labels`` (N, K, 2) float32: ``(x / w, y / h)``;
- ``keypoint_weights`` (N, K) float32: 1 for visible keypoints inside ``[0, w-1] x [0, h-1]``, else 0.
"""

from __future__ import annotations

import numpy as np

from posekit.codec_utils import check_array
from posekit.protocols import BaseKeypointCodec


class RegressionLabel(BaseKeypointCodec):
    """Generate normalized keypoint coordinates (DeepPose-style regression targets).

    Args:
        input_size: input image size ``(w, h)`` in pixels.
    """

    example_config = {"input_size": (192, 256)}  # a small working instance (posekit plugins --check)

    label_mapping_table = {"keypoint_labels": "keypoint_labels", "keypoint_weights": "keypoint_weights"}

    def __init__(self, input_size: tuple[int, int]) -> None:
        self.input_size = tuple(input_size)
        self._size = np.array(self.input_size)
        self._last_pixel = self._size - 1

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Encode keypoints from input image space to normalized space.

        Args:
            keypoints: ``(N, K, 2)`` in input image space.
            keypoints_visible: ``(N, K)`` visibilities; all visible when None.

        Returns:
            ``keypoint_labels`` (N, K, 2) float32 and ``keypoint_weights`` (N, K) float32.
        """
        check_array("keypoints", keypoints, ("N", "K", 2))
        inside = ((keypoints >= 0) & (keypoints <= self._last_pixel)).all(axis=-1)
        if keypoints_visible is not None:
            check_array("keypoints_visible", keypoints_visible, keypoints.shape[:2])
            inside &= keypoints_visible > 0.5
        return {
            "keypoint_labels": (keypoints / self._size).astype(np.float32),
            "keypoint_weights": inside.astype(np.float32),
        }

    def decode(self, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Decode normalized coordinates to input image space.

        Args:
            encoded: ``(N, K, 2)`` normalized coordinates, or ``(N, K, 4)`` with the predicted
                sigmas ``(x, y, sigma_x, sigma_y)``.

        Returns:
            ``keypoints (N, K, 2)`` float64 in input image space and ``scores (N, K)``: ones, or
            ``mean(1 - sigma)`` when sigmas are given.
        """
        if getattr(encoded, "ndim", None) != 3 or encoded.shape[-1] != 4:
            check_array("encoded", encoded, ("N", "K", 2))
        return self._decode(encoded)

    def batch_decode(self, batch_encoded: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Decode a batch ``(B, N, K, 2|4)`` at once; one ``decode`` result per sample."""
        if getattr(batch_encoded, "ndim", None) != 4 or batch_encoded.shape[-1] != 4:
            check_array("batch_encoded", batch_encoded, ("B", "N", "K", 2))
        keypoints, scores = self._decode(batch_encoded)
        return list(zip(keypoints, scores, strict=True))

    def decode_targets(self, encoded: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Decode ``encode``'s own ``keypoint_labels``: ``keypoints (N, K, 2)``, ``scores (N, K)``."""
        return self.decode(encoded["keypoint_labels"])

    def _decode(self, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(..., K, 2|4)`` -> keypoints ``(..., K, 2)`` in input space, scores ``(..., K)``."""
        if encoded.shape[-1] == 4:
            scores = (1 - encoded[..., 2:4]).mean(axis=-1)
        else:
            scores = np.ones(encoded.shape[:-1], dtype=np.float32)
        return encoded[..., :2] * self._size, scores
