"""YourmodelCodec: keypoints as coordinates normalised by the input size (regression targets)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from posekit.protocols import BaseKeypointCodec


class YourmodelCodec(BaseKeypointCodec):
    """Encode keypoints ``(N, K, 2)`` in input pixels as ``keypoint_labels = keypoints / input_size``.

    Encoded keys: ``keypoint_labels (N, K, 2)`` in [0, 1] for keypoints inside the input,
    ``keypoint_weights (N, K)`` (the visibility). ``decode`` maps labels back to pixels.

    Args:
        input_size: model input ``(w, h)`` in pixels.
    """

    #: a small working configuration, for ``posekit plugins --check`` and the conformance tests
    example_config: ClassVar[dict[str, Any]] = {"input_size": (192, 256)}
    example_inputs: ClassVar[dict[str, Any]] = {"tol": 1e-3}

    label_mapping_table = {"keypoint_labels": "keypoint_labels", "keypoint_weights": "keypoint_weights"}

    def __init__(self, input_size: tuple[int, int]) -> None:
        self.input_size = input_size

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None = None) -> dict[str, np.ndarray]:
        if keypoints.ndim != 3 or keypoints.shape[-1] != 2:
            raise ValueError(f"keypoints: expected shape (N, K, 2), got {keypoints.shape}")
        if keypoints_visible is None:
            keypoints_visible = np.ones(keypoints.shape[:2], np.float32)
        size = np.asarray(self.input_size, np.float32)
        inside = ((keypoints >= 0) & (keypoints <= size - 1)).all(-1)
        return {
            "keypoint_labels": (keypoints / size).astype(np.float32),
            "keypoint_weights": np.where(inside, keypoints_visible, 0).astype(np.float32),
        }

    def decode(self, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``encoded (N, K, 2)`` normalised coordinates -> keypoints ``(N, K, 2)``, scores ``(N, K)``."""
        keypoints = encoded * np.asarray(self.input_size, np.float32)
        return keypoints, np.ones(encoded.shape[:2], np.float32)

    def decode_targets(self, encoded: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return self.decode(encoded["keypoint_labels"])
