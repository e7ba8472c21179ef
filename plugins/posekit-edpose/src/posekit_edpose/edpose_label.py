"""EDPoseLabel: ED-Pose's codec, as MMPose's ``edpose_label.py``: people normalized to the input, and back.

Dimensions: N people, K keypoints, G people the model proposes.

Encoded (input pixels -> fractions of the input ``(w, h)``):

- ``keypoints (N, K, 2)``, ``keypoints_visible (N, K)``;
- ``bbox (N, 4)``: ``(cx, cy, w, h)`` of the ``xyxy`` boxes;
- ``area (N,)``: over ``w * h``.

Decoded (model outputs in fractions -> input pixels): the ``num_select`` best (person, class) scores, their
boxes ``(num_select, 4)`` xyxy, keypoints ``(num_select, K, 2)`` and the person score as every keypoint's.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from posekit.protocols import BaseKeypointCodec
from posekit.transforms.geometry import bbox_cs2xyxy, bbox_xyxy2cs


class EDPoseLabel(BaseKeypointCodec):
    """Labels and decoding of ED-Pose.

    Args:
        num_select: people kept by ``decode`` (best scores first). Default 100.
        num_keypoints: K. Default 17.
        input_size: the model input ``(w, h)`` in pixels: what test pipelines resize to, and the size ``encode``
            normalizes by when it is given no ``img_shape``. Default None.
    """

    auxiliary_encode_keys: ClassVar[frozenset[str]] = frozenset({"area", "bbox", "img_shape"})
    instance_mapping_table: ClassVar[dict[str, str]] = {
        "bbox": "bboxes",
        "keypoints": "keypoints",
        "keypoints_visible": "keypoints_visible",
        "area": "areas",
    }

    example_config = {"num_select": 5, "num_keypoints": 17, "input_size": (64, 48)}

    def __init__(self, num_select: int = 100, num_keypoints: int = 17, input_size: tuple[int, int] | None = None):
        self.num_select = num_select
        self.num_keypoints = num_keypoints
        if input_size is not None:
            self.input_size = (int(input_size[0]), int(input_size[1]))

    def _size(self, img_shape: Any) -> tuple[float, float]:
        """``(w, h)`` of ``img_shape (h, w)``, else of ``input_size``."""
        if img_shape is not None:
            return float(img_shape[1]), float(img_shape[0])
        size = getattr(self, "input_size", None)
        if size is None:
            raise ValueError("EDPoseLabel.encode needs img_shape (h, w) or the codec's input_size")
        return float(size[0]), float(size[1])

    def encode(
        self,
        keypoints: np.ndarray,
        keypoints_visible: np.ndarray | None = None,
        area: np.ndarray | None = None,
        bbox: np.ndarray | None = None,
        img_shape: tuple[int, int] | None = None,
    ) -> dict[str, np.ndarray]:
        """People in input pixels -> fractions of the input.

        Args:
            keypoints: ``(N, K, 2)``. keypoints_visible: ``(N, K)``; default all ones.
            area: ``(N,)`` px^2. bbox: ``(N, 4)`` xyxy.
            img_shape: ``(h, w)`` of the input (posekit's and MMPose's pipelines write it so; MMPose's ``encode``
                reads it as ``(w, h)``, which swaps the axes of non-square inputs). Default: ``input_size``.

        Returns:
            ``keypoints (N, K, 2)``, ``keypoints_visible (N, K)``, and ``bbox (N, 4)`` (cx, cy, w, h) and
            ``area (N,)`` when given.
        """
        w, h = self._size(img_shape)
        if keypoints_visible is None:
            keypoints_visible = np.ones(keypoints.shape[:2], dtype=np.float32)
        out = {
            "keypoints": keypoints / np.array([w, h], dtype=np.float32),
            "keypoints_visible": keypoints_visible,
        }
        if bbox is not None:
            out["bbox"] = np.concatenate(bbox_xyxy2cs(bbox), axis=-1) / np.array([w, h, w, h], dtype=np.float32)
        if area is not None:
            out["area"] = area / float(w * h)
        return out

    def decode_targets(self, encoded: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``encode``'s keypoints back in pixels of ``input_size`` and their visibility as scores."""
        w, h = self._size(None)
        return encoded["keypoints"] * np.array([w, h], np.float32), np.asarray(encoded["keypoints_visible"])

    def decode(  # type: ignore[override]
        self, input_shape: np.ndarray, pred_logits: np.ndarray, pred_boxes: np.ndarray, pred_keypoints: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The best people of one image in input pixels.

        Args:
            input_shape: ``(h, w)`` of the input.
            pred_logits: ``(G, C)`` class probabilities. pred_boxes: ``(G, 4)`` (cx, cy, w, h) fractions.
            pred_keypoints: ``(G, 3K)``: ``x0, y0, x1, y1, ...`` fractions, then K visibilities.

        Returns:
            ``bboxes (S, 4)`` xyxy, ``keypoints (S, K, 2)``, ``scores (S, K)`` with S = ``num_select`` (at most
            ``G * C``), best first.
        """
        k = self.num_keypoints
        prob = pred_logits.reshape(-1)
        top = np.argsort(-prob, kind="quicksort")[: self.num_select]
        people = top // pred_logits.shape[1]
        scores = np.tile(prob[top][:, None], (1, k))
        img_h, img_w = float(input_shape[0]), float(input_shape[1])
        boxes = bbox_cs2xyxy(pred_boxes[..., :2], pred_boxes[..., 2:])[people]
        boxes = boxes * np.array([img_w, img_h, img_w, img_h], dtype=np.float32)
        keypoints = pred_keypoints[people, : 2 * k].reshape(-1, k, 2) * np.array([img_w, img_h], dtype=np.float32)
        return boxes, keypoints, scores
