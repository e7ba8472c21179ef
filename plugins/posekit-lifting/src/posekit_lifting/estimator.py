"""PoseLifter: 2D keypoint sequences in, 3D keypoints out (root restored by the codec).

Optionally with VideoPose3D's trajectory model (``traj_backbone`` / ``traj_neck`` / ``traj_head``,
which shares the pose backbone when ``traj_backbone`` is None) and its semi-supervision
(``semi_loss``: projection and bone-length losses, Pavllo et al. 2019).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor

from posekit.errors import ConfigError, DataError
from posekit.estimators.base import PoseEstimator, to_result
from posekit.nn import PretrainedInit, load_pretrained
from posekit.protocols.serving import Serving
from posekit.registry import build
from posekit.structures import PoseBatch, PoseResult, PoseSample, TestCfg, TrainCfg
from posekit.types import BackboneConfig, DataPreprocessorConfig, HeadConfig, LossConfig, NeckConfig


def _intrinsics(sample: PoseSample, where: str) -> np.ndarray:
    """``(9,)`` or ``(4,)`` pixel intrinsics ``f, c[, k, p]`` of the sample's camera."""
    cam = sample.camera_param
    if cam is None or "f" not in cam or "c" not in cam:
        raise DataError(f"{where}: semi_loss needs sample.camera_param with 'f' and 'c' (sample id {sample.id})")
    parts = [cam["f"], cam["c"]] + ([cam["k"], cam["p"]] if "k" in cam and "p" in cam else [])
    return np.concatenate([np.asarray(p, np.float32).reshape(-1) for p in parts])


def _target_frame_2d(sample: PoseSample) -> np.ndarray:
    """The 2D keypoints ``(K, 2)`` (image pixels) of the sample's target frame."""
    frames = sample.extra.get("img_ids")
    index = int(np.flatnonzero(np.asarray(frames) == sample.img_id)[0]) if frames is not None else -1
    return np.asarray(sample.keypoints, np.float32)[index, :, :2]


