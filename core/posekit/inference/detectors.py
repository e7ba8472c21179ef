"""Person detectors: ``posekit.detectors`` components following :class:`PersonDetector`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from posekit.errors import ConfigError


@runtime_checkable
class PersonDetector(Protocol):
    """``detector(img (H, W, 3) uint8 BGR)`` -> ``(boxes (N, 4) xyxy float32 in image pixels, scores (N,))``."""

    def __call__(self, img: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def build_detector(cfg: Mapping[str, Any] | PersonDetector) -> PersonDetector:
    """Build a registered detector from ``{"type": Name, **kwargs}`` (an instance passes through)."""
    from posekit.registry import build

    detector = build("detector", cfg, where="detector")
    if not callable(detector):
        raise ConfigError(f"detector {type(detector).__name__} is not callable as detector(img) -> (boxes, scores)")
    return detector


def detect(detector: PersonDetector, img: np.ndarray) -> np.ndarray:
    """Run ``detector`` and check its output: ``(N, 5)`` xyxy + score float32."""
    boxes, scores = detector(img)
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(
            f"detector {type(detector).__name__} returned {len(boxes)} boxes but {len(scores)} scores; "
            "expected boxes (N, 4) and scores (N,)"
        )
    return np.concatenate([boxes, scores[:, None]], axis=1)
