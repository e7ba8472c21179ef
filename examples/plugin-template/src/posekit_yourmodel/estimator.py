"""YourNewEstimator: a new algorithm paradigm, registered under ``posekit.estimators``.

This one is a compact top-down paradigm: it shows everything a paradigm owns — building
its parts through the registry, the data preprocessor, the three forward modes, and
mapping predictions from the model input back to the original image.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from posekit.estimators.base import input_to_image, to_result
from posekit.estimators.data_preprocessor import PoseDataPreprocessor
from posekit.protocols import BasePoseEstimator, Serving
from posekit.registry import build
from posekit.structures import PoseBatch, PoseResult, TestCfg, TrainCfg
from posekit.types import BackboneConfig, DataPreprocessorConfig, HeadConfig


class YourNewEstimator(BasePoseEstimator):
    """Backbone -> head on person crops; keypoints mapped back to image pixels.

    Args:
        backbone: the backbone's config.
        head: the head's config.
        test_cfg: test switches (``flip_test``, ...).
        data_preprocessor: the data preprocessor's config (default: no normalisation).
    """

    def __init__(
        self,
        backbone: BackboneConfig,
        head: HeadConfig,
        test_cfg: TestCfg | None = None,
        data_preprocessor: DataPreprocessorConfig | None = None,
    ) -> None:
        super().__init__()
        self.data_preprocessor = (
            build("data_preprocessor", data_preprocessor) if data_preprocessor else PoseDataPreprocessor()
        )
        self.backbone = build("backbone", backbone)
        self.head = build("head", head)
        self.train_cfg = TrainCfg()
        self.test_cfg = TestCfg.model_validate(test_cfg or {})

    def extract_feat(self, inputs: Tensor) -> tuple[Tensor, ...]:
        return self.backbone(inputs)

    def _forward(self, inputs: Tensor) -> Any:
        return self.head(self.extract_feat(inputs))

    def loss(self, inputs: Tensor, batch: PoseBatch) -> dict[str, Tensor]:
        return self.head.loss(self.extract_feat(inputs), batch, self.train_cfg)

    def predict(self, inputs: Tensor, batch: PoseBatch) -> list[PoseResult]:
        feats: Any = self.extract_feat(inputs)
        if self.test_cfg.flip_test:
            feats = (feats, self.extract_feat(inputs.flip(-1)))
        results = []
        for pred, sample in zip(self.head.predict(feats, batch, self.test_cfg), batch.samples, strict=True):
            pred.keypoints = input_to_image(pred.keypoints, sample)
            results.append(to_result(pred, sample, sample.bbox, sample.bbox_score))
        return results

    def serving(self) -> Serving:
        """Served like top-down: an image and its person boxes, crops batched (``posekit infer``)."""
        from posekit.inference.topdown import TopdownServing

        return TopdownServing(self)
