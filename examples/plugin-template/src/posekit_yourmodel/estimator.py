"""YourmodelEstimator: a new algorithm paradigm, registered under ``posekit.estimators``.

This one is a compact top-down paradigm: it shows everything a paradigm owns — building
its parts through the registry, the data preprocessor, the three forward modes, and
mapping predictions from the model input back to the original image.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor

from posekit.estimators.base import input_to_image, to_result
from posekit.estimators.data_preprocessor import PoseDataPreprocessor
from posekit.protocols import BasePoseEstimator, Serving
from posekit.registry import build
from posekit.structures import PoseBatch, PoseResult, TestCfg, TrainCfg
from posekit.types import BackboneConfig, DataPreprocessorConfig, HeadConfig, NeckConfig


class YourmodelEstimator(BasePoseEstimator):
    """Backbone -> (neck) -> head on person crops; keypoints mapped back to image pixels.

    Args:
        backbone: the backbone's config.
        head: the head's config.
        neck: the neck's config (default: none).
        test_cfg: test switches (``flip_test``, ...).
        data_preprocessor: the data preprocessor's config (default: no normalisation).
    """

    #: a small working configuration, for ``posekit plugins --check`` and the conformance tests
    example_config: ClassVar[dict[str, Any]] = {
        "backbone": {"type": "YourmodelBackbone", "base_channels": 8},
        "head": {
            "type": "YourmodelHead",
            "in_channels": 32,
            "num_upsample": 1,
            "out_channels": 17,
            "decoder": {"type": "MSRAHeatmap", "input_size": [64, 64], "heatmap_size": [8, 8], "sigma": 1.0},
        },
    }

    def __init__(
        self,
        backbone: BackboneConfig,
        head: HeadConfig,
        neck: NeckConfig | None = None,
        test_cfg: TestCfg | None = None,
        data_preprocessor: DataPreprocessorConfig | None = None,
    ) -> None:
        super().__init__()
        self.data_preprocessor = (
            build("data_preprocessor", data_preprocessor) if data_preprocessor else PoseDataPreprocessor()
        )
        self.backbone = build("backbone", backbone)
        self.neck = build("neck", neck) if neck is not None else None
        self.head = build("head", head)
        self.train_cfg = TrainCfg()
        self.test_cfg = TestCfg.model_validate(test_cfg or {})

    def extract_feat(self, inputs: Tensor) -> tuple[Tensor, ...]:
        feats = self.backbone(inputs)
        return self.neck(feats) if self.neck is not None else feats

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
        """Served like top-down: an image and its person boxes, crops batched (``posekit infer``).

        posekit-topdown's ``TopdownServing``, found through the registry (``posekit.servings``).
        """
        from posekit.registry import get

        return get("serving", "TopdownServing")(self)
