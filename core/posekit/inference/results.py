"""What inference returns: one :class:`PoseInstance` per person, and its JSON form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from posekit.structures import PoseResult


@dataclass
class PoseInstance:
    """One person's prediction in original image pixels.

    Attributes:
        keypoints: ``(K, 2)`` in image pixels, or ``(K, 3)`` lifted (the lifter's units, root-relative).
        keypoint_scores: ``(K,)`` confidences.
        bbox: ``(4,)`` xyxy in image pixels (top-down's input box; bottom-up's keypoint extent).
        bbox_score: the detector's score, 1.0 for given boxes, bottom-up's instance score.
        track_id: the person's id across video frames, or None.
    """

    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    bbox: np.ndarray
    bbox_score: float = 1.0
    track_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (lists of floats, rounded to 1e-4 pixel)."""
        out: dict[str, Any] = {
            "bbox": np.round(self.bbox.astype(np.float64), 4).tolist(),
            "bbox_score": round(float(self.bbox_score), 6),
            "keypoints": np.round(self.keypoints.astype(np.float64), 4).tolist(),
            "keypoint_scores": np.round(self.keypoint_scores.astype(np.float64), 6).tolist(),
        }
        if self.track_id is not None:
            out["track_id"] = int(self.track_id)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PoseInstance:
        """The inverse of :meth:`to_json`."""
        return cls(
            keypoints=np.asarray(data["keypoints"], dtype=np.float32),
            keypoint_scores=np.asarray(data["keypoint_scores"], dtype=np.float32),
            bbox=np.asarray(data.get("bbox", (0.0, 0.0, 0.0, 0.0)), dtype=np.float32),
            bbox_score=float(data.get("bbox_score", 1.0)),
            track_id=data.get("track_id"),
        )


def instances_from_results(results: Sequence[PoseResult]) -> list[PoseInstance]:
    """Split estimator results (each ``(N, K, D)``) into one :class:`PoseInstance` per person."""
    return [
        PoseInstance(
            keypoints=np.asarray(result.keypoints[i], dtype=np.float32),
            keypoint_scores=np.asarray(result.keypoint_scores[i], dtype=np.float32),
            bbox=np.asarray(result.bboxes[i], dtype=np.float32).reshape(4),
            bbox_score=float(result.bbox_scores[i]),
        )
        for result in results
        for i in range(len(result))
    ]


def stack_instances(instances: Sequence[PoseInstance], num_keypoints: int) -> tuple[np.ndarray, np.ndarray]:
    """``keypoints (N, K, D)`` and ``scores (N, K)`` of ``instances`` (D = 2 when there are none)."""
    if not instances:
        return np.zeros((0, num_keypoints, 2), np.float32), np.zeros((0, num_keypoints), np.float32)
    return np.stack([p.keypoints for p in instances]), np.stack([p.keypoint_scores for p in instances])
