"""Codec protocol: keypoints <-> training targets, as MMPose 1.x codecs define it.

Dimensions: N instances, K keypoints, D coordinate dims (2 or 3).
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Codec(Protocol):
    """What the core relies on: ``encode`` to targets, ``decode`` back to keypoints."""

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None = None) -> dict[str, np.ndarray]: ...

    def decode(self, encoded: Any) -> tuple[np.ndarray, np.ndarray]: ...


class BaseKeypointCodec:
    """Base class for codecs, with MMPose's class attributes.

    - ``encode(keypoints (N, K, D), keypoints_visible (N, K))`` -> dict of targets;
    - ``decode(encoded)`` for one sample -> ``(keypoints (N, K, D), scores (N, K))``;
    - ``batch_decode(batch)`` for a batch (default: ``decode`` per sample);
    - ``decode_targets(encoded)``: decode ``encode``'s own output (round trip).

    ``auxiliary_encode_keys`` names extra ``encode`` arguments the pipeline passes
    (e.g. ``lifting_target``); ``label_mapping_table`` / ``field_mapping_table`` say
    which encoded keys are per-instance labels and which are image-sized fields.

    Facts a test pipeline reads: ``input_size`` ``(w, h)`` of the model input in pixels (image
    codecs set it in their constructor) and ``use_udp`` (the codec assumes UDP's unbiased
    ``(size - 1)`` pixel grid, so the crop warp must use it too).
    """

    input_size: tuple[int, int]
    use_udp: ClassVar[bool] = False
    auxiliary_encode_keys: ClassVar[frozenset[str]] = frozenset()
    field_mapping_table: ClassVar[dict[str, str]] = {}
    instance_mapping_table: ClassVar[dict[str, str]] = {}
    label_mapping_table: ClassVar[dict[str, str]] = {}

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None = None) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def decode(self, encoded: Any) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def decode_targets(self, encoded: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Decode what ``encode`` returned for one sample (the round trip the conformance kit checks).

        Returns ``keypoints (N, K, D)`` in input space and ``scores (N, K)``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement decode_targets")

    def batch_decode(self, batch_encoded: Any) -> list[tuple[np.ndarray, np.ndarray]]:
        """Decode each sample of a batch; codecs with a vectorised path override this."""
        return [self.decode(x) for x in batch_encoded]
