"""Shared wiring of the core's estimators: backbone -> neck -> head, preprocessor, configs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from posekit.estimators.data_preprocessor import PoseDataPreprocessor
from posekit.protocols import BasePoseEstimator
from posekit.registry import build
from posekit.structures import InstanceData, PoseBatch, PoseResult, PoseSample, TestCfg, TrainCfg
from posekit.types import BackboneConfig, DataPreprocessorConfig, HeadConfig, NeckConfig


class PoseEstimator(BasePoseEstimator):
    """A backbone, an optional neck and a head, with MMPose's child names (checkpoint keys).

    ``metainfo`` (anything ``load_metainfo`` takes) gives flip indices at inference.
    """

    def __init__(
        self,
        backbone: BackboneConfig,
        head: HeadConfig | None = None,
        neck: NeckConfig | None = None,
        train_cfg: TrainCfg | None = None,
        test_cfg: TestCfg | None = None,
        data_preprocessor: DataPreprocessorConfig | None = None,
        metainfo: str | dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.data_preprocessor = (
            build("data_preprocessor", data_preprocessor, where="data_preprocessor")
            if data_preprocessor is not None
            else PoseDataPreprocessor()
        )
        self.backbone = build("backbone", backbone, where="backbone")
        if neck is not None:
            self.neck = build("neck", neck, where="neck")
        if head is not None:
            self.head = build("head", head, where="head")
        self.train_cfg = TrainCfg.model_validate(train_cfg or {})
        self.test_cfg = TestCfg.model_validate(test_cfg or {})
        self.metainfo = metainfo

    @property
    def with_neck(self) -> bool:
        return hasattr(self, "neck")

    @property
    def with_head(self) -> bool:
        return hasattr(self, "head")

    def extract_feat(self, inputs: Tensor) -> tuple[Tensor, ...]:
        """Backbone (and neck) features of ``inputs``."""
        feats = self.backbone(inputs)
        if self.with_neck:
            feats = self.neck(feats)
        return feats

    def _forward(self, inputs: Tensor) -> Any:
        feats = self.extract_feat(inputs)
        return self.head.forward(feats) if self.with_head else feats

    def loss(self, inputs: Tensor, batch: PoseBatch) -> dict[str, Tensor]:
        return self.head.loss(self.extract_feat(inputs), batch, self.train_cfg)

    def _flip_feats(self, inputs: Tensor) -> Any:
        """Features of ``inputs``, paired with those of the flipped inputs under flip test.

        Under flip test the ``B`` inputs and their mirror images go through one forward of ``2B``
        (eval mode: each sample's features are its own), which keeps both cores busy at small B.
        """
        if not self.test_cfg.flip_test:
            return self.extract_feat(inputs)
        n = inputs.shape[0]
        both = self.extract_feat(torch.cat([inputs, inputs.flip(-1)]))
        return tuple(f[:n] for f in both), tuple(f[n:] for f in both)

    def _select(self, pred: InstanceData) -> InstanceData:
        idx = self.test_cfg.output_keypoint_indices
        if idx is None:
            return pred
        sel = list(idx)
        pred.keypoints = pred.keypoints[:, sel]
        pred.keypoint_scores = pred.keypoint_scores[:, sel]
        if pred.keypoints_visible is not None:
            pred.keypoints_visible = pred.keypoints_visible[:, sel]
        return pred


def input_to_image(keypoints: np.ndarray, sample: PoseSample) -> np.ndarray:
    """Map ``(N, K, 2)`` keypoints from model-input pixels to original image pixels."""
    size = np.asarray(sample.input_size, np.float32)
    scale = np.asarray(sample.input_scale, np.float32).reshape(-1, 2)[:, None]
    center = np.asarray(sample.input_center, np.float32).reshape(-1, 2)[:, None]
    return keypoints / size * scale + center - 0.5 * scale


def input_to_image_batch(keypoints: np.ndarray, samples: Sequence[PoseSample]) -> np.ndarray:
    """Map ``(B, K, 2)`` keypoints from model-input pixels to image pixels (one sample per row)."""
    size = np.array([s.input_size for s in samples], np.float32)[:, None]
    scale = np.stack([np.asarray(s.input_scale, np.float32).reshape(2) for s in samples])[:, None]
    center = np.stack([np.asarray(s.input_center, np.float32).reshape(2) for s in samples])[:, None]
    return keypoints / size * scale + center - 0.5 * scale


def people_to_image(pred: InstanceData, sample: PoseSample) -> tuple[np.ndarray, np.ndarray]:
    """Map one image's people from model-input to original image pixels (``pred.keypoints``, in place).

    Returns ``(N, 4)`` xyxy boxes (the head's own ``bboxes``, else each keypoint extent) and ``(N,)``
    scores (``instance_scores``, else the mean keypoint score).
    """
    pred.keypoints = input_to_image(pred.keypoints[..., :2], sample)
    kpts = pred.keypoints
    if pred.bboxes is not None:
        bboxes = input_to_image(pred.bboxes.reshape(-1, 2, 2), sample).reshape(-1, 4).astype(np.float32)
    elif len(kpts):
        bboxes = np.concatenate([kpts.min(axis=1), kpts.max(axis=1)], axis=1).astype(np.float32)
    else:
        bboxes = np.zeros((0, 4), np.float32)
    scores = pred.instance_scores
    if scores is None:
        scores = pred.keypoint_scores.mean(axis=1) if len(kpts) else np.zeros(0, np.float32)
    return bboxes, scores


def to_result(pred: InstanceData, sample: PoseSample, bboxes: np.ndarray, bbox_scores: np.ndarray) -> PoseResult:
    """Wrap a decoded sample into a :class:`PoseResult` (visibility defaults to the scores)."""
    return PoseResult(
        keypoints=pred.keypoints,
        keypoint_scores=pred.keypoint_scores,
        bboxes=bboxes,
        bbox_scores=bbox_scores,
        sample=sample,
        keypoints_visible=pred.keypoints_visible if pred.keypoints_visible is not None else pred.keypoint_scores,
        heatmaps=pred.heatmaps,
        extra=pred.extra,
    )
