"""PoseLifter: 2D keypoint sequences in, 3D keypoints out (root restored by the codec)."""

from __future__ import annotations

import numpy as np
from torch import Tensor

from posekit.estimators.base import PoseEstimator, to_result
from posekit.protocols.serving import Serving
from posekit.structures import PoseBatch, PoseResult


class PoseLifter(PoseEstimator):
    """2D-to-3D lifting paradigm (VideoPose3D, SimpleBaseline3D).

    ``inputs`` are ``(B, K*2, T)`` encoded 2D sequences. The head's decoder restores the
    root (``sample.target_root``) and de-normalises; ``predict`` returns one
    :class:`PoseResult` per sample with ``keypoints (1, K, 3)``. It is served 2D keypoint
    sequences (``"keypoints"`` requests, :class:`~posekit_lifting.serving.LiftingServing`).
    """

    def serving(self) -> Serving:
        from posekit_lifting.serving import LiftingServing

        return LiftingServing(self)

    #: an example (for ``posekit plugins --check``), built from plugins' components
    example_config = {
        "backbone": {"type": "TCN", "in_channels": 34, "stem_channels": 32},
        "head": {"type": "TemporalRegressionHead", "in_channels": 32, "num_joints": 17},
    }

    def predict(self, inputs: Tensor, batch: PoseBatch) -> list[PoseResult]:
        preds = self.head.predict(self.extract_feat(inputs), batch, self.test_cfg)
        results = []
        for pred, sample in zip(preds, batch.samples, strict=True):
            n = len(pred.keypoints)
            results.append(to_result(self._select(pred), sample, np.zeros((n, 4), np.float32), np.ones(n, np.float32)))
        return results
