"""TopdownPoseEstimator: one person crop per sample, keypoints mapped back to the image."""

from __future__ import annotations

import numpy as np
from torch import Tensor

from posekit.estimators.base import PoseEstimator, input_to_image, to_result
from posekit.protocols.serving import Serving
from posekit.structures import PoseBatch, PoseResult


class TopdownPoseEstimator(PoseEstimator):
    """Top-down paradigm: person boxes are cropped by the pipeline, the head decodes each crop.

    ``predict`` returns one :class:`PoseResult` per sample with ``keypoints (1, K, D)``: x, y in
    original image pixels (``input / input_size * input_scale + input_center - input_scale / 2``),
    a third coordinate (a head's depth) kept as it is; and the sample's box and box score. It is
    served with person boxes (``"image+boxes"`` requests, :class:`~posekit_topdown.serving.TopdownServing`).
    """

    def serving(self) -> Serving:
        from posekit_topdown.serving import TopdownServing

        return TopdownServing(self)

    #: an example (for ``posekit plugins --check``), built from plugins' components
    example_config = {
        "backbone": {"type": "ResNet", "depth": 18, "stem_channels": 8, "base_channels": 8},
        "head": {"type": "HeatmapHead", "in_channels": 64, "out_channels": 17, "deconv_out_channels": None},
    }

    def predict(self, inputs: Tensor, batch: PoseBatch) -> list[PoseResult]:
        preds = self.head.predict(self._flip_feats(inputs), batch, self.test_cfg)
        results = []
        for pred, sample in zip(preds, batch.samples, strict=True):
            pred.keypoints = pred.keypoints.copy()
            pred.keypoints[..., :2] = input_to_image(pred.keypoints[..., :2], sample)
            bbox_scores = sample.bbox_score if len(sample.bbox_score) else np.ones(len(sample.bbox), np.float32)
            results.append(to_result(self._select(pred), sample, sample.bbox, bbox_scores))
        return results
