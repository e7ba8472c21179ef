"""BottomupPoseEstimator: whole images in, every person's keypoints out."""

from __future__ import annotations

from torch import Tensor

from posekit.estimators.base import PoseEstimator, people_to_image, to_result
from posekit.inference.pipeline import dataset_meta, model_input_size
from posekit.protocols.serving import Serving
from posekit.structures import PoseBatch, PoseResult
from posekit_bottomup.serving import ImageServing


class BottomupPoseEstimator(PoseEstimator):
    """Bottom-up paradigm: the head finds and groups keypoints of all people in an image.

    ``predict`` returns one :class:`PoseResult` per image with ``keypoints (M, K, 2)`` in
    original image pixels, boxes (the head's own when it predicts them, else spanning each person's
    keypoints) and the instance scores.
    It is served whole images (``"image"`` requests); without an experiment the test pipeline
    is MMPose's ``LoadImage, BottomupResize(input_size, size_factor=32, resize_mode='expand'),
    PackPoseInputs`` with ``test_cfg.input_size`` (one-stage heads, RTMO's), else the codec's ``input_size``.
    """

    def serving(self) -> Serving:
        size = model_input_size(self)
        resize = {"type": "BottomupResize", "input_size": size, "size_factor": 32, "resize_mode": "expand"}
        return ImageServing(self, default_pipeline=[{"type": "LoadImage"}, resize, {"type": "PackPoseInputs"}])

    #: an example (for ``posekit plugins --check``), built from plugins' components
    example_config = {
        "backbone": {"type": "ResNet", "depth": 18, "stem_channels": 8, "base_channels": 8},
        "head": {
            "type": "AssociativeEmbeddingHead",
            "in_channels": 64,
            "num_keypoints": 17,
            "deconv_out_channels": None,
        },
    }

    def predict(self, inputs: Tensor, batch: PoseBatch) -> list[PoseResult]:
        if self.test_cfg.multiscale_test:
            raise NotImplementedError("multiscale_test is not supported yet; set test_cfg.multiscale_test=False")
        links = dataset_meta(self).get("skeleton_links")  # for heads that rescore people (DEKR), as MMPose's metainfo
        for sample in batch.samples:
            sample.extra.setdefault("skeleton_links", links)
        preds = self.head.predict(self._flip_feats(inputs), batch, self.test_cfg)
        results = []
        for pred, sample in zip(preds, batch.samples, strict=True):
            bboxes, scores = people_to_image(pred, sample)  # a head's own boxes, else the keypoints' extent
            results.append(to_result(self._select(pred), sample, bboxes, scores))
        return results