class PoseLifter(PoseEstimator):
    """2D-to-3D lifting paradigm (VideoPose3D, SimpleBaseline3D, MotionBERT).

    ``inputs`` are ``(B, K*2, T)`` encoded 2D sequences (TCN) or ``(B, T, K, C)`` (DSTFormer). The
    head's decoder restores the root and de-normalises; ``predict`` returns one :class:`PoseResult`
    per sample. It is served 2D keypoint sequences (``"keypoints"`` requests,
    :class:`~posekit_lifting.serving.LiftingServing`).

    Args:
        backbone: the pose backbone's config.
        head: the pose head's config.
        neck: the pose neck's config, or None.
        traj_backbone: the trajectory backbone's config; None with a ``traj_head``: share the pose backbone.
        traj_neck: the trajectory neck's config, or None.
        traj_head: the trajectory head's config (``TrajectoryRegressionHead``), or None: no trajectory model.
        semi_loss: ``SemiSupervisionLoss`` config: projection of pose + trajectory onto the target frame's
            2D keypoints (through ``sample.camera_param``) and agreement of the predicted bone lengths with
            the batch's 3D targets' (``lifting_target_label``); None: supervised only.
        train_cfg: training switches passed to the heads' ``loss``.
        test_cfg: test switches; ``flip_test`` mirrors ``(B, T, K, C)`` inputs (x -> -x, sides swapped).
        data_preprocessor: the data preprocessor's config (default: none).
        metainfo: keypoint definition name or file.
        init_cfg: ``{"type": "Pretrained", "checkpoint": ...}``: the whole lifter's weights (MotionBERT's
            fine-tuning configs); None: as built.
    """

    #: an example (for ``posekit plugins --check``), built from plugins' components
    example_config = {
        "backbone": {"type": "TCN", "in_channels": 34, "stem_channels": 32},
        "head": {"type": "TemporalRegressionHead", "in_channels": 32, "num_joints": 17},
    }

    def __init__(
        self,
        backbone: BackboneConfig,
        head: HeadConfig | None = None,
        neck: NeckConfig | None = None,
        traj_backbone: BackboneConfig | None = None,
        traj_neck: NeckConfig | None = None,
        traj_head: HeadConfig | None = None,
        semi_loss: LossConfig | None = None,
        train_cfg: TrainCfg | None = None,
        test_cfg: TestCfg | None = None,
        data_preprocessor: DataPreprocessorConfig | None = None,
        metainfo: str | dict[str, str] | None = None,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        super().__init__(backbone, head, neck, train_cfg, test_cfg, data_preprocessor, metainfo)
        if traj_head is None and (traj_backbone is not None or traj_neck is not None):
            raise ConfigError("PoseLifter: traj_backbone / traj_neck need a traj_head")
        if traj_head is not None:
            if traj_backbone is not None:
                self.traj_backbone = build("backbone", traj_backbone, where="traj_backbone")
            if traj_neck is not None:
                self.traj_neck = build("neck", traj_neck, where="traj_neck")
            self.traj_head = build("head", traj_head, where="traj_head")
        if semi_loss is not None:
            if head is None or traj_head is None:
                raise ConfigError("PoseLifter: semi_loss needs both a head and a traj_head")
            self.semi_loss = build("loss", semi_loss, where="semi_loss")
        if init_cfg is not None:
            load_pretrained(self, init_cfg)

    def serving(self) -> Serving:
        from posekit_lifting.serving import LiftingServing

        return LiftingServing(self)

    @property
    def with_traj(self) -> bool:
        return hasattr(self, "traj_head")

    def _traj_feats(self, inputs: Tensor, feats: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        traj = self.traj_backbone(inputs) if hasattr(self, "traj_backbone") else feats
        return self.traj_neck(traj) if hasattr(self, "traj_neck") else traj

    def _forward(self, inputs: Tensor) -> Any:
        """The pose head's output, paired with the trajectory head's ``(B, 1, 3)`` with a trajectory model."""
        feats = self.extract_feat(inputs)
        pose = self.head.forward(feats) if self.with_head else feats
        return (pose, self.traj_head.forward(self._traj_feats(inputs, feats))) if self.with_traj else pose

    def loss(self, inputs: Tensor, batch: PoseBatch) -> dict[str, Tensor]:
        feats = self.extract_feat(inputs)
        losses: dict[str, Tensor] = {}
        if self.with_traj:
            traj_feats = self._traj_feats(inputs, feats)
            losses.update(self.traj_head.loss(traj_feats, batch, self.train_cfg))
        if self.with_head:
            losses.update(self.head.loss(feats, batch, self.train_cfg))
        if hasattr(self, "semi_loss"):
            pose, traj = self.head.forward(feats), self.traj_head.forward(traj_feats)
            where = "PoseLifter.semi_loss"
            target = {
                "unlabeled_target_2d": pose.new_tensor(np.stack([_target_frame_2d(s) for s in batch.samples])),
                "intrinsics": pose.new_tensor(np.stack([_intrinsics(s, where) for s in batch.samples])),
            }
            labeled = batch.instance_targets("lifting_target_label", like=pose)  # bone lengths to agree with
            if labeled.shape != pose.shape:
                raise DataError(
                    f"{where}: targets['lifting_target_label'] {tuple(labeled.shape)} must match the pose head's "
                    f"output {tuple(pose.shape)}"
                )
            output = {"labeled_pose": labeled, "unlabeled_pose": pose, "unlabeled_traj": traj}
            losses.update({f"semi_{k}": v for k, v in self.semi_loss(output, target).items()})
        return losses

    def _flipped(self, inputs: Tensor, batch: PoseBatch) -> Tensor:
        """``inputs (B, T, K, C)`` mirrored as MMPose's lifting flip test: x -> 1 - x (- 1 with ``shift_coords``)."""
        from posekit_lifting.motion_regression_head import flip_coordinates

        if inputs.ndim != 4:
            raise ConfigError(
                f"PoseLifter: test_cfg.flip_test needs (B, T, K, C) keypoint inputs, got {tuple(inputs.shape)}"
            )
        if not batch.samples[0].flip_indices:
            raise DataError("PoseLifter: test_cfg.flip_test needs sample.flip_indices (from the keypoint definition)")
        return flip_coordinates(inputs, batch.samples[0].flip_indices, self.test_cfg.shift_coords)

    def predict(self, inputs: Tensor, batch: PoseBatch) -> list[PoseResult]:
        feats: Any = self.extract_feat(inputs)
        if self.test_cfg.flip_test:
            feats = (feats, self.extract_feat(self._flipped(inputs, batch)))
        preds = self.head.predict(feats, batch, self.test_cfg)
        results = []
        for pred, sample in zip(preds, batch.samples, strict=True):
            n = len(pred.keypoints)
            results.append(to_result(self._select(pred), sample, np.zeros((n, 4), np.float32), np.ones(n, np.float32)))
        return results
