"""YOLOXPoseAnnotationProcessor: the "codec" of the one-stage heads (RTMO, YOLOX-Pose), as MMPose's.

These heads learn from the instances themselves (boxes, keypoints, visibilities, areas in input
pixels), so ``encode`` derives MMPose's labels: ``bbox_labels (N,)`` (``category_id - 1``, int8) and,
with ``expand_bbox``, ``bbox (N, 4)`` xyxy grown to cover each person's visible keypoints; it also
passes ``keypoints (N, K, 2)`` and ``keypoints_visible (N, K)`` through (the instance labels MMPose's
``label_mapping_table`` packs), which ``decode_targets`` returns. The heads read the samples'
boxes, keypoints and areas. Decoding a model's outputs happens in the heads (``predict``).

Dimensions: N instances, K keypoints.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from posekit.protocols import BaseKeypointCodec

INF = 1e6
NEG_INF = -1e6


class YOLOXPoseAnnotationProcessor(BaseKeypointCodec):
    """Labels for one-stage pose heads.

    Args:
        expand_bbox: grow each box to include its visible keypoints. Default False.
        input_size: the model input ``(w, h)`` in pixels (read by test pipelines); default None.
    """

    auxiliary_encode_keys: ClassVar[frozenset[str]] = frozenset({"category_id", "bbox"})
    label_mapping_table: ClassVar[dict[str, str]] = {
        "bbox": "bboxes",
        "bbox_labels": "labels",
        "keypoints": "keypoints",
        "keypoints_visible": "keypoints_visible",
        "area": "areas",
    }
    instance_mapping_table: ClassVar[dict[str, str]] = {
        "bbox": "bboxes",
        "bbox_score": "bbox_scores",
        "keypoints": "keypoints",
        "keypoints_visible": "keypoints_visible",
    }
    #: a one-stage head decodes its own outputs; heads check this flag to refuse heatmap codecs
    one_stage_labels: ClassVar[bool] = True

    example_config = {"input_size": (64, 64)}

    def __init__(self, expand_bbox: bool = False, input_size: tuple[int, int] | None = None) -> None:
        self.expand_bbox = expand_bbox
        if input_size is not None:
            self.input_size = tuple(input_size)  # type: ignore[assignment]

    def encode(
        self,
        keypoints: np.ndarray,
        keypoints_visible: np.ndarray | None = None,
        bbox: np.ndarray | None = None,
        category_id: Any = None,
    ) -> dict[str, np.ndarray]:
        """Labels of ``keypoints (N, K, 2)`` / ``keypoints_visible (N, K)`` / ``bbox (N, 4)`` (input pixels).

        Returns:
            ``keypoints (N, K, 2)`` and ``keypoints_visible (N, K)`` as given; ``bbox_labels (N,)`` int8 when
            ``category_id`` (one per instance, or one for all) is given; ``bbox (N, 4)`` with ``expand_bbox``.
        """
        vis_in = np.ones(keypoints.shape[:2], np.float32) if keypoints_visible is None else keypoints_visible
        results: dict[str, np.ndarray] = {
            "keypoints": np.asarray(keypoints[..., :2], np.float32),
            "keypoints_visible": np.asarray(vis_in[..., 0] if vis_in.ndim == 3 else vis_in, np.float32),
        }
        if self.expand_bbox and bbox is not None:
            vis = np.ones(keypoints.shape[:2], np.float32) if keypoints_visible is None else keypoints_visible
            vis = vis[..., 0] if vis.ndim == 3 else vis
            bbox = np.array(bbox, copy=True)
            if len(bbox):
                lo = np.where((vis == 0)[..., None], INF, keypoints[..., :2]).min(axis=1)
                hi = np.where((vis == 0)[..., None], NEG_INF, keypoints[..., :2]).max(axis=1)
                bbox[..., :2] = np.minimum(bbox[..., :2], lo)
                bbox[..., 2:] = np.maximum(bbox[..., 2:], hi)
            results["bbox"] = bbox
        if category_id is not None:
            ids = np.asarray(category_id)
            if ids.ndim == 0:
                ids = np.full(keypoints.shape[0], ids)
            results["bbox_labels"] = ids.astype(np.int8) - 1
        return results

    def decode_targets(self, encoded: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The instances ``encode`` passed through: ``keypoints (N, K, 2)`` and their visibility as scores."""
        return encoded["keypoints"], encoded["keypoints_visible"]

    def decode(self, encoded: Any) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError(
            "YOLOXPoseAnnotationProcessor does not decode: RTMOHead / YOLOXPoseHead decode their own outputs in predict"
        )
