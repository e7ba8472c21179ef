"""TemporalRegressionHead: 3D keypoints from temporal features (VideoPose3D's pose head).

Dimensions: B samples, C feature channels, T' feature frames (1 for a receptive-field-long
input), K keypoints. The head is a 1x1 Conv1d to ``K * 3`` channels (key ``conv``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from posekit.protocols import BaseHead
from posekit.registry import build
from posekit.structures import InstanceData, PoseBatch, TestCfg, TrainCfg
from posekit.types import CodecConfig, LossConfig


class TemporalRegressionHead(BaseHead):
    """Regress root-relative 3D keypoints from the last temporal feature (MMPose's ``TemporalRegressionHead``).

    Args:
        in_channels: channels of the last feature map ``(B, C, T')``.
        num_joints: K.
        loss: loss config built through the registry. Default ``MPJPELoss(use_target_weight=True)``
            (MMPose's default ``MSELoss`` is not a posekit component).
        decoder: the lifting codec used by ``predict`` to restore the root; None: no decoding.
    """

    #: a small working instance (``posekit plugins --check``); its inputs come from :meth:`example_inputs`
    example_config: ClassVar[dict[str, Any]] = {
        "in_channels": 8,
        "num_joints": 17,
        "decoder": {"type": "VideoPoseLifting", "num_keypoints": 17},
    }

    @classmethod
    def example_inputs(cls, num_joints: int = 17, batch_size: int = 2) -> dict[str, Any]:
        """Features ``(8, 1)`` and a batch of random 3D targets ``(B, 1, K, 3)`` with their roots."""
        import numpy as np

        from posekit.structures import PoseSample

        rng = np.random.default_rng(0)
        samples = [PoseSample(img_id=i) for i in range(batch_size)]
        for s in samples:
            s.target_root = rng.random((1, 3)).astype(np.float32)
        targets = {
            "lifting_target_label": torch.from_numpy(rng.random((batch_size, 1, num_joints, 3)).astype(np.float32)),
            "lifting_target_weight": torch.ones(batch_size, 1, num_joints),
            "trajectory_weights": torch.ones(batch_size, 1, num_joints),
        }
        batch = PoseBatch(inputs=torch.zeros(batch_size, 2 * num_joints, 27), targets=targets, samples=samples)
        return {"feat_shapes": [(8, 1)], "batch": batch}

    _version = 2
    label_key: ClassVar[str] = "lifting_target_label"
    weight_key: ClassVar[str] = "lifting_target_weight"
    loss_name: ClassVar[str] = "loss_pose3d"
    acc_name: ClassVar[str] = "mpjpe"

    def __init__(
        self,
        in_channels: int,
        num_joints: int,
        loss: LossConfig | None = None,
        decoder: CodecConfig | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_joints = num_joints
        self.loss_module = build("loss", loss or {"type": "MPJPELoss", "use_target_weight": True}, where="loss")
        self.decoder = build("codec", decoder, where="decoder") if decoder is not None else None
        self.conv = nn.Conv1d(in_channels, num_joints * 3, 1)

    def forward(self, feats: tuple[Tensor, ...]) -> Tensor:
        """``feats[-1] (B, C, T')`` -> coordinates ``(B * T', K, 3)`` (MMPose's reshape; T' = 1 gives ``(B, K, 3)``)."""
        return self.conv(feats[-1]).reshape(-1, self.num_joints, 3)

    def loss(self, feats: tuple[Tensor, ...], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        """Loss against ``batch.targets[label_key] (B, T, K, 3)`` weighted by ``[weight_key] (B, T, K)``.

        Returns:
            the loss under ``loss_name`` and the MPJPE over keypoints with weight > 0 under ``acc_name``
            (target units, no gradient).
        """
        pred = self.forward(feats)
        label, weight = self._targets(batch, pred)
        if label.shape != pred.shape or weight.shape != pred.shape[:2]:
            raise ValueError(
                f"batch.targets[{self.label_key!r}] / [{self.weight_key!r}]: expected shapes {tuple(pred.shape)} / "
                f"{tuple(pred.shape[:2])} (the head's output), got {tuple(label.shape)} / {tuple(weight.shape)}"
            )
        loss = self.loss_module(pred, label, weight.unsqueeze(-1))
        with torch.no_grad():
            valid = weight > 0
            err = (pred - label).norm(dim=-1)[valid]
            acc = err.mean() if err.numel() else pred.new_zeros(())
        return {self.loss_name: loss, self.acc_name: acc}

    def _targets(self, batch: PoseBatch, pred: Tensor) -> tuple[Tensor, Tensor]:
        """``(label (B * T, K, 3), weight (B * T, K))`` from ``batch.targets[label_key]`` and ``[weight_key]``."""
        return batch.instance_targets(self.label_key, pred), batch.instance_targets(self.weight_key, pred)

    def predict(self, feats: Any, batch: PoseBatch, test_cfg: TestCfg) -> list[InstanceData]:
        """Decode each sample's 3D keypoints, adding back its ``sample.target_root`` when known.

        A ``(feats, flipped_feats)`` pair (``flip_test``) uses the first: lifting heads have no flip test.

        Returns:
            one :class:`InstanceData` per sample: ``keypoints (1, K, 3)``, ``keypoint_scores (1, K)``.
        """
        if self.decoder is None:
            raise RuntimeError(f"{type(self).__name__}.predict needs a decoder: set the head's `decoder` config")
        if test_cfg.flip_test and isinstance(feats[0], (tuple, list)):
            feats = feats[0]
        coords = self.forward(feats).detach().cpu().float().numpy()
        if len(coords) != len(batch.samples):
            raise ValueError(f"{type(self).__name__}: {len(coords)} predictions for {len(batch.samples)} samples")
        preds = []
        for i, sample in enumerate(batch.samples):
            keypoints, scores = self.decoder.decode(coords[i : i + 1], sample.target_root)
            preds.append(InstanceData(keypoints=keypoints, keypoint_scores=scores))
        return preds
