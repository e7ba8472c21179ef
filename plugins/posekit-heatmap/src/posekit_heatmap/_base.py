"""What the heatmap codecs share: their geometry, decoding one sample or a batch, and the round trip."""

from __future__ import annotations

import numpy as np

from posekit.codec_utils import check_array, check_keypoints
from posekit.errors import ConfigError
from posekit.protocols import BaseKeypointCodec


class HeatmapCodecBase(BaseKeypointCodec):
    """Shape checks and batching around a subclass's vectorised ``_decode``.

    Subclasses set ``heatmap_size`` ``(W, H)`` and implement ``_decode(heatmaps (B, C, H, W))
    -> (keypoints (B, K, 2) in input space, scores (B, K))``; ``_check_channels`` may refuse a
    channel count (UDP's combined maps come three per keypoint).
    """

    heatmap_size: tuple[int, int]
    _channels: str = "K"  # the channel dimension's name in shape errors

    def _set_geometry(
        self, input_size: tuple[int, int], heatmap_size: tuple[int, int], kernel: tuple[str, int], udp: bool = False
    ) -> None:
        """Set ``input_size``, ``heatmap_size`` and ``scale_factor`` (input pixels per heatmap pixel; UDP: between
        the corner pixels' centres); ``kernel`` (argument name, size) must be odd, else a ConfigError."""
        if kernel[1] % 2 != 1:
            raise ConfigError(f"{type(self).__name__}: {kernel[0]} must be odd, got {kernel[1]}")
        self.input_size = tuple(input_size)
        self.heatmap_size = tuple(heatmap_size)
        if udp:
            self.scale_factor = ((np.array(input_size) - 1) / (np.array(heatmap_size) - 1)).astype(np.float32)
        else:
            self.scale_factor = (np.array(input_size) / heatmap_size).astype(np.float32)

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Encode one instance's keypoints into heatmaps.

        Args:
            keypoints: ``(1, K, 2)`` in input image space.
            keypoints_visible: ``(1, K)`` visibilities; all visible when None.

        Returns:
            ``heatmaps`` (C, H, W) float32 (C = K, or 3K for UDP's combined maps) and ``keypoint_weights`` (1, K).
        """
        keypoints_visible = check_keypoints(keypoints, keypoints_visible, 1)
        heatmaps, weights = self._encode(keypoints, keypoints_visible)
        return {"heatmaps": heatmaps, "keypoint_weights": weights}

    def _encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Checked ``(1, K, 2)`` keypoints and ``(1, K)`` visibilities -> ``(heatmaps, keypoint_weights)``."""
        raise NotImplementedError

    def decode(self, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One sample's heatmaps ``(C, H, W)`` -> ``keypoints (1, K, 2)`` in input space, ``scores (1, K)``."""
        width, height = self.heatmap_size
        check_array("encoded", encoded, (self._channels, height, width))
        self._check_channels("encoded", encoded.shape[0])
        return self._decode(encoded[None])

    def batch_decode(self, batch_encoded: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Decode a batch of heatmaps ``(B, C, H, W)`` at once; one ``decode`` result per sample."""
        width, height = self.heatmap_size
        check_array("batch_encoded", batch_encoded, ("B", self._channels, height, width))
        self._check_channels("batch_encoded", batch_encoded.shape[1])
        keypoints, scores = self._decode(batch_encoded)
        return [(keypoints[i : i + 1], scores[i : i + 1]) for i in range(len(keypoints))]

    def decode_targets(self, encoded: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Decode ``encode``'s own ``heatmaps``: ``keypoints (1, K, 2)``, ``scores (1, K)``."""
        return self.decode(encoded["heatmaps"])

    def _check_channels(self, name: str, channels: int) -> None:
        """Refuse a channel count this codec cannot decode (default: any is fine)."""

    def _decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError
